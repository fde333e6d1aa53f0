package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ec2api "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awshttp"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd/config"
)

// The VPC resource controller's part of security groups for pods, played
// by the lab (upstream it runs on the control plane, in
// amazon-vpc-resource-controller-k8s): on a node with ENABLE_POD_ENI=true
// whose instance type supports trunking it creates a trunk ENI and attaches
// it; each pod a SecurityGroupPolicy selects gets a branch ENI with the
// policy's groups, associated with the trunk under a VLAN id, and the pod
// annotation vpc.amazonaws.com/pod-eni that ipamd reads. It talks to
// fakeec2 over the EC2 Query API, as the controller talks to EC2.

// PodENIAnnotation is the pod annotation the resource controller writes.
const PodENIAnnotation = "vpc.amazonaws.com/pod-eni"

// PodENI is one element of the vpc.amazonaws.com/pod-eni annotation, as
// upstream ipamd parses it (rpc_handler.go PodENIData).
type PodENI struct {
	ENIID        string `json:"eniId"`
	IfAddress    string `json:"ifAddress"` // the branch ENI's MAC
	PrivateIP    string `json:"privateIp"`
	IPV6Addr     string `json:"ipv6Addr,omitempty"`
	VlanID       int    `json:"vlanID"`
	SubnetCIDR   string `json:"subnetCidr"`
	SubnetV6CIDR string `json:"subnetV6Cidr,omitempty"`
	// AssociationID is the trunk association (the controller keeps it to
	// disassociate; ipamd ignores it).
	AssociationID string `json:"associationID"`
}

// Annotation is the value of the pod's vpc.amazonaws.com/pod-eni
// annotation: a JSON list holding this ENI.
func (p PodENI) Annotation() string {
	b, _ := json.Marshal([]PodENI{p}) // plain strings and ints: cannot fail
	return string(b)
}

// EnvEnablePodENI is ipamd's switch for security groups for pods.
const EnvEnablePodENI = config.EnvEnablePodENI

type resourceCtl struct {
	l *Lab

	mu       sync.Mutex
	policies []SecurityGroupPolicy
	api      *ec2api.Client
	trunks   map[string]string // instance id → trunk ENI id
	branches map[string]PodENI // pod lab name → its branch ENI
	// op serializes EC2 work: VLAN ids are picked from the trunk's
	// associations, so two pods must not pick at once.
	op sync.Mutex
}

// resourceController returns the lab's controller, made on first use.
func (l *Lab) resourceController() *resourceCtl {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rc == nil {
		l.rc = &resourceCtl{l: l, trunks: map[string]string{}, branches: map[string]PodENI{}}
		l.rc.api = ec2api.New(ec2api.Options{
			Region:       "us-west-2",
			BaseEndpoint: aws.String(l.EC2URL()),
			Credentials:  credentials.NewStaticCredentialsProvider("enilab", "enilab", ""),
			HTTPClient:   awshttp.New(),
		})
	}
	return l.rc
}

// errNoPodENICapacity is a pod's wait for a node that has a trunk ENI.
var errNoPodENICapacity = errors.New("Insufficient vpc.amazonaws.com/pod-eni")

// podENIEnabled says whether the node runs with ENABLE_POD_ENI=true.
func (n *Node) podENIEnabled() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.spec.IPAMDEnv[EnvEnablePodENI]
	if !ok {
		v = n.lab.cfg.IPAMDEnv[EnvEnablePodENI]
	}
	return strings.EqualFold(v, "true")
}

// podSGEnforcing is the node's POD_SECURITY_GROUP_ENFORCING_MODE as
// aws-node reads it (upstream sgpp.LoadEnforcingModeFromEnv: standard when
// so set, strict otherwise).
func (n *Node) podSGEnforcing() datapath.EnforcingMode {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.spec.IPAMDEnv[datapath.EnvPodSGEnforcing]
	if !ok {
		v = n.lab.cfg.IPAMDEnv[datapath.EnvPodSGEnforcing]
	}
	if datapath.EnforcingMode(v) == datapath.EnforcingStandard {
		return datapath.EnforcingStandard
	}
	return datapath.EnforcingStrict
}

// ensureTrunk creates and attaches the node's trunk ENI once, at the
// highest device index the instance has free (upstream's
// GetHighestUnusedDeviceIndex), so it never races ipamd, which attaches
// from the lowest up.
func (rc *resourceCtl) ensureTrunk(ctx context.Context, n *Node) (string, error) {
	if id, ok := rc.trunks[n.instanceID]; ok {
		return id, nil
	}
	if !n.podENIEnabled() {
		return "", fmt.Errorf("%w: node %s runs without %s=true, so it has no trunk ENI", errNoPodENICapacity, n.name, EnvEnablePodENI)
	}
	lim, ok := ec2limits.Lookup(n.spec.InstanceType)
	if !ok || lim.Trunking != "true" || lim.BranchENIs <= 0 {
		return "", fmt.Errorf("%w: instance type %s does not support trunk network interfaces", errNoPodENICapacity, n.spec.InstanceType)
	}
	inst, ok := rc.l.ec2.Instance(n.instanceID)
	if !ok {
		return "", fmt.Errorf("node %s: instance %s is gone", n.name, n.instanceID)
	}
	index := -1
	for i := lim.MaxENIsOnCard(0) - 1; i > 0 && index < 0; i-- {
		if !slices.ContainsFunc(inst.ENIs, func(e fakeec2.ENI) bool { return e.DeviceIndex == i && e.NetworkCard == 0 }) {
			index = i
		}
	}
	if index < 0 {
		return "", fmt.Errorf("node %s: no free device index for the trunk ENI", n.name)
	}
	out, err := rc.api.CreateNetworkInterface(ctx, &ec2api.CreateNetworkInterfaceInput{
		SubnetId:      aws.String(n.subnet.ID),
		InterfaceType: types.NetworkInterfaceCreationTypeTrunk,
		Description:   aws.String("trunk-eni"),
		Groups:        []string{n.lab.sgID},
	})
	if err != nil {
		return "", fmt.Errorf("node %s: create trunk ENI: %w", n.name, err)
	}
	id := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	_, err = rc.api.AttachNetworkInterface(ctx, &ec2api.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(id), InstanceId: aws.String(n.instanceID), DeviceIndex: aws.Int32(int32(index)),
	})
	if err != nil {
		_, _ = rc.api.DeleteNetworkInterface(ctx, &ec2api.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)})
		return "", fmt.Errorf("node %s: attach trunk ENI %s: %w", n.name, id, err)
	}
	rc.trunks[n.instanceID] = id
	n.log.Info("trunk ENI attached", "eni", id, "device", index)
	return id, nil
}

// branchFor returns the pod's branch ENI, creating and associating one
// when a policy selects the pod; ok is false when none does.
func (rc *resourceCtl) branchFor(ctx context.Context, n *Node, p *pod) (_ PodENI, ok bool, _ error) {
	groups, _ := rc.groupsFor(p.labels)
	if len(groups) == 0 {
		return PodENI{}, false, nil
	}
	rc.op.Lock()
	defer rc.op.Unlock()
	rc.mu.Lock()
	b, have := rc.branches[p.name]
	rc.mu.Unlock()
	if have {
		return b, true, nil
	}
	trunk, err := rc.ensureTrunk(ctx, n)
	if err != nil {
		return PodENI{}, true, err
	}
	out, err := rc.api.CreateNetworkInterface(ctx, &ec2api.CreateNetworkInterfaceInput{
		SubnetId:      aws.String(n.subnet.ID),
		InterfaceType: types.NetworkInterfaceCreationTypeBranch,
		Description:   aws.String("aws-k8s-branch-eni"),
		Groups:        groups,
	})
	if err != nil {
		return PodENI{}, true, fmt.Errorf("create branch ENI for pod %s: %w", p.k8sName, apiError(err))
	}
	ni := out.NetworkInterface
	id := aws.ToString(ni.NetworkInterfaceId)
	vlan := rc.freeVLAN(trunk)
	as, err := rc.api.AssociateTrunkInterface(ctx, &ec2api.AssociateTrunkInterfaceInput{
		BranchInterfaceId: aws.String(id), TrunkInterfaceId: aws.String(trunk), VlanId: aws.Int32(int32(vlan)),
	})
	if err != nil {
		_, _ = rc.api.DeleteNetworkInterface(ctx, &ec2api.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)})
		return PodENI{}, true, fmt.Errorf("associate branch ENI %s with trunk %s: %w", id, trunk, apiError(err))
	}
	b = PodENI{
		ENIID: id, IfAddress: aws.ToString(ni.MacAddress), PrivateIP: aws.ToString(ni.PrivateIpAddress),
		VlanID: vlan, SubnetCIDR: n.subnet.CIDR.String(), AssociationID: aws.ToString(as.InterfaceAssociation.AssociationId),
	}
	rc.mu.Lock()
	rc.branches[p.name] = b
	rc.mu.Unlock()
	n.log.Info("branch ENI associated", "pod", p.name, "eni", id, "vlan", vlan, "groups", groups)
	if err := rc.l.syncSecurityGroups(); err != nil {
		n.log.Warn("security groups", "err", err)
	}
	return b, true, nil
}

// freeVLAN is the lowest VLAN id the trunk has free; fakeec2 refuses ids
// beyond the type's branch limit.
func (rc *resourceCtl) freeVLAN(trunk string) int {
	used := map[int]bool{}
	for _, a := range rc.l.ec2.TrunkAssociations() {
		if a.TrunkENI == trunk {
			used[a.VLANID] = true
		}
	}
	v := 1
	for used[v] {
		v++
	}
	return v
}

// release disassociates and deletes a deleted pod's branch ENI (a normal
// delete; a grace-period-0 one never reaches here, and the branch leaks).
func (rc *resourceCtl) release(ctx context.Context, podName string) error {
	rc.op.Lock()
	defer rc.op.Unlock()
	rc.mu.Lock()
	b, ok := rc.branches[podName]
	delete(rc.branches, podName)
	rc.mu.Unlock()
	if !ok {
		return nil
	}
	var errs []error
	if _, err := rc.api.DisassociateTrunkInterface(ctx, &ec2api.DisassociateTrunkInterfaceInput{AssociationId: aws.String(b.AssociationID)}); err != nil {
		errs = append(errs, err)
	}
	if _, err := rc.api.DeleteNetworkInterface(ctx, &ec2api.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(b.ENIID)}); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, rc.l.syncSecurityGroups())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node: pod %s: release branch ENI %s: %w", podName, b.ENIID, err)
	}
	return nil
}

// forget drops a force-deleted pod's branch from the controller's books:
// the ENI stays in EC2, associated with the trunk (the leak).
func (rc *resourceCtl) forget(podName string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.branches, podName)
}

// PodENI returns the pod's branch ENI as its vpc.amazonaws.com/pod-eni
// annotation carries it; false for a pod without one.
func (l *Lab) PodENI(podName string) (PodENI, bool) {
	rc := l.resourceController()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	b, ok := rc.branches[podName]
	return b, ok
}

// BranchENIs returns every branch ENI in EC2, leaked ones included.
func (l *Lab) BranchENIs() []fakeec2.ENI {
	var out []fakeec2.ENI
	for _, e := range l.ec2.ENIs() {
		if e.InterfaceType == "branch" {
			out = append(out, e)
		}
	}
	return out
}

// TrunkENI returns the node's trunk ENI id ("" when it has none).
func (n *Node) TrunkENI() string {
	for _, e := range n.lab.ec2.ENIs() {
		if e.InterfaceType == "trunk" && e.InstanceID == n.instanceID {
			return e.ID
		}
	}
	return ""
}

// nodeJoined attaches the trunk ENI of a node that runs with
// ENABLE_POD_ENI=true on a trunk-compatible type, as the controller does
// when ipamd labels the node vpc.amazonaws.com/has-trunk-attached=false;
// a failure is logged and retried at the node's first branch pod.
func (rc *resourceCtl) nodeJoined(ctx context.Context, n *Node) {
	if !n.podENIEnabled() {
		return
	}
	rc.op.Lock()
	defer rc.op.Unlock()
	if _, err := rc.ensureTrunk(ctx, n); err != nil {
		n.log.Warn("no trunk ENI", "err", err)
	}
}

// podENIAnnotation is the API server's answer to ipamd's GetPod: the
// pod's vpc.amazonaws.com/pod-eni annotation, if it has one.
func (n *Node) podENIAnnotation(_, name string) (string, bool, error) {
	b, ok := n.lab.PodENI(n.name + "/" + name)
	if !ok {
		return "", false, nil
	}
	return b.Annotation(), true, nil
}

// BranchENIs counts the branch ENIs associated with the node's trunk,
// leaked ones (a pod deleted with grace period 0) included.
func (n *Node) BranchENIs() int {
	trunk := n.TrunkENI()
	if trunk == "" {
		return 0
	}
	c := 0
	for _, a := range n.lab.ec2.TrunkAssociations() {
		if a.TrunkENI == trunk {
			c++
		}
	}
	return c
}

// apiError shortens an SDK error to EC2's code and message, as the
// controller's events show them.
func apiError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}
