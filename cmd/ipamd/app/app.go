// Package app is the ipamd command: flags and environment in, a running
// ipamd.Daemon until the context ends (SIGTERM in cmd/ipamd).
package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd"
	"github.com/enilab/enilab/ipamd/config"
)

// Run parses args (without the program name), reads the upstream
// environment variables, and runs ipamd until ctx is done.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, args, os.LookupEnv, stdout, stderr, nil)
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer, started func(*ipamd.Daemon)) error {
	env := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("ipamd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", ipamd.DefaultSocketPath, "unix socket the CNI plugin connects to")
	checkpoint := fs.String("checkpoint", env("AWS_VPC_K8S_CNI_BACKING_STORE", ipamd.DefaultCheckpointPath), "checkpoint file (env AWS_VPC_K8S_CNI_BACKING_STORE)")
	intro := fs.String("introspection", env("INTROSPECTION_BIND_ADDRESS", ipamd.DefaultIntrospectionAddr), `introspection address, or "off" (env INTROSPECTION_BIND_ADDRESS)`)
	metrics := fs.String("metrics", ipamd.DefaultMetricsAddr, `Prometheus address, or "off"`)
	netns := fs.String("netns", "", `network namespace path holding the ENI links; "" = this one, "none" = no node networking`)
	labels := fs.String("node-labels", "", "node labels, k=v,k=v (ENIConfig selection)")
	eniConfigs := fs.String("eni-configs", "", `JSON file with ENIConfigs: [{"name":…,"subnet":…,"securityGroups":[…]}]`)
	maxPods := fs.Int("max-pods", 0, "the node's max pods; 0 = computed from the instance type")
	ec2Endpoint := fs.String("ec2-endpoint", "", "EC2 endpoint URL; empty = the SDK's resolution (AWS_ENDPOINT_URL_EC2)")
	imdsEndpoint := fs.String("imds-endpoint", "", "IMDS endpoint URL; empty = the SDK's resolution (AWS_EC2_METADATA_SERVICE_ENDPOINT)")
	timeScale := fs.Float64("time-scale", 1, "enilab: a lab second lasts this many wall seconds (0.01: ipamd's periods run 100× faster); 1 = real time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *timeScale <= 0 || *timeScale > 1 {
		return fmt.Errorf("-time-scale %v: want a value in (0, 1]", *timeScale)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := config.FromEnv(lookup)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	// Upstream's switches for the two listeners; a value that is not a
	// boolean is reported rather than silently leaving them on.
	for _, sw := range []struct {
		name string
		addr *string
	}{{"DISABLE_INTROSPECTION", intro}, {"DISABLE_METRICS", metrics}} {
		v := env(sw.name, "false")
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a boolean (use true or false)", sw.name, v))
		} else if b {
			*sw.addr = ipamd.Off
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	opts := ipamd.Options{
		EC2Endpoint: *ec2Endpoint, IMDSEndpoint: *imdsEndpoint, SocketPath: *socket, CheckpointPath: *checkpoint,
		IntrospectionAddr: *intro, MetricsAddr: *metrics, NetNSPath: *netns, MaxPods: *maxPods,
	}
	if *timeScale != 1 {
		opts.Clock = clock.NewScaled(*timeScale, time.Now())
	}
	if opts.NodeLabels, err = parseLabels(*labels); err != nil {
		return err
	}
	if *eniConfigs != "" {
		b, err := os.ReadFile(*eniConfigs)
		if err != nil {
			return fmt.Errorf("-eni-configs: %w", err)
		}
		if err := json.Unmarshal(b, &opts.ENIConfigs); err != nil {
			return fmt.Errorf("-eni-configs %s: %w", *eniConfigs, err)
		}
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	d, err := ipamd.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ipamd serving on %s\n", d.SocketPath())
	if started != nil {
		started(d)
	}
	select {
	case <-ctx.Done():
		return d.Close()
	case err := <-d.Exited(): // upstream's _main returns 1 when its gRPC handler fails
		d.Close()
		return err
	}
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-node-labels: %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
