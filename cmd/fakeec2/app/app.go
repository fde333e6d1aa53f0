// Package app is the fakeec2 command: flags, wiring of the EC2 fake with its
// chaos layer, and the HTTP server's lifetime.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/fakeec2/chaos"
)

type options struct {
	listen, region, account string
	seed                    int64
	throttle                string
	trace, replay, faults   string
	imdsLag, describeLag    time.Duration
	pending, shutdown       time.Duration
}

const usage = `usage: fakeec2 [flags]

Serves a fake EC2 Query API (API version 2016-11-15) that enforces instance
ENI/IP limits, subnet exhaustion and /28 prefix rules. Create VPCs, subnets
and instances through the API itself (CreateVpc, CreateSubnet, RunInstances).

  EC2     POST / (any path outside /imds/ and /admin/)
  IMDSv2  /imds/<instance-id>/latest/...
  admin   /admin/faults, /admin/counters, /admin/trace

Flags:
`

// Run parses args, serves until ctx is done, then shuts down cleanly. The
// first line on stdout is "fakeec2 listening on http://ADDR".
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeec2", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on (loopback by default; port 0 picks one)")
	fs.StringVar(&o.region, "region", "us-west-2", "region the fake reports")
	fs.StringVar(&o.account, "account", "123456789012", "12-digit account id the fake reports")
	fs.Int64Var(&o.seed, "seed", 0, "seed for ids, MACs, address choice and faults (same seed + same calls = same run)")
	fs.StringVar(&o.throttle, "throttle", "aws", "throttling: aws (EC2's token buckets), none, or custom buckets as Action=capacity/refill,... (unlisted actions keep EC2's)")
	fs.StringVar(&o.trace, "trace", "", "write a JSON Lines trace of every request to `FILE`")
	fs.StringVar(&o.replay, "replay", "", "re-inject the faults recorded in trace `FILE`")
	fs.StringVar(&o.faults, "faults", "", "load fault rules (YAML or JSON) from `FILE`")
	fs.DurationVar(&o.imdsLag, "imds-lag", 0, "delay before an attach/assign shows in IMDS")
	fs.DurationVar(&o.describeLag, "describe-lag", 0, "delay before an attach/assign shows in DescribeNetworkInterfaces")
	fs.DurationVar(&o.pending, "pending", 0, "how long a launched instance stays pending (0 = 500ms, negative = none)")
	fs.DurationVar(&o.shutdown, "shutting-down", 0, "how long a terminated instance stays shutting-down (0 = 500ms, negative = none)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return serve(ctx, o, stdout)
}

// maxTraceInMemory bounds the trace records kept for GET /admin/trace.
const maxTraceInMemory = 10000

func (o options) chaosConfig() (cfg chaos.Config, closeTrace func() error, err error) {
	cfg.Seed = o.seed
	// A standalone server runs for as long as its user likes: the admin
	// API serves the newest records only (--trace writes every one).
	cfg.TraceLimit = maxTraceInMemory
	closeTrace = func() error { return nil }
	var problems []error
	th, err := chaos.ParseThrottle(o.throttle)
	if err != nil {
		problems = append(problems, fmt.Errorf("--throttle: %w", err))
	}
	cfg.Throttle = th
	if o.faults != "" {
		rules, err := chaos.LoadFaultsFile(o.faults)
		if err != nil {
			problems = append(problems, fmt.Errorf("--faults: %w", err))
		}
		cfg.Faults = rules
	}
	if o.replay != "" {
		recs, err := chaos.LoadTraceFile(o.replay)
		if err != nil {
			problems = append(problems, fmt.Errorf("--replay: %w", err))
		}
		cfg.Replay = recs
	}
	if len(problems) > 0 {
		return cfg, closeTrace, errors.Join(problems...)
	}
	if o.trace != "" {
		f, err := os.Create(o.trace)
		if err != nil {
			return cfg, closeTrace, fmt.Errorf("--trace: %w", err)
		}
		cfg.Trace = f
		closeTrace = f.Close
	}
	return cfg, closeTrace, nil
}

func serve(ctx context.Context, o options, stdout io.Writer) (err error) {
	ccfg, closeTrace, err := o.chaosConfig()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeTrace(); cerr != nil && err == nil {
			err = fmt.Errorf("closing trace: %w", cerr)
		}
	}()
	ctl, err := chaos.New(ccfg)
	if err != nil {
		return err
	}
	srv, err := fakeec2.New(fakeec2.Config{
		Region: o.region, AccountID: o.account, Seed: o.seed, Interceptor: ctl,
		IMDSLag: o.imdsLag, DescribeLag: o.describeLag, InstancePending: o.pending, InstanceShutdown: o.shutdown,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", ctl.AdminHandler())
	mux.Handle("/imds/", imdsRouter(srv))
	mux.Handle("/", srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "fakeec2 listening on %s (region %s, seed %d, throttle %s)\n", url, o.region, o.seed, ccfg.Throttle)
	fmt.Fprintf(stdout, "  aws --endpoint-url %s ec2 ...\n  IMDS of an instance: %s/imds/<instance-id>/latest/meta-data/\n  admin: %s/admin/\n", url, url, url)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc
	if err := ctl.TraceErr(); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	fmt.Fprintln(stdout, "fakeec2 stopped")
	return nil
}

// imdsRouter serves /imds/<instance-id>/... from that instance's IMDS.
func imdsRouter(srv *fakeec2.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/imds/")
		id, path, _ := strings.Cut(rest, "/")
		if id == "" {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + path
		r2.URL.RawPath = ""
		srv.IMDS(id).ServeHTTP(w, r2)
	})
}
