package netsetup

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"

	"github.com/enilab/enilab/internal/nsutil"
)

// iptablesAPI is the part of go-iptables the host rules use (upstream's
// iptableswrapper.IPTablesIface, trimmed).
type iptablesAPI interface {
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	List(table, chain string) ([]string, error)
	ListChains(table string) ([]string, error)
	ChainExists(table, chain string) (bool, error)
	NewChain(table, chain string) error
	ClearChain(table, chain string) error
	DeleteChain(table, chain string) error
	HasRandomFully() bool
}

// nsIPTables runs every iptables command inside one network namespace:
// go-iptables execs the iptables binary, and a child forked from a thread
// locked in a namespace (nsutil.Do) is born in it. The caller's thread and
// the root namespace are never changed.
type nsIPTables struct {
	ns  string
	ipt *iptables.IPTables
}

// newIPTables finds the iptables binary (upstream's
// iptables.NewWithProtocol(ProtocolIPv4)); without it, the error says so:
// exec: "iptables": executable file not found in $PATH.
func newIPTables(nsPath string) (*nsIPTables, error) {
	ipt, err := probed.get(nsPath)
	if err != nil {
		return nil, fmt.Errorf("failed to create iptables (ipamd programs its SNAT and connmark rules with the iptables binary, as aws-node does): %w", err)
	}
	return &nsIPTables{ns: nsPath, ipt: ipt}, nil
}

// probed is go-iptables' probe of each iptables binary (it execs
// `iptables --version` to learn the version and the flags it takes), made
// once per binary path and shared: the probe does not depend on the
// namespace, and a node's start-up would otherwise pay one exec per
// netsetup call. The binary is looked up in $PATH every time.
var probed = probeCache{byPath: map[string]*iptables.IPTables{}}

type probeCache struct {
	mu     sync.Mutex
	byPath map[string]*iptables.IPTables
}

func (c *probeCache) get(nsPath string) (*iptables.IPTables, error) {
	path, lookErr := exec.LookPath("iptables")
	c.mu.Lock()
	defer c.mu.Unlock()
	if ipt, ok := c.byPath[path]; ok && lookErr == nil {
		return ipt, nil
	}
	var ipt *iptables.IPTables
	err := nsutil.Do(nsPath, func() (err error) {
		ipt, err = iptables.NewWithProtocol(iptables.ProtocolIPv4)
		return err
	})
	if err != nil {
		return nil, err
	}
	if lookErr == nil {
		c.byPath[path] = ipt
	}
	return ipt, nil
}

func (n *nsIPTables) do(fn func() error) error { return nsutil.Do(n.ns, fn) }

func (n *nsIPTables) Exists(table, chain string, spec ...string) (ok bool, err error) {
	err = n.do(func() (err error) { ok, err = n.ipt.Exists(table, chain, spec...); return err })
	return ok, err
}

func (n *nsIPTables) Insert(table, chain string, pos int, spec ...string) error {
	return n.do(func() error { return n.ipt.Insert(table, chain, pos, spec...) })
}

func (n *nsIPTables) Append(table, chain string, spec ...string) error {
	return n.do(func() error { return n.ipt.Append(table, chain, spec...) })
}

func (n *nsIPTables) Delete(table, chain string, spec ...string) error {
	return n.do(func() error { return n.ipt.Delete(table, chain, spec...) })
}

func (n *nsIPTables) List(table, chain string) (out []string, err error) {
	err = n.do(func() (err error) { out, err = n.ipt.List(table, chain); return err })
	return out, err
}

func (n *nsIPTables) ListChains(table string) (out []string, err error) {
	err = n.do(func() (err error) { out, err = n.ipt.ListChains(table); return err })
	return out, err
}

func (n *nsIPTables) ChainExists(table, chain string) (ok bool, err error) {
	err = n.do(func() (err error) { ok, err = n.ipt.ChainExists(table, chain); return err })
	return ok, err
}

func (n *nsIPTables) NewChain(table, chain string) error {
	return n.do(func() error { return n.ipt.NewChain(table, chain) })
}

func (n *nsIPTables) ClearChain(table, chain string) error {
	return n.do(func() error { return n.ipt.ClearChain(table, chain) })
}

func (n *nsIPTables) DeleteChain(table, chain string) error {
	return n.do(func() error { return n.ipt.DeleteChain(table, chain) })
}

func (n *nsIPTables) HasRandomFully() bool { return n.ipt.HasRandomFully() }

// chainExistErr is upstream's chainExistErr.
func chainExistErr(err error) bool {
	return strings.Contains(err.Error(), "Chain already exists")
}

// isNotExistError is upstream's isNotExistError: go-iptables' IsNotExist
// (a missing chain or rule).
func isNotExistError(err error) bool {
	var e *iptables.Error
	if errors.As(err, &e) {
		return e.IsNotExist()
	}
	return false
}
