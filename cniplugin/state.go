package cniplugin

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// record is what the plugin remembers about one attachment between
// commands: the table of its secondary-ENI rule (prevResult cannot say) and
// enough for GC to release it when the runtime has forgotten it.
type record struct {
	Network      string     `json:"network"`
	ContainerID  string     `json:"containerID"`
	IfName       string     `json:"ifName"`
	Netns        string     `json:"netns,omitempty"`
	PodNamespace string     `json:"podNamespace,omitempty"`
	PodName      string     `json:"podName,omitempty"`
	PodUID       string     `json:"podUID,omitempty"`
	HostVeth     string     `json:"hostVeth"`
	IP           netip.Addr `json:"ip"`
	DeviceNumber int        `json:"deviceNumber"`
	Table        int        `json:"table"`
	// VLAN is a branch ENI pod's VLAN id (0: no branch ENI).
	VLAN int `json:"vlan,omitempty"`
}

type store struct{ dir string }

func recordFile(network, containerID, ifName string) string {
	sum := sha1.Sum([]byte(network + "\x00" + containerID + "\x00" + ifName))
	return hex.EncodeToString(sum[:12]) + ".json"
}

func (s store) path(network, containerID, ifName string) string {
	return filepath.Join(s.dir, recordFile(network, containerID, ifName))
}

// put writes the record atomically (temp file + rename) so a concurrent GC
// never reads half of one.
func (s store) put(r record) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("state record: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("state record: %w", err)
	}
	if err := os.Rename(f.Name(), s.path(r.Network, r.ContainerID, r.IfName)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("state record: %w", err)
	}
	return nil
}

func (s store) get(network, containerID, ifName string) (record, bool) {
	data, err := os.ReadFile(s.path(network, containerID, ifName))
	if err != nil {
		return record{}, false
	}
	var r record
	if json.Unmarshal(data, &r) != nil {
		return record{}, false
	}
	return r, true
}

func (s store) remove(network, containerID, ifName string) error {
	err := os.Remove(s.path(network, containerID, ifName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state record: %w", err)
	}
	return nil
}

// list returns the records of one network; unreadable files are skipped.
func (s store) list(network string) ([]record, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var out []record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(data, &r) != nil || r.Network != network {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
