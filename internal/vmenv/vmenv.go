// Package vmenv reads what the VM runner (scripts/vmtest, docs/VM.md)
// tells the suites it starts.
package vmenv

import "os"

// AccelEnv names the VM's acceleration: kvm, or tcg (software emulation).
const AccelEnv = "ENILAB_VM_ACCEL"

// Emulated reports whether the suite runs under software emulation, where
// code runs 10–50× slower than on a real CPU.
func Emulated() bool { return os.Getenv(AccelEnv) == "tcg" }
