package netsetup

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

// snapshot counts the rules of every chain of every iptables table of the
// namespace: read from nf_tables over netlink (the tables iptables-nft
// keeps there), or, when netlink cannot say, from iptables-save.
func (r nsRestore) snapshot() (map[string]map[string]int, error) {
	if snap, err := nftSnapshot(r.ns); err == nil {
		return snap, nil
	}
	var out bytes.Buffer
	if err := r.run(exec.Command(r.save), &out); err != nil {
		return nil, fmt.Errorf("iptables-save: %w", err)
	}
	return parseSave(out.Bytes())
}

// nftSnapshot is what iptables-save of the nf_tables backend would count,
// without its exec: each table of the ip family with its chains and their
// rules (iptables-nft makes one nf_tables rule of each iptables rule), and
// the built-in chains of nat and mangle, which iptables-save lists whether
// or not nf_tables holds them yet.
func nftSnapshot(nsPath string) (map[string]map[string]int, error) {
	fd, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil || len(tables) == 0 {
		return map[string]map[string]int{}, err
	}
	snap := map[string]map[string]int{}
	for _, t := range tables {
		snap[t.Name] = map[string]int{}
		for _, b := range builtinChains[t.Name] {
			snap[t.Name][b] = 0
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, err
	}
	for _, ch := range chains {
		if _, ok := snap[ch.Table.Name]; !ok {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("rules of %s/%s: %w", ch.Table.Name, ch.Name, err)
		}
		snap[ch.Table.Name][ch.Name] = len(rules)
	}
	return snap, nil
}

// parseSave counts the rules of each chain in iptables-save output.
func parseSave(out []byte) (map[string]map[string]int, error) {
	tables := map[string]map[string]int{}
	var cur map[string]int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(line, "#") || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			cur = map[string]int{}
			tables[line[1:]] = cur
		case cur != nil && strings.HasPrefix(line, ":"):
			if _, ok := cur[f[0][1:]]; !ok {
				cur[f[0][1:]] = 0
			}
		case cur != nil && f[0] == "-A" && len(f) > 1:
			cur[f[1]]++
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	return tables, sc.Err()
}
