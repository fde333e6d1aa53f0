//go:build race

package app

// raceBuild is whether this test binary is race-built (racePlugin).
const raceBuild = true
