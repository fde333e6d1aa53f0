package config

import (
	"errors"
	"fmt"
)

// IP family variables (upstream ipamd.go envEnableIPv4, envEnableIPv6).
const (
	EnvEnableIPv4 = "ENABLE_IPv4"
	EnvEnableIPv6 = "ENABLE_IPv6"
)

// Upstream's isConfigValid lines, logged before aws-node exits with
// "ipamd: failed to validate configuration".
const (
	msgDualStack    = "IPv4 and IPv6 are both enabled. VPC CNI currently does not support dual stack mode"
	msgNoFamily     = "IPv4 and IPv6 are both disabled. One of them have to be enabled"
	msgIPv6NeedsPD  = "IPv6 is supported only in Prefix Delegation mode. Custom Networking is not supported in IPv6 mode. Please set the env variables accordingly."
	msgInvalidSetup = "ipamd: failed to validate configuration"
)

// ErrIPFamily marks a refused ENABLE_IPv4 / ENABLE_IPv6 /
// ENABLE_PREFIX_DELEGATION combination (its text is upstream's exit line).
var ErrIPFamily = errors.New(msgInvalidSetup)

// IPv6NonNitroMessage is upstream's isConfigValid line for IPv6 on an
// instance type without prefix delegation (%s: the instance type).
const IPv6NonNitroMessage = "Prefix Delegation is not supported on non-nitro instance %s. IPv6 is only supported in Prefix delegation Mode. "

// validateFamily is upstream's isConfigValid for the IP family: one of
// ENABLE_IPv4 and ENABLE_IPv6, and IPv6 only with prefix delegation and
// without custom networking. The error carries upstream's line.
func (c Config) validateFamily() error {
	var line string
	switch {
	case c.EnableIPv6 && !c.DisableIPv4:
		line = msgDualStack
	case !c.EnableIPv6 && c.DisableIPv4:
		line = msgNoFamily
	case c.EnableIPv6 && (c.CustomNetworking || !c.EnablePrefixDelegation):
		line = msgIPv6NeedsPD
	default:
		return nil
	}
	return fmt.Errorf("%s=%v %s=%v %s=%v: %s (%w)", EnvEnableIPv4, !c.DisableIPv4, EnvEnableIPv6, c.EnableIPv6,
		EnvEnablePrefixDelegation, c.EnablePrefixDelegation, line, ErrIPFamily)
}

// readFamily reads ENABLE_IPv4 and ENABLE_IPv6 as upstream's
// GetBoolAsStringEnvVar does. ENABLE_IPv4 defaults to true here, the value
// the aws-node DaemonSet manifest sets.
func (r *envReader) readFamily(c *Config) {
	v4 := !c.DisableIPv4
	r.fallbackBool(EnvEnableIPv4, &v4, boolUtils)
	c.DisableIPv4 = !v4
	r.fallbackBool(EnvEnableIPv6, &c.EnableIPv6, boolUtils)
}

// OnlyIPFamily reports whether every problem FromEnv found in err is a
// refused IP family combination: a check of one variable alone (the
// scenario parser's) cannot judge a combination.
func OnlyIPFamily(err error) bool {
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.Is(e, ErrIPFamily) {
			leaves = append(leaves, e)
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		leaves = append(leaves, e)
	}
	walk(err)
	for _, e := range leaves {
		if !errors.Is(e, ErrIPFamily) {
			return false
		}
	}
	return len(leaves) > 0
}
