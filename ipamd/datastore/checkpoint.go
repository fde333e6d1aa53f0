package datastore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// CheckpointVersion is upstream's checkpoint format version; the file is
// readable by the upstream ipamd (the cooling list is an enilab extension
// it ignores).
const CheckpointVersion = "vpc-cni-ipam/1"

// ErrCorruptCheckpoint: the file exists but is not a checkpoint (truncated,
// garbled, wrong version). As upstream's ReadBackingStore, ipamd then fails
// start-up: aws-node exits and kubelet restarts it until the file is fixed
// or removed.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

// ErrCheckpointVersion: the file parses but its version is not
// CheckpointVersion (upstream: "unexpected checkpointVersion"). It is also
// an ErrCorruptCheckpoint.
var ErrCheckpointVersion = errors.New("unexpected checkpointVersion")

// Checkpoint is the persisted state: who holds which address.
type Checkpoint struct {
	Version     string             `json:"version"`
	Allocations []*CheckpointEntry `json:"allocations"`
	Cooling     []*CoolingEntry    `json:"cooling,omitempty"`
}

// CheckpointEntry is one assignment, in upstream's layout.
type CheckpointEntry struct {
	Key
	IPv4                string   `json:"ipv4,omitempty"`
	IPv6                string   `json:"ipv6,omitempty"`
	AllocationTimestamp int64    `json:"allocationTimestamp"`
	Metadata            Metadata `json:"metadata"`
}

// Metadata is upstream's IPAMMetadata plus the pod's netns path.
type Metadata struct {
	K8SPodNamespace string `json:"k8sPodNamespace,omitempty"`
	K8SPodName      string `json:"k8sPodName,omitempty"`
	Netns           string `json:"netns,omitempty"`
}

// CoolingEntry is an address released at ReleasedAt (unix nanoseconds of
// lab time), so the cooldown survives a restart.
type CoolingEntry struct {
	IPv4       string `json:"ipv4,omitempty"`
	IPv6       string `json:"ipv6,omitempty"` // IPv6 mode
	ReleasedAt int64  `json:"releasedAt"`
}

// Checkpointer persists checkpoints.
type Checkpointer interface {
	Save(Checkpoint) error
	// Load returns the last saved checkpoint; found is false when there is
	// none. A damaged file yields ErrCorruptCheckpoint.
	Load() (cp Checkpoint, found bool, err error)
}

// File is a Checkpointer writing one JSON file atomically: a temporary file
// in the same directory, fsync, rename, so a crash leaves either the old or
// the new checkpoint, never a mix.
type File struct {
	Path string
}

// Save writes cp to f.Path atomically.
func (f File) Save(cp Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint temp file: %w", err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write checkpoint %s: %w", f.Path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("write checkpoint %s: %w", f.Path, err)
	}
	if err := os.Rename(name, f.Path); err != nil {
		os.Remove(name)
		return fmt.Errorf("write checkpoint %s: %w", f.Path, err)
	}
	return nil
}

// Load reads f.Path.
func (f File) Load() (Checkpoint, bool, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint %s: %w", f.Path, err)
	}
	cp, err := Decode(b)
	if err != nil {
		return Checkpoint{}, true, fmt.Errorf("checkpoint %s: %w", f.Path, err)
	}
	return cp, true, nil
}

// Decode parses and checks a checkpoint; every problem is ErrCorruptCheckpoint.
func Decode(b []byte) (Checkpoint, error) {
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrCorruptCheckpoint, err)
	}
	if cp.Version != CheckpointVersion {
		// upstream's ReadBackingStore wording: "%v/%v", found then wanted.
		return Checkpoint{}, fmt.Errorf("%w: %w: %s/%s", ErrCorruptCheckpoint, ErrCheckpointVersion, cp.Version, CheckpointVersion)
	}
	for i, e := range cp.Allocations {
		if e == nil {
			return Checkpoint{}, fmt.Errorf("%w: allocation %d is null", ErrCorruptCheckpoint, i)
		}
		if err := checkEntryAddr(e); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: allocation %d: %w", ErrCorruptCheckpoint, i, err)
		}
		if e.ContainerID == "" {
			return Checkpoint{}, fmt.Errorf("%w: allocation %d: empty containerID", ErrCorruptCheckpoint, i)
		}
	}
	return cp, nil
}

// checkEntryAddr accepts an entry with an IPv4 address (IPv4 mode) or,
// without one, an IPv6 address (IPv6 mode), as upstream writes them.
func checkEntryAddr(e *CheckpointEntry) error {
	if e.IPv4 == "" && e.IPv6 != "" {
		if ip, err := netip.ParseAddr(e.IPv6); err != nil || !ip.Is6() {
			return fmt.Errorf("ipv6 %q", e.IPv6)
		}
		return nil
	}
	if _, err := netip.ParseAddr(e.IPv4); err != nil {
		return fmt.Errorf("ipv4 %q", e.IPv4)
	}
	return nil
}

// Memory is an in-memory Checkpointer for tests and benchmarks.
type Memory struct {
	CP    Checkpoint
	Saved bool
	Err   error // returned by Save when set
}

// Save keeps cp.
func (m *Memory) Save(cp Checkpoint) error {
	if m.Err != nil {
		return m.Err
	}
	m.CP, m.Saved = cp, true
	return nil
}

// Load returns the kept checkpoint.
func (m *Memory) Load() (Checkpoint, bool, error) { return m.CP, m.Saved, nil }
