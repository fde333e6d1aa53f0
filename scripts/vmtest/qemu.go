package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VM is one boot of the test kernel with the assembled initramfs. It has no
// network device at all (-nic none): nothing it does can reach the host's
// network configuration.
type VM struct {
	QEMU       string
	Kernel     string
	Initrd     string
	MemoryMiB  int
	CPUs       int
	Accel      string // "kvm" or "tcg"
	Console    io.Writer
	ResultsLog string // file the results port is written to
	BIOS       string // firmware; "" = qemu's default (SeaBIOS)
	Timeout    time.Duration
	// UpTimeout bounds the wait for /init's first line. With KVM this is the
	// probe: a KVM that exists but does not work hangs or dies before it.
	UpTimeout time.Duration
}

// Args is the qemu command line.
func (v VM) Args() []string {
	cpu := "max"
	if v.Accel == "kvm" {
		cpu = "host"
	}
	var bios []string
	if v.BIOS != "" {
		bios = []string{"-bios", v.BIOS}
	}
	return append(bios,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", v.Accel, "-cpu", cpu,
		"-m", strconv.Itoa(v.MemoryMiB), "-smp", strconv.Itoa(v.CPUs),
		"-nic", "none",
		"-kernel", v.Kernel, "-initrd", v.Initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init enilab.accel="+v.Accel,
		"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
		"-chardev", "file,id=results,path="+v.ResultsLog, "-serial", "chardev:results",
	)
}

// qbootPath is qemu's minimal firmware (Debian's qemu-system-data ships it).
// It jumps straight to the kernel: seconds faster than SeaBIOS under TCG,
// most of it in loading the initramfs.
const qbootPath = "/usr/share/qemu/qboot.rom"

func defaultBIOS() string {
	if _, err := os.Stat(qbootPath); err == nil {
		return qbootPath
	}
	return ""
}

// BootError says the VM did not come up (as opposed to tests failing).
type BootError struct {
	Accel string
	Msg   string
}

func (e *BootError) Error() string { return fmt.Sprintf("VM (%s) did not boot: %s", e.Accel, e.Msg) }

// Run boots the VM and waits until it powers off, the timeout passes, or ctx
// ends; it returns how long the kernel took to reach /init (host clock).
func (v VM) Run(ctx context.Context) (boot time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()
	cmd := exec.Command(v.QEMU, v.Args()...)
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting qemu: %w", err)
	}
	upc := make(chan time.Duration, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := bufio.NewReader(stdout)
		seenUp := false
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				if !seenUp && strings.Contains(line, markerUp) {
					seenUp = true
					upc <- time.Since(start)
				}
				_, _ = io.WriteString(v.Console, line)
			}
			if err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { wg.Wait(); done <- cmd.Wait() }()

	upTimer := time.NewTimer(v.UpTimeout)
	defer upTimer.Stop()
	kill := func() { _ = cmd.Process.Kill() }
	for {
		select {
		case boot = <-upc:
			upTimer.Stop()
		case <-upTimer.C:
			kill()
			<-done
			return 0, &BootError{Accel: v.Accel, Msg: fmt.Sprintf("no sign of /init within %s%s", v.UpTimeout, qemuSays(stderr.String()))}
		case <-ctx.Done():
			kill()
			<-done
			if boot == 0 {
				return 0, &BootError{Accel: v.Accel, Msg: "interrupted or timed out before /init" + qemuSays(stderr.String())}
			}
			return boot, fmt.Errorf("VM killed after %s: %w", time.Since(start).Round(time.Second), context.Cause(ctx))
		case werr := <-done:
			if boot == 0 {
				select {
				case boot = <-upc:
				default:
				}
			}
			if boot == 0 {
				msg := "qemu exited before /init"
				if werr != nil {
					msg += " (" + werr.Error() + ")"
				}
				return 0, &BootError{Accel: v.Accel, Msg: msg + qemuSays(stderr.String())}
			}
			if werr != nil {
				return boot, fmt.Errorf("qemu: %v%s", werr, qemuSays(stderr.String()))
			}
			return boot, nil
		}
	}
}

func qemuSays(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return ": " + lastLines(s, 3)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// kvmUsable says whether /dev/kvm can be opened at all; whether it works is
// only known by booting (here it opens, then fails or hangs).
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// accelMemo remembers, per host boot, that KVM did not work, so later runs
// go straight to TCG instead of paying for the probe again.
type accelMemo struct{ path string }

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func (m accelMemo) kvmBroken() bool {
	b, err := os.ReadFile(m.path)
	return err == nil && strings.TrimSpace(string(b)) == bootID()+" kvm-broken"
}

func (m accelMemo) markKVMBroken() {
	_ = os.MkdirAll(filepath.Dir(m.path), 0o755)
	_ = os.WriteFile(m.path, []byte(bootID()+" kvm-broken\n"), 0o644)
}

// ChooseAccel turns the requested accelerator into the list to try in order.
func ChooseAccel(req string, memo accelMemo) ([]string, error) {
	switch req {
	case "", "auto":
		if kvmUsable() && !memo.kvmBroken() {
			return []string{"kvm", "tcg"}, nil
		}
		return []string{"tcg"}, nil
	case "kvm", "tcg":
		return []string{req}, nil
	}
	return nil, errors.New("accel must be auto, kvm or tcg")
}
