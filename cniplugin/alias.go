package cniplugin

import (
	"fmt"
	"net/netip"
	"strings"
)

// hostAlias is the alias ADD gives the host veth: who owns it, visible in
// `ip link`, and how DEL and GC tell a veth of another sandbox of the same
// pod (same name) from their own.
func hostAlias(containerID, ifName string, ip netip.Addr, table int) string {
	return fmt.Sprintf("aws-cni container=%s if=%s ip=%s table=%d", containerID, ifName, ip, table)
}

// parseAlias reads hostAlias back; ok is false for any other alias.
func parseAlias(alias string) (containerID, ifName string, ip netip.Addr, table int, ok bool) {
	rest, found := strings.CutPrefix(alias, "aws-cni ")
	if !found {
		return "", "", netip.Addr{}, 0, false
	}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "container":
			containerID = v
		case "if":
			ifName = v
		case "ip":
			ip, _ = netip.ParseAddr(v)
		case "table":
			fmt.Sscanf(v, "%d", &table)
		}
	}
	return containerID, ifName, ip, table, containerID != ""
}
