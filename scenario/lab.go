package scenario

import (
	"context"
	"io"

	"github.com/enilab/enilab/internal/clock"
)

// Lab is what Run drives: the real one (package scenario/nodelab) is made of
// network namespaces, fakeec2 and one ipamd per node; tests use a fake.
// Node and pod names are the scenario's.
type Lab interface {
	// Clock is the lab clock: within, sleep and the timeline's times are
	// read from it.
	Clock() clock.Clock
	AddNode(ctx context.Context, spec NodeSpec) error
	AddPods(ctx context.Context, node string, n int) error
	DeletePods(ctx context.Context, node string, n int) error
	RestartIPAMD(ctx context.Context, node string, env map[string]string) error
	// Ping returns nil when replies came back; to is a pod or Internet.
	Ping(ctx context.Context, from, to string) error
	// Curl connects from a pod or node to the internet host (to is
	// Internet) and returns the source address the host saw; an error
	// wrapping ErrNoAnswer when nothing answered.
	Curl(ctx context.Context, from, to string) (string, error)
	// BreakRule deletes the pod's from-IP policy rule
	// (datapath.FromPodRulePriority); FixRule puts it back.
	BreakRule(ctx context.Context, pod string) error
	FixRule(ctx context.Context, pod string) error
	// Checkpoint changes the node's ipamd checkpoint file (one of
	// CheckpointActions); ipamd reads it at its next start.
	Checkpoint(ctx context.Context, node, action string) error
	// AddFault starts an EC2 fault now (lab time) and returns its name.
	AddFault(f Fault) (string, error)
	// Snapshot reads every figure expects and the report need.
	Snapshot() Snapshot
	Close() error
}

// LabOptions are the run's choices that are not part of the scenario.
type LabOptions struct {
	// Prefix names every namespace and link of the lab ("" = the lab's
	// default, random).
	Prefix string
	// Trace receives the JSON Lines record of every EC2 request.
	Trace io.Writer
	// Replay is a trace whose faults are injected again at the same calls;
	// fault steps then add nothing of their own.
	Replay io.Reader
	// Log receives the lab's own logs (ipamd, node); nil discards them.
	Log io.Writer
}

// NewLabFunc builds a lab for a scenario.
type NewLabFunc func(ctx context.Context, sc *Scenario, opts LabOptions) (Lab, error)
