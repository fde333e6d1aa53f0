package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// Pod phases.
const (
	PhasePending  = "Pending"
	PhaseReady    = "Ready"
	PhaseRejected = "Rejected"
)

// HostNetworkPods is how many pods every node runs without a VPC address
// (kube-proxy and aws-node); they count against maxPods as on EKS.
const HostNetworkPods = 2

// PodNamespace is the Kubernetes namespace of every lab pod.
const PodNamespace = "default"

// PodStatus is one pod as the kubelet sees it.
type PodStatus struct {
	Name         string // "<node>/pod-<n>"
	Phase        string // Pending | Ready | Rejected
	IP           netip.Addr
	ReadyLatency time.Duration // lab time from creation to ready
	NetNS        string        // path; empty for a rejected pod
	Created      time.Time     // lab time the pod was created
	// K8sName is the pod name the plugin and ipamd see ("pod-<n>").
	K8sName     string
	ContainerID string
	Attempts    int
	// Message says why a pod is rejected or still pending (last ADD error).
	Message string
	// ENI, Device and Subnet place the pod's address: the ENI ipamd
	// assigned it on, its device number and the ENI's subnet ("", -1, ""
	// while the pod has no address or ipamd is down).
	ENI    string
	Device int
	Subnet string
}

type pod struct {
	node *Node
	// num numbers a pod added by AddPods (0 for a named pod); seq orders
	// every pod of the node by creation.
	num     int
	seq     int
	name    string
	k8sName string
	nsName  string
	nsPath  string
	created time.Time
	// rejected is fixed at admission.
	rejected bool

	cancel context.CancelFunc
	done   chan struct{}

	// hostNetwork pods share the node's namespace: no CNI call, no
	// address of their own; deployment is the owner's name, if any.
	hostNetwork bool
	deployment  string
	labels      map[string]string

	mu       sync.Mutex
	phase    string
	ip       netip.Addr
	latency  time.Duration
	attempts int
	message  string
	cid      string
}

func (p *pod) status() PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PodStatus{Name: p.name, Phase: p.phase, IP: p.ip, ReadyLatency: p.latency, NetNS: p.nsPath, Created: p.created,
		K8sName: p.k8sName, ContainerID: p.cid, Attempts: p.attempts, Message: p.message}
}

// stop cancels the pod's runner and waits for it.
func (p *pod) stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

func (p *pod) netns() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nsPath
}

// removeNS deletes the pod's namespace; call it after stop.
func (p *pod) removeNS() error {
	if p.netns() == "" {
		return nil
	}
	return nsutil.DeleteNamed(p.nsName)
}

// AddPods creates count pods. Pods beyond maxPods − 2 (the two host-network
// pods count) are Rejected at once; the others go Pending while the
// kubelet-like runner calls ADD, retrying with backoff until it succeeds.
// It returns once the pods exist, not once they are ready.
func (n *Node) AddPods(ctx context.Context, count int) error {
	if count < 0 {
		return fmt.Errorf("node: %s: add %d pods: count must not be negative", n.name, count)
	}
	for i := 0; i < count; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := n.admit(PodSpec{}); err != nil {
			return err
		}
	}
	return nil
}

// admit creates one pod: spec.Name "" numbers it pod-<n>. A pod beyond
// max pods is Rejected (OutOfpods); a host-network pod is Ready at once
// with no CNI call; any other goes Pending under its runner.
func (n *Node) admit(spec PodSpec) (*pod, error) {
	limit := n.MaxPods() - HostNetworkPods
	n.mu.Lock()
	// Checked under n.mu: close cancels n.ctx before it takes n.mu to
	// collect the pods it stops, so a pod admitted here is always among
	// them and its namespace is removed with the node.
	if err := n.ctx.Err(); err != nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("node: %s: add pods: %w", n.name, err)
	}
	// num names numbered pods (pod-<num>) among themselves, so a pods
	// step's numbering ignores deployment pods; seq orders every pod.
	num, seq, active := 1, 1, 0
	for _, p := range n.pods {
		if p.num >= num {
			num = p.num + 1
		}
		seq = max(seq, p.seq+1)
		if !p.rejected {
			active++
		}
		if spec.Name != "" && p.k8sName == spec.Name {
			n.mu.Unlock()
			return nil, fmt.Errorf("node: %s: pod %q already exists", n.name, spec.Name)
		}
	}
	k8sName := spec.Name
	if k8sName == "" {
		k8sName = datapath.PodK8sName(num)
	} else {
		num = 0
	}
	p := &pod{
		node:        n,
		num:         num,
		seq:         seq,
		name:        n.name + "/" + k8sName,
		k8sName:     k8sName,
		nsName:      n.lab.cfg.Prefix + "-" + n.name + "-" + k8sName,
		created:     n.lab.clock.Now(),
		phase:       PhasePending,
		hostNetwork: spec.HostNetwork,
		deployment:  spec.Deployment,
		labels:      cloneLabels(spec.Labels),
	}
	switch {
	case active >= limit:
		p.rejected = true
		p.phase = PhaseRejected
		p.message = fmt.Sprintf("OutOfpods: node %s runs %d pods with addresses, its maxPods %d allows %d besides %d host-network pods",
			n.name, active, limit+HostNetworkPods, limit, HostNetworkPods)
	case spec.HostNetwork:
		p.phase, p.ip = PhaseReady, n.primaryIP()
	default:
		// The runner owns the pod from here on, namespace included, so
		// a concurrent close or delete always finds it stoppable.
		pctx, cancel := context.WithCancel(n.ctx)
		p.cancel, p.done = cancel, make(chan struct{})
		go p.run(pctx)
	}
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	if p.rejected {
		n.log.Info("pod rejected", "pod", p.name, "reason", p.message)
	}
	return p, nil
}

func (n *Node) removePod(p *pod) {
	if i := slices.Index(n.pods, p); i >= 0 {
		n.pods = slices.Delete(n.pods, i, i+1)
	}
}

func (n *Node) createPodNS(p *pod) error {
	path, err := nsutil.NewNamed(p.nsName)
	if err != nil {
		return fmt.Errorf("node: pod %s: %w", p.name, err)
	}
	p.mu.Lock()
	p.nsPath = path
	p.mu.Unlock()
	h, err := nsutil.Handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("node: pod %s: lo up: %w", p.name, err)
	}
	return nil
}

// run is the kubelet's sandbox loop for one pod: ADD; on failure tear the
// sandbox's network down (DEL) and retry after a doubling backoff.
func (p *pod) run(ctx context.Context) {
	defer close(p.done)
	n := p.node
	backoff := n.lab.cfg.PodBackoff
	for !n.fleet() && p.netns() == "" {
		err := n.createPodNS(p)
		if err == nil {
			break
		}
		p.mu.Lock()
		p.message = err.Error()
		p.mu.Unlock()
		if clock.Sleep(ctx, n.lab.clock, backoff) != nil {
			return
		}
	}
	if n.awaitPodENI(ctx, p) {
		return
	}
	for attempt := 1; ; attempt++ {
		select {
		case n.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		cid := n.containerID(p, attempt)
		p.mu.Lock()
		p.cid, p.attempts = cid, attempt
		p.mu.Unlock()
		ip, err := n.podAdd(ctx, p, cid)
		<-n.sem
		if err == nil {
			p.mu.Lock()
			p.phase, p.ip, p.message = PhaseReady, ip, ""
			p.latency = clock.Since(n.lab.clock, p.created)
			p.mu.Unlock()
			n.log.Debug("pod ready", "pod", p.name, "ip", ip, "attempts", attempt)
			return
		}
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.message = n.sandboxFailure(err)
		p.mu.Unlock()
		n.log.Debug("pod ADD failed", "pod", p.name, "attempt", attempt, "err", err)
		if derr := n.podDel(ctx, p, cid); derr != nil && ctx.Err() == nil {
			n.log.Debug("pod DEL after failed ADD", "pod", p.name, "err", derr)
		}
		if clock.Sleep(ctx, n.lab.clock, backoff) != nil {
			return
		}
		backoff = min(backoff*2, n.lab.cfg.PodBackoffMax)
	}
}

// DeletePods deletes the newest count pods AddPods made (highest numbers
// first); a deployment's pods are left to their controller.
func (n *Node) DeletePods(ctx context.Context, count int) error {
	if count < 0 {
		return fmt.Errorf("node: %s: delete %d pods: count must not be negative", n.name, count)
	}
	// A deployment's pods are its controller's, not a pods step's.
	pods := slices.DeleteFunc(n.Pods(), func(st PodStatus) bool { return n.PodDeployment(st.Name) != "" })
	if count > len(pods) {
		return fmt.Errorf("node: %s: delete %d pods: only %d exist", n.name, count, len(pods))
	}
	var errs []error
	for i := len(pods) - 1; i >= len(pods)-count; i-- {
		errs = append(errs, n.DeletePod(ctx, pods[i].Name))
	}
	return errors.Join(errs...)
}

// DeletePod deletes one pod: stops its runner, DELs its network (retrying
// while ipamd is unreachable, as the kubelet does), removes its namespace.
func (n *Node) DeletePod(ctx context.Context, name string) error {
	p := n.findPod(name)
	if p == nil {
		return fmt.Errorf("node: %s: no pod %q", n.name, name)
	}
	p.stop()
	var errs []error
	if st := p.status(); st.ContainerID != "" {
		var err error
		backoff := n.lab.cfg.PodBackoff
		for try := 0; try < 5; try++ {
			if err = n.podDel(ctx, p, st.ContainerID); err == nil || ctx.Err() != nil {
				break
			}
			if clock.Sleep(ctx, n.lab.clock, backoff) != nil {
				break
			}
			backoff = min(backoff*2, n.lab.cfg.PodBackoffMax)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node: pod %s: DEL: %w", name, err))
		}
	}
	errs = append(errs, p.removeNS(), n.releasePodENI(ctx, p))
	n.mu.Lock()
	n.removePod(p)
	n.mu.Unlock()
	return errors.Join(errs...)
}

// CheckPod runs the plugin's CHECK for a ready pod; the error names what
// is missing or wrong.
func (n *Node) CheckPod(ctx context.Context, name string) error {
	st, ok := n.Pod(name)
	if !ok {
		return fmt.Errorf("node: %s: no pod %q", n.name, name)
	}
	if st.Phase != PhaseReady {
		return fmt.Errorf("node: pod %s is %s, not Ready", name, st.Phase)
	}
	p := n.findPod(name)
	if p == nil {
		return fmt.Errorf("node: %s: no pod %q", n.name, name)
	}
	if err := n.podCheck(ctx, p, st.ContainerID); err != nil {
		return fmt.Errorf("node: pod %s: CHECK: %w", name, err)
	}
	return nil
}

// findPod returns the pod called name ("<node>/pod-<n>"), or nil.
func (n *Node) findPod(name string) *pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pods {
		if p.name == name {
			return p
		}
	}
	return nil
}

// sandboxFailure is a failed ADD as the kubelet's event names it
// (FailedCreatePodSandBox), with ipamd's last warning or error as the
// cause when it is recent: on a node the operator reads that in ipamd.log.
func (n *Node) sandboxFailure(err error) string {
	msg := "FailedCreatePodSandBox: " + err.Error()
	if c := n.lastCause(2 * causeRepeat); c != "" {
		msg += " (ipamd: " + c + ")"
	}
	return msg
}

// Pods returns every pod, oldest first.
func (n *Node) Pods() []PodStatus {
	n.mu.Lock()
	pods := slices.Clone(n.pods)
	n.mu.Unlock()
	slices.SortFunc(pods, func(a, b *pod) int { return cmp.Compare(a.seq, b.seq) })
	placed := n.placements()
	out := make([]PodStatus, len(pods))
	for i, p := range pods {
		out[i] = p.status()
		out[i].Device = -1
		if pl, ok := placed[out[i].IP]; ok && out[i].IP.IsValid() {
			out[i].ENI, out[i].Device, out[i].Subnet = pl.ENI, pl.Device, pl.Subnet
		}
	}
	return out
}

// placement is where ipamd put an address: its ENI, device and subnet.
type placement struct {
	ENI    string
	Device int
	Subnet string
}

// placements maps each address ipamd has assigned to its placement; empty
// while ipamd is down.
func (n *Node) placements() map[netip.Addr]placement {
	d := n.IPAMD()
	if d == nil {
		return nil
	}
	out := map[netip.Addr]placement{}
	subnets := map[string]string{}
	for _, a := range d.Assignments() {
		sub, ok := subnets[a.ENIID]
		if !ok {
			if e, found := n.lab.ec2.ENI(a.ENIID); found {
				sub = e.SubnetID
			}
			subnets[a.ENIID] = sub
		}
		out[a.IP] = placement{ENI: a.ENIID, Device: a.DeviceNumber, Subnet: sub}
	}
	return out
}

// Pod returns one pod by its "<node>/pod-<n>" name.
func (n *Node) Pod(name string) (PodStatus, bool) {
	for _, p := range n.Pods() {
		if p.Name == name {
			return p, true
		}
	}
	return PodStatus{}, false
}
