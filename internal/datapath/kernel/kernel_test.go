package kernel

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vishvananda/netlink"
)

func TestBuilders(t *testing.T) {
	ip := netip.MustParseAddr("10.0.1.21")
	assert.Equal(t, "10.0.1.21/32", HostNet(ip).String())
	assert.Equal(t, "fd00::1/128", HostNet(netip.MustParseAddr("fd00::1")).String())
	assert.Equal(t, "10.0.1.0/24", PrefixNet(netip.MustParsePrefix("10.0.1.0/24")).String())

	r := HostRoute(ip, 7, 0)
	assert.Equal(t, 7, r.LinkIndex)
	assert.Equal(t, netlink.SCOPE_LINK, r.Scope)
	assert.Equal(t, "10.0.1.21/32", r.Dst.String())

	to := ToPodRule(ip)
	assert.Equal(t, 512, to.Priority)
	assert.Equal(t, 254, to.Table)
	assert.Equal(t, "10.0.1.21/32", to.Dst.String())
	from := FromPodRule(ip, 2)
	assert.Equal(t, 1536, from.Priority)
	assert.Equal(t, 2, from.Table)
	assert.Equal(t, "10.0.1.21/32", from.Src.String())
	eni := ENIRule(ip, 3)
	assert.Equal(t, 32765, eni.Priority)
	assert.Equal(t, 3, eni.Table)
	fw := FwmarkRule()
	assert.Equal(t, 1024, fw.Priority)
	assert.Equal(t, uint32(0x80), fw.Mark)
	assert.Equal(t, uint32(0x80), *fw.Mask)
}

func TestSameRule(t *testing.T) {
	ip := netip.MustParseAddr("10.0.1.21")
	assert.True(t, SameRule(*FromPodRule(ip, 2), *FromPodRule(ip, 2)))
	assert.False(t, SameRule(*FromPodRule(ip, 2), *FromPodRule(ip, 3)))
	assert.False(t, SameRule(*FromPodRule(ip, 2), *ENIRule(ip, 2)))
	assert.False(t, SameRule(*ToPodRule(ip), *ToPodRule(netip.MustParseAddr("10.0.1.22"))))

	// The kernel reports a mark without a mask as mask 0xffffffff.
	marked := *FwmarkRule()
	full := uint32(0xffffffff)
	noMask, withFull := marked, marked
	noMask.Mark, noMask.Mask = 0x80, nil
	withFull.Mask = &full
	assert.True(t, SameRule(noMask, withFull))
	assert.False(t, SameRule(marked, withFull))
}
