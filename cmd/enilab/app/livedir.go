package app

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/enilab/enilab/internal/didyoumean"
	"github.com/enilab/enilab/scenario/nodelab"
)

// LiveRoot is where live labs keep their run directories: on tmpfs, so a
// reboot leaves nothing. LiveRootEnv overrides it (tests).
const (
	LiveRoot    = "/run/enilab"
	LiveRootEnv = "ENILAB_RUN_DIR"
)

// Files of a live lab's run directory, LiveRoot/<lab>/.
const (
	pidFile    = "pid"
	stateFile  = "state.json"
	socketFile = "api.sock"
	logFile    = "supervisor.log"
)

// superviseCmd is the hidden command the supervisor runs as; it is in
// the supervisor's command line, which is how a pid is known to be one.
const superviseCmd = "__supervise"

func liveRoot() string {
	if d := os.Getenv(LiveRootEnv); d != "" {
		return d
	}
	return LiveRoot
}

// runDir is a lab's run directory.
func runDir(name string) string { return filepath.Join(liveRoot(), name) }

// labState is state.json: what the CLI needs to reach a live lab and look
// inside it. The supervisor writes it once the nodes are up and after
// every step (pods come and go).
type labState struct {
	Name     string    `json:"name"` // also the prefix of every namespace and link
	Scenario string    `json:"scenario"`
	File     string    `json:"file"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Socket   string    `json:"socket"`
	Log      string    `json:"log"`
	// LabDir holds the nodes' ipamd.log and plugin.log.
	LabDir string               `json:"labDir"`
	Nodes  []nodelab.NodeInside `json:"nodes"`
}

// liveLab is one run directory as found.
type liveLab struct {
	name  string
	pid   int
	alive bool
	// starting is a run directory `up` has just made, before its
	// supervisor wrote its pid.
	starting bool
	state    *labState // nil until the supervisor wrote it
}

// startGrace is how long a run directory without a pid counts as starting.
const startGrace = time.Minute

// nameRE is the lab prefix's alphabet (node.LabConfig.Validate's).
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// maxNameLen is node's longest prefix.
const maxNameLen = 24

func checkName(name string) error {
	if !nameRE.MatchString(name) || len(name) > maxNameLen {
		return fmt.Errorf("lab name %q: want lower-case letters, digits and '-', at most %d characters (it prefixes every namespace)", name, maxNameLen)
	}
	return nil
}

// defaultName is the scenario file's name, made a prefix, with a short
// random suffix: tour-3fa2.
func defaultName(file string) string {
	base := strings.ToLower(strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
	base = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(base, "-")
	base = strings.Trim(base, "-")
	if len(base) > maxNameLen-5 {
		base = strings.TrimRight(base[:maxNameLen-5], "-")
	}
	if base == "" {
		base = "lab"
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return base + "-" + hex.EncodeToString(b)
}

// readLab reads a run directory; a lab whose supervisor is gone is not
// alive (its directory is stale).
func readLab(name string) (liveLab, error) {
	dir := runDir(name)
	if _, err := os.Stat(dir); err != nil {
		return liveLab{name: name}, err
	}
	l := liveLab{name: name}
	if data, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil {
		l.pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	l.alive = l.pid > 0 && isSupervisor(l.pid, name)
	if fi, err := os.Stat(dir); err == nil && l.pid == 0 {
		l.starting = time.Since(fi.ModTime()) < startGrace
	}
	if data, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		var st labState
		if json.Unmarshal(data, &st) == nil {
			l.state = &st
		}
	}
	return l, nil
}

// isSupervisor reports whether pid is the supervisor of the named lab, not
// just any process that reused the number.
func isSupervisor(pid int, name string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return slices.Contains(args, superviseCmd) && slices.Contains(args, name)
}

// listLabs returns every run directory, by name.
func listLabs() ([]liveLab, error) {
	entries, err := os.ReadDir(liveRoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("live labs: %w", err)
	}
	var out []liveLab
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if l, err := readLab(e.Name()); err == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// findLab is the named lab, or an error naming the live labs there are.
func findLab(name string) (liveLab, error) {
	l, err := readLab(name)
	if err == nil {
		return l, nil
	}
	labs, _ := listLabs()
	var names []string
	for _, x := range labs {
		names = append(names, x.name)
	}
	msg := fmt.Sprintf("no live lab %q", name)
	switch s := didyoumean.Closest(name, names); {
	case s != "":
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	case len(names) > 0:
		msg += " (live labs: " + strings.Join(names, ", ") + ")"
	default:
		msg += " (none is up; start one with `enilab up FILE`)"
	}
	return l, &exitError{code: ExitUsage, err: errors.New(msg)}
}

// overlapping is a live lab whose name is a prefix of name or the other
// way round: sweeping one would touch the other's namespaces.
func overlapping(name string, labs []liveLab) string {
	for _, l := range labs {
		if l.name != name && (strings.HasPrefix(l.name, name) || strings.HasPrefix(name, l.name)) {
			return l.name
		}
	}
	return ""
}

// writeState writes state.json atomically (readers never see half).
func writeState(st *labState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := runDir(st.Name)
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// signalSupervisor sends the lab's supervisor SIGTERM: it tears down and
// exits.
func signalSupervisor(l liveLab) error {
	if !isSupervisor(l.pid, l.name) {
		return nil
	}
	if err := syscall.Kill(l.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("lab %s: signalling supervisor %d: %w", l.name, l.pid, err)
	}
	return nil
}
