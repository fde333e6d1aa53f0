package netsetup

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/enilab/enilab/internal/nsutil"
)

// batchIPT runs upstream's sequence of iptables calls (updateIptablesRules:
// a check, then an insert or append, rule after rule) with far fewer
// execs, and leaves the same rules in the same order.
//
// It reads the namespace's tables once (snapshot: over netlink, counted
// as iptables-save would count them). A chain that was empty then, or that
// it created, holds exactly the rules it added since, in the spec it was
// given, so a check against it is answered from that record, and rules
// added to it are queued; whether a chain of nat or mangle exists, and
// which there are, it knows from the snapshot and what it did since.
// Everything else, and every call it cannot answer (a check against a
// chain that held rules, a delete, a listing of rules), goes to iptables
// as before, after the queue has been written. The queue is written by one
// iptables-restore --noflush: at such a call, and at commit.
//
// A record answers a check exactly because iptables compares rules by
// what they match, and the specs ipamd builds differ in their comment,
// target or masked CIDR whenever they differ at all; a chain that held
// rules already is never answered from a record, since iptables prints
// them in its own canonical form (-i before -m, --set-xmark for
// --set-mark).
type batchIPT struct {
	iptablesAPI
	restore func([]restoreOp) error
	// chains is the record per "table/chain": present when the chain's
	// content is known, holding the specs added since.
	chains map[string][][]string
	// present is every "table/chain" there is, recorded or not.
	present map[string]bool
	pending []restoreOp
}

// batched is ipt behind a batch, and the commit that writes its queue,
// when iptables-save and iptables-restore of ipt's backend are there and
// the snapshot reads; otherwise ipt itself, every call one iptables
// command as upstream makes it.
func batched(nsPath string, ipt iptablesAPI) (iptablesAPI, func() error) {
	r, ok := findRestore(nsPath)
	if !ok {
		return ipt, func() error { return nil }
	}
	snap, err := r.snapshot()
	if err != nil {
		return ipt, func() error { return nil }
	}
	b := newBatch(ipt, snap, r.apply)
	return b, b.commit
}

// restoreOp is one line of iptables-restore input.
type restoreOp struct {
	table string
	verb  string // ":" (new chain), "-A" or "-I"
	chain string
	spec  []string
}

// builtinChains are the chains of a table that iptables-nft creates with
// it, so a table missing from iptables-save has them, empty.
var builtinChains = map[string][]string{
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
}

// newBatch starts from snapshot, the rule count of every chain of every
// table there is (iptables-save); a nat or mangle table it lacks has its
// builtin chains, empty, as iptables-nft would create them.
func newBatch(direct iptablesAPI, snapshot map[string]map[string]int, restore func([]restoreOp) error) *batchIPT {
	b := &batchIPT{iptablesAPI: direct, restore: restore, chains: map[string][][]string{}, present: map[string]bool{}}
	for table, builtins := range builtinChains {
		if _, ok := snapshot[table]; ok {
			continue
		}
		for _, c := range builtins {
			b.chains[table+"/"+c] = nil
			b.present[table+"/"+c] = true
		}
	}
	for table, chains := range snapshot {
		for c, rules := range chains {
			if rules == 0 {
				b.chains[table+"/"+c] = nil
			}
			b.present[table+"/"+c] = true
		}
	}
	return b
}

func (b *batchIPT) record(table, chain string) ([][]string, bool) {
	specs, ok := b.chains[table+"/"+chain]
	return specs, ok
}

func (b *batchIPT) Exists(table, chain string, spec ...string) (bool, error) {
	if specs, ok := b.record(table, chain); ok && len(spec) > 0 {
		return slices.ContainsFunc(specs, func(s []string) bool { return slices.Equal(s, spec) }), nil
	}
	if err := b.flush(); err != nil {
		return false, err
	}
	return b.iptablesAPI.Exists(table, chain, spec...)
}

func (b *batchIPT) Insert(table, chain string, pos int, spec ...string) error {
	if specs, ok := b.record(table, chain); ok && pos == 1 && quotable(spec) {
		spec = slices.Clone(spec)
		b.chains[table+"/"+chain] = slices.Insert(specs, 0, spec)
		b.pending = append(b.pending, restoreOp{table: table, verb: "-I", chain: chain, spec: spec})
		return nil
	}
	if err := b.flush(); err != nil {
		return err
	}
	b.forget(table, chain)
	return b.iptablesAPI.Insert(table, chain, pos, spec...)
}

func (b *batchIPT) Append(table, chain string, spec ...string) error {
	if specs, ok := b.record(table, chain); ok && quotable(spec) {
		spec = slices.Clone(spec)
		b.chains[table+"/"+chain] = append(specs, spec)
		b.pending = append(b.pending, restoreOp{table: table, verb: "-A", chain: chain, spec: spec})
		return nil
	}
	if err := b.flush(); err != nil {
		return err
	}
	b.forget(table, chain)
	return b.iptablesAPI.Append(table, chain, spec...)
}

// NewChain queues a chain of nat or mangle that is not there; with
// --noflush, a declared chain that exists would be flushed, so an existing
// one is left to iptables (which says it exists).
func (b *batchIPT) NewChain(table, chain string) error {
	if _, known := builtinChains[table]; known && !b.present[table+"/"+chain] {
		b.chains[table+"/"+chain] = nil
		b.present[table+"/"+chain] = true
		b.pending = append(b.pending, restoreOp{table: table, verb: ":", chain: chain})
		return nil
	}
	if err := b.flush(); err != nil {
		return err
	}
	err := b.iptablesAPI.NewChain(table, chain)
	b.present[table+"/"+chain] = true
	return err
}

// List answers for a recorded user chain with nothing in it, as
// `iptables -S <chain>` prints it; otherwise iptables answers.
func (b *batchIPT) List(table, chain string) ([]string, error) {
	if specs, ok := b.record(table, chain); ok && len(specs) == 0 && !slices.Contains(builtinChains[table], chain) {
		return []string{"-N " + chain}, nil
	}
	if err := b.flush(); err != nil {
		return nil, err
	}
	return b.iptablesAPI.List(table, chain)
}

// ListChains answers for nat and mangle, whose chains it knows, as
// `iptables -S` lists them: the builtins in their order, then the others
// sorted by name.
func (b *batchIPT) ListChains(table string) ([]string, error) {
	if builtins, ok := builtinChains[table]; ok {
		var names, user []string
		for _, c := range builtins {
			if b.present[table+"/"+c] {
				names = append(names, c)
			}
		}
		for k := range b.present {
			if t, c, _ := strings.Cut(k, "/"); t == table && !slices.Contains(builtins, c) {
				user = append(user, c)
			}
		}
		slices.Sort(user)
		return append(names, user...), nil
	}
	if err := b.flush(); err != nil {
		return nil, err
	}
	return b.iptablesAPI.ListChains(table)
}

// ChainExists answers for nat and mangle, whose chains it knows.
func (b *batchIPT) ChainExists(table, chain string) (bool, error) {
	if _, ok := builtinChains[table]; ok {
		return b.present[table+"/"+chain], nil
	}
	if err := b.flush(); err != nil {
		return false, err
	}
	return b.iptablesAPI.ChainExists(table, chain)
}

func (b *batchIPT) Delete(table, chain string, spec ...string) error {
	if err := b.flush(); err != nil {
		return err
	}
	b.forget(table, chain)
	return b.iptablesAPI.Delete(table, chain, spec...)
}

func (b *batchIPT) ClearChain(table, chain string) error {
	if err := b.flush(); err != nil {
		return err
	}
	b.forget(table, chain)
	return b.iptablesAPI.ClearChain(table, chain)
}

func (b *batchIPT) DeleteChain(table, chain string) error {
	if err := b.flush(); err != nil {
		return err
	}
	b.forget(table, chain)
	err := b.iptablesAPI.DeleteChain(table, chain)
	if err == nil {
		delete(b.present, table+"/"+chain)
	}
	return err
}

// forget drops the record of a chain changed behind it.
func (b *batchIPT) forget(table, chain string) { delete(b.chains, table+"/"+chain) }

// commit writes what is queued; the caller's sequence is done.
func (b *batchIPT) commit() error { return b.flush() }

func (b *batchIPT) flush() error {
	if len(b.pending) == 0 {
		return nil
	}
	ops := b.pending
	b.pending = nil
	if err := b.restore(ops); err != nil {
		// What iptables took is unknown now: ask it from here on, and
		// leave new chains to it too.
		clear(b.chains)
		for _, op := range ops {
			if op.verb == ":" {
				delete(b.present, op.table+"/"+op.chain)
			}
		}
		return err
	}
	return nil
}

// quotable is whether every argument can be written on an
// iptables-restore line (quoted when it holds a space).
func quotable(spec []string) bool {
	return !slices.ContainsFunc(spec, func(s string) bool { return s == "" || strings.ContainsAny(s, "\"\\'\n\r\t") })
}

// restoreInput is the iptables-restore --noflush input for ops, grouped by
// table in first-use order (ops on one table keep their order), and for
// each line the op it came from.
func restoreInput(ops []restoreOp) ([]byte, []restoreOp) {
	var tables []string
	for _, op := range ops {
		if !slices.Contains(tables, op.table) {
			tables = append(tables, op.table)
		}
	}
	var buf bytes.Buffer
	lines := []restoreOp{{}} // line numbers count from 1
	for _, t := range tables {
		fmt.Fprintf(&buf, "*%s\n", t)
		lines = append(lines, restoreOp{table: t})
		for _, op := range ops {
			if op.table != t {
				continue
			}
			buf.WriteString(op.line())
			buf.WriteByte('\n')
			lines = append(lines, op)
		}
		buf.WriteString("COMMIT\n")
		lines = append(lines, restoreOp{table: t})
	}
	return buf.Bytes(), lines
}

func (op restoreOp) line() string {
	switch op.verb {
	case ":":
		return ":" + op.chain + " - [0:0]"
	case "-I":
		return "-I " + op.chain + " 1 " + joinSpec(op.spec)
	default:
		return op.verb + " " + op.chain + " " + joinSpec(op.spec)
	}
}

func (op restoreOp) String() string {
	if op.chain == "" {
		return "*" + op.table
	}
	return "-t " + op.table + " " + op.line()
}

func joinSpec(spec []string) string {
	q := make([]string, len(spec))
	for i, s := range spec {
		if strings.Contains(s, " ") {
			s = `"` + s + `"`
		}
		q[i] = s
	}
	return strings.Join(q, " ")
}

// failedLine is the line iptables-restore names when a line fails
// ("iptables-restore: line 3 failed").
var failedLine = regexp.MustCompile(`line (\d+) failed`)

// nsRestore is iptables-restore and iptables-save of one iptables backend,
// run in the node namespace at ns.
type nsRestore struct {
	ns, save, restore string
}

// findRestore finds iptables-save and iptables-restore beside iptables and
// of its backend (the xtables multi-call binary they all link to). It
// answers false when they are missing or of another backend; the rules are
// then written one iptables command at a time.
func findRestore(nsPath string) (nsRestore, bool) {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return nsRestore{}, false
	}
	multi, err := filepath.EvalSymlinks(ipt)
	if err != nil || filepath.Base(multi) != "xtables-nft-multi" {
		return nsRestore{}, false
	}
	r := nsRestore{ns: nsPath, save: filepath.Join(filepath.Dir(ipt), "iptables-save"), restore: filepath.Join(filepath.Dir(ipt), "iptables-restore")}
	for _, p := range []string{r.save, r.restore} {
		if m, err := filepath.EvalSymlinks(p); err != nil || m != multi {
			return nsRestore{}, false
		}
	}
	return r, true
}

// apply writes ops with one iptables-restore --noflush; a failure names the
// line iptables refused.
func (r nsRestore) apply(ops []restoreOp) error {
	in, lines := restoreInput(ops)
	cmd := exec.Command(r.restore, "--noflush", "--wait")
	cmd.Stdin = bytes.NewReader(in)
	err := r.run(cmd, nil)
	if err == nil {
		return nil
	}
	if m := failedLine.FindStringSubmatch(err.Error()); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 && n < len(lines) {
			return fmt.Errorf("iptables-restore: %s: %w", lines[n], err)
		}
	}
	return fmt.Errorf("iptables-restore: %w", err)
}

// run runs cmd from a thread in the namespace, its output to stdout; a
// failure carries what it wrote to standard error.
func (r nsRestore) run(cmd *exec.Cmd, stdout *bytes.Buffer) error {
	var stderr bytes.Buffer
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = &stderr
	err := nsutil.Do(r.ns, cmd.Run)
	if err != nil && stderr.Len() > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return err
}
