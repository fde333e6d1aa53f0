package scenario

import (
	"fmt"
	"strings"
)

// DeployStep creates a deployment or scales it by re-stating replicas; the
// lab's scheduler places its pods (kube-scheduler's node selector, max
// pods and least-allocated spread).
type DeployStep struct {
	Name         string
	Replicas     int
	NodeSelector map[string]string
	// HostNetwork pods take no address and no CNI call, but count against
	// max pods.
	HostNetwork bool
	// Labels are the pods' labels (SecurityGroupPolicies select by them).
	Labels map[string]string
}

// DeleteStep deletes one pod (by its name, web-3 or node-1/pod-3) or a
// whole deployment.
type DeleteStep struct {
	Pod        string
	Deployment string
	// GracePeriod0 is `gracePeriod: 0`: the sandbox goes without a CNI
	// DEL, so ipamd keeps the address.
	GracePeriod0 bool
}

// PodExpect is the `pod:` of an expect: the pod's state, and optionally the
// subnet of its address and a piece of its last event.
type PodExpect struct {
	Name string
	// State is one of PodStates; "" means any.
	State      string
	IPInSubnet string
	// Reason must appear in the pod's message (FailedScheduling,
	// FailedCreatePodSandBox…).
	Reason string
}

// Pod states an expect names, as kubectl shows them; Gone is a pod that
// no longer exists.
const (
	PodRunning  = "Running"
	PodPending  = "Pending"
	PodRejected = "Rejected"
	PodGone     = "Gone"
)

// PodStates lists the states a pod expect takes.
var PodStates = []string{PodRunning, PodPending, PodRejected, PodGone}

// labPhase maps the lab's phases to kubectl's.
func labPhase(phase string) string {
	if phase == "Ready" {
		return PodRunning
	}
	return phase
}

// Pod finds a pod by its lab name (node-1/pod-3) or Kubernetes name
// (web-3).
func (s Snapshot) Pod(name string) (PodState, bool) {
	for _, p := range s.Pods {
		if p.Name == name || strings.TrimPrefix(p.Name, p.Node+"/") == name {
			return p, true
		}
	}
	return PodState{}, false
}

// check returns the keys of the pod expect that do not hold.
func (e *PodExpect) check(s Snapshot) []Mismatch {
	p, found := s.Pod(e.Name)
	state := PodGone
	if found {
		state = labPhase(p.Phase)
	}
	var out []Mismatch
	if e.State != "" && state != e.State {
		out = append(out, Mismatch{Key: "pod " + e.Name, Text: fmt.Sprintf("want %s, got %s", e.State, describePod(p, state))})
	}
	if e.IPInSubnet != "" && (!found || p.Subnet != e.IPInSubnet) {
		out = append(out, Mismatch{Key: "pod " + e.Name + " ipInSubnet", Text: fmt.Sprintf("want an address in %s, got %s", e.IPInSubnet, describePod(p, state))})
	}
	if e.Reason != "" && (!found || !strings.Contains(p.Message, e.Reason)) {
		out = append(out, Mismatch{Key: "pod " + e.Name + " reason", Text: fmt.Sprintf("want a message with %q, got %s", e.Reason, describePod(p, state))})
	}
	return out
}

// describePod is the pod's state, address and message for a mismatch.
func describePod(p PodState, state string) string {
	out := state
	if p.IP != "" {
		out += " with " + p.IP
		if p.Subnet != "" {
			out += " in " + p.Subnet
		}
	}
	if p.Message != "" {
		out += " (" + p.Message + ")"
	}
	return out
}

// describeDeploy renders a deploy step for the timeline.
func (d *DeployStep) describe() string {
	out := fmt.Sprintf("deploy: %s, %d replicas", d.Name, d.Replicas)
	if len(d.NodeSelector) > 0 {
		out += ", nodeSelector " + envString(d.NodeSelector)
	}
	if d.HostNetwork {
		out += ", hostNetwork"
	}
	return out
}

// describe renders a delete step for the timeline.
func (d *DeleteStep) describe() string {
	out := "delete: pod " + d.Pod
	if d.Deployment != "" {
		out = "delete: deployment " + d.Deployment
	}
	if d.GracePeriod0 {
		out += ", grace period 0"
	}
	return out
}

// describe renders the pod expect compactly.
func (e *PodExpect) describe() string {
	out := "pod " + e.Name
	if e.State != "" {
		out += "=" + e.State
	}
	if e.IPInSubnet != "" {
		out += " ipInSubnet=" + e.IPInSubnet
	}
	if e.Reason != "" {
		out += fmt.Sprintf(" reason~%q", e.Reason)
	}
	return out
}

// words says what the pod expect checks, in a sentence.
func (e *PodExpect) words() string {
	out := "pod " + e.Name
	switch e.State {
	case "":
		out += " exists"
	case PodGone:
		out += " is gone"
	default:
		out += " is " + e.State
	}
	if e.IPInSubnet != "" {
		out += " with an address in " + e.IPInSubnet
	}
	if e.Reason != "" {
		out += fmt.Sprintf(", its last event saying %q", e.Reason)
	}
	return out
}
