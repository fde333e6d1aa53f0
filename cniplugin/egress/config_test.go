package egress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// conf is the egress-cni entry as libcni hands it to the plugin in an IPv6
// cluster (upstream's misc/10-aws.conflist filled in by aws-node), with
// aws-cni's result as prevResult.
func conf(edit func(m map[string]string)) []byte {
	m := map[string]string{
		"mtu": `"9001"`, "enabled": `"true"`, "nodeIP": `"10.0.1.10"`,
		"ipam":       `{"type": "host-local", "ranges": [[{"subnet": "169.254.172.0/22"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/run/cni/v6pd/egress-v4-ipam"}`,
		"prevResult": `{"cniVersion": "1.0.0", "interfaces": [{"name": "eni1"}], "ips": [{"address": "2600:1f14::5/128"}]}`,
	}
	if edit != nil {
		edit(m)
	}
	s := `{"cniVersion": "1.0.0", "name": "aws-cni", "type": "egress-cni"`
	for k, v := range m {
		if v != "" {
			s += `, "` + k + `": ` + v
		}
	}
	return []byte(s + "}")
}

func TestEgressConfAsUpstreamLoadConf(t *testing.T) {
	c, err := parseConf(conf(nil), true)
	require.NoError(t, err)
	assert.Equal(t, 9001, c.mtu)
	assert.Equal(t, "10.0.1.10", c.NodeIP.String())
	require.NotNil(t, c.prev)
	assert.Len(t, c.prev.IPs, 1)

	for name, tc := range map[string]struct {
		edit func(m map[string]string)
		want string
	}{
		"not chained":  {func(m map[string]string) { m["prevResult"] = "" }, "must be called as a chained plugin"},
		"bad MTU":      {func(m map[string]string) { m["mtu"] = `"jumbo"` }, `failed to parse MTU: "jumbo"`},
		"IPv6 node IP": {func(m map[string]string) { m["nodeIP"] = `"2600:1f14::1"` }, "nodeIP \"2600:1f14::1\" is not an IPv4 address"},
		"other IPAM":   {func(m map[string]string) { m["ipam"] = `{"type": "dhcp"}` }, `ipam type "dhcp": only host-local`},
		"not JSON":     {nil, "failed to parse config"},
	} {
		t.Run(name, func(t *testing.T) {
			data := conf(tc.edit)
			if tc.edit == nil {
				data = []byte("{")
			}
			_, err := parseConf(data, true)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// A disabled plugin (ENABLE_V4_EGRESS=false) checks nothing else and
// passes the previous result through, as upstream's add does.
func TestEgressDisabledPassesThroughAsUpstreamAdd(t *testing.T) {
	c, err := parseConf(conf(func(m map[string]string) { m["enabled"] = `"false"`; m["nodeIP"] = `""`; m["ipam"] = "" }), true)
	require.NoError(t, err)
	assert.False(t, c.enabled())
	require.NotNil(t, c.prev, "the previous result to print back")
	assert.Equal(t, "eni1", c.prev.Interfaces[0].Name)
}

// The pod's chain and comment are upstream's: utils' E4- chain of the
// network name and container id, and its `name: … id: …` comment.
func TestEgressChainNamesAsUpstreamMustFormatChainNameWithPrefix(t *testing.T) {
	c, err := parseConf(conf(nil), true)
	require.NoError(t, err)
	chain, comment := names(c, "abc123")
	assert.Regexp(t, `^CNI-E4-[0-9a-f]{21}$`, chain)
	assert.Equal(t, `name: "aws-cni" id: "abc123"`, comment)
	chain2, _ := names(c, "abc124")
	assert.NotEqual(t, chain, chain2)
}
