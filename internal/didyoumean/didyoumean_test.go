package didyoumean

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClosest(t *testing.T) {
	words := []string{"nodes", "steps", "WARM_IP_TARGET", "m5.large", "m5.xlarge"}
	for in, want := range map[string]string{
		"nodez":           "nodes",
		"WARM_IP_TARGETS": "WARM_IP_TARGET",
		"warm_ip_target":  "WARM_IP_TARGET",
		"m5.larg":         "m5.large",
		"m5.xlarg":        "m5.xlarge",
		"stop":            "", // two edits from "steps" is too far for a short word
		"completely-else": "",
	} {
		assert.Equal(t, want, Closest(in, words), in)
	}
}
