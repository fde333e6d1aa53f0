package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"

	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/pool"
)

// startIPAMD configures the node's ipamd from the lab's and the spec's
// environment and starts it.
func (n *Node) startIPAMD(ctx context.Context) error {
	env := maps.Clone(n.lab.cfg.IPAMDEnv)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, n.spec.IPAMDEnv)
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return fmt.Errorf("node: %s: ipamd environment: %w", n.name, err)
	}
	labels := map[string]string{ZoneLabel: n.subnet.AZ}
	maps.Copy(labels, n.spec.Labels)
	// Under n.mu: a node that joins a running lab is read (MaxPods) while
	// it boots.
	n.mu.Lock()
	n.ipamdCfg = cfg
	n.mu.Unlock()
	awsCfg, err := awsConfig()
	if err != nil {
		return fmt.Errorf("node: %s: %w", n.name, err)
	}
	ec2URL := n.ec2URL
	if ec2URL == "" {
		ec2URL = n.lab.EC2URL() // a fleet node's
	}
	n.ipamdOpts = ipamd.Options{
		Clock:             n.lab.clock,
		EC2Endpoint:       ec2URL,
		IMDSEndpoint:      n.imdsURL,
		SocketPath:        filepath.Join(n.runDir, "ipamd.sock"),
		CheckpointPath:    filepath.Join(n.runDir, "ipam.json"),
		IntrospectionAddr: ipamd.DefaultIntrospectionAddr,
		MetricsAddr:       ipamd.DefaultMetricsAddr,
		Listen:            n.listenInNode,
		NetNSPath:         n.nsPath,
		NodeLabels:        labels,
		ENIConfigs:        n.lab.cfg.ENIConfigs,
		MaxPods:           n.spec.MaxPods,
		Logger:            n.ipamdLogger(),
		PodENI:            n.podENIAnnotation,
		AWSConfig:         &awsCfg,
	}
	if n.fleet() {
		// No node networking; aws-node's listeners would all be the
		// root namespace's 61678 and 61679.
		n.ipamdOpts.NetNSPath = ipamd.NoNetNS
		n.ipamdOpts.IntrospectionAddr, n.ipamdOpts.MetricsAddr = ipamd.Off, ipamd.Off
		n.ipamdOpts.Listen = nil
	}
	n.pluginSocket = n.ipamdOpts.SocketPath
	if wrap := n.lab.cfg.PluginIPAMDSocket; wrap != nil {
		n.pluginSocket = wrap(n.name, n.ipamdOpts.SocketPath)
	}
	return n.runIPAMD(ctx)
}

// ipamdLogger is ipamd's logger: the lab's log, and the node's ipamd.log
// (JSON lines at debug level, as aws-node's /host/var/log/aws-routed-eni/
// ipamd.log) while the node lives.
func (n *Node) ipamdLogger() *slog.Logger {
	lab := n.log.With("component", "ipamd")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ipamdLog == nil {
		f, err := os.OpenFile(n.IPAMDLogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			n.log.Warn("no ipamd.log for this node", "err", err)
			return lab
		}
		n.ipamdLog = f
	}
	file := slog.NewJSONHandler(n.ipamdLog, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(slog.NewMultiHandler(lab.Handler(), file, causeHandler{n: n}, eventHandler{n: n}))
}

// IPAMDLogPath is the node's ipamd.log, under the lab's directory.
func (n *Node) IPAMDLogPath() string { return filepath.Join(n.dir, "ipamd.log") }

// PluginLogPath is the node's plugin.log, where the CNI plugin writes a
// line per command (the conflist's pluginLogFile, as upstream ships it).
func (n *Node) PluginLogPath() string { return filepath.Join(n.dir, "plugin.log") }

// newIPAMD starts ipamd once; a failure is ipamd's own start-up error
// (what aws-node logs before exiting), for the caller to wrap.
func (n *Node) newIPAMD(ctx context.Context) error {
	// ctx bounds ipamd's start-up only (its life is its own until Close);
	// the node closing aborts a start-up too.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	n.mu.Lock() // a crash loop starts ipamd while SetIPAMDEnv may run
	cfg, opts := n.ipamdCfg, n.ipamdOpts
	n.mu.Unlock()
	d, err := ipamd.New(sctx, cfg, opts)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.ctx.Err(); err != nil {
		// The node closed while ipamd started: close has collected the
		// daemon it knew of already.
		_ = d.Close()
		return err
	}
	n.daemon = d
	pod := n.aws.pod
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := <-d.Exited(); err != nil {
			n.onExit(d, pod, err)
		}
	}()
	return nil
}

// SetIPAMDEnv merges env over the node's ipamd environment; the next
// RestartIPAMD runs with it (as a changed aws-node DaemonSet rolls out).
func (n *Node) SetIPAMDEnv(env map[string]string) error {
	merged := maps.Clone(n.lab.cfg.IPAMDEnv)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, n.spec.IPAMDEnv)
	maps.Copy(merged, env)
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := merged[k]; return v, ok })
	if err != nil {
		return fmt.Errorf("node: %s: ipamd environment: %w", n.name, err)
	}
	n.spec.IPAMDEnv = merged
	n.mu.Lock()
	n.ipamdCfg = cfg
	n.mu.Unlock()
	return nil
}

// RestartIPAMD kills ipamd and starts it again with the same checkpoint, as
// a DaemonSet pod restart does (a new aws-node pod: its restart count and
// back-off start over); pods keep running meanwhile. An ipamd that fails
// start-up is not an error here: it goes into CrashLoopBackOff (see
// runIPAMD).
func (n *Node) RestartIPAMD(ctx context.Context) error {
	if err := n.stopIPAMD(); err != nil {
		return err
	}
	return n.runIPAMD(ctx)
}

// stopIPAMD kills the aws-node pod's ipamd (its socket goes with it).
func (n *Node) stopIPAMD() error {
	n.mu.Lock()
	n.aws.pod++ // from here on, an exit of the old pod's ipamd starts no crash loop
	n.mu.Unlock()
	n.stopCrashLoop()
	n.mu.Lock()
	d := n.daemon
	n.daemon = nil
	if d != nil {
		n.lastStat = d.Status()
	}
	n.mu.Unlock()
	if d != nil {
		if err := d.Close(); err != nil {
			n.log.Warn("ipamd close", "err", err)
		}
	}
	if err := n.ctx.Err(); err != nil {
		return fmt.Errorf("node: %s: restart ipamd: %w", n.name, err)
	}
	return nil
}

// IPAMD returns the node's running ipamd (nil while it restarts).
func (n *Node) IPAMD() *ipamd.Daemon {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.daemon
}

// ipamdStatus is the running ipamd's status, else the last one seen before
// a restart, else zero (ipamd has not run yet).
func (n *Node) ipamdStatus() ipamd.Status {
	n.mu.Lock()
	d, st := n.daemon, n.lastStat
	n.mu.Unlock()
	if d != nil {
		return d.Status()
	}
	return st
}

// MaxPods is the kubelet's maxPods as ipamd has it: the spec's value, else
// DESIGN §3's formula. Before ipamd has ever run it is what ipamd will
// compute, from the same inputs.
func (n *Node) MaxPods() int {
	if m := n.ipamdStatus().MaxPods; m > 0 {
		return m
	}
	if n.spec.MaxPods > 0 {
		return n.spec.MaxPods
	}
	t, ok := ec2limits.Lookup(n.spec.InstanceType)
	if !ok {
		return 0
	}
	n.mu.Lock()
	cfg := n.ipamdCfg
	n.mu.Unlock()
	return pool.MaxPods(t.MaxENIs, t.IPv4PerENI, t.VCPUs, cfg.CustomNetworking, cfg.EnablePrefixDelegation)
}
