package vmenv

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEmulated(t *testing.T) {
	for accel, want := range map[string]bool{"tcg": true, "kvm": false, "": false} {
		t.Setenv(AccelEnv, accel)
		assert.Equal(t, want, Emulated(), "%s=%q", AccelEnv, accel)
	}
}
