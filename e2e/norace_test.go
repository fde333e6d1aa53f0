//go:build !race

package e2e

// raceBuild is whether this test binary is race-built (racePlugin).
const raceBuild = false
