package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/enilab/enilab/node"
)

// snatGolden is one setting of ipamd/testdata/upstream-snat-rules.golden:
// upstream's `iptables -t nat -S` and `-t mangle -S` on a node whose
// primary address is 10.0.0.10 in a VPC of 10.0.0.0/16 and 100.64.0.0/16.
type snatGolden struct {
	name        string
	env         map[string]string
	nat, mangle []string
}

func readSNATGolden() []snatGolden {
	GinkgoHelper()
	f, err := os.Open("../ipamd/testdata/upstream-snat-rules.golden")
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var out []snatGolden
	var dst *[]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			g := snatGolden{name: strings.TrimPrefix(line, "== "), env: map[string]string{}}
			for _, kv := range strings.Fields(g.name) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					g.env[k] = v
				}
			}
			out = append(out, g)
		case line == "-- nat":
			dst = &out[len(out)-1].nat
		case line == "-- mangle":
			dst = &out[len(out)-1].mangle
		default:
			*dst = append(*dst, line)
		}
	}
	Expect(sc.Err()).NotTo(HaveOccurred())
	return out
}

// upstream's buildIptablesSNATRules and iptablesConnmark.Setup, as a user
// sees them: `ip netns exec <node> iptables -t nat -S` on a lab node reads
// as the golden file written from upstream's network.go, for each setting.
var _ = Describe("ipamd's SNAT rules inside a node", Label("snat", "dummy"), func() {
	It("match upstream's iptables -t nat -S and -t mangle -S for each setting of the golden file", func() {
		if _, err := exec.LookPath("iptables"); err != nil {
			Skip("needs the iptables binary (scripts/setup.sh installs it, nft backend): " + err.Error())
		}
		golden := readSNATGolden()
		Expect(golden).To(HaveLen(7))
		for _, g := range golden {
			By(g.name)
			lab := newLab(node.LabConfig{
				VPC:      node.VPCSpec{CIDR: "10.0.0.0/16", SecondaryCIDRs: []string{"100.64.0.0/16"}},
				IPAMDEnv: g.env,
			})
			n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
			inst, ok := lab.EC2().Instance(n.InstanceID())
			Expect(ok).To(BeTrue())
			this := func(lines []string) []string {
				out := make([]string, len(lines))
				for i, l := range lines {
					out[i] = strings.Replace(l, "--to-source 10.0.0.10", "--to-source "+inst.PrimaryIP.String(), 1)
				}
				return out
			}
			Expect(strings.Split(strings.TrimSpace(inNode(n, nil, "iptables", "-t", "nat", "-S")), "\n")).To(Equal(this(g.nat)), "%s: nat", g.name)
			Expect(strings.Split(strings.TrimSpace(inNode(n, nil, "iptables", "-t", "mangle", "-S")), "\n")).To(Equal(this(g.mangle)), "%s: mangle", g.name)
		}
		root, err := exec.Command("iptables-save").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", root)
		Expect(string(root)).NotTo(ContainSubstring("AWS"), "the root namespace's iptables stay untouched")
	})
})
