package datastore

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzCheckpointDecode feeds arbitrary checkpoint files (a file on the node
// anyone with root can damage): Decode never panics, every refusal is
// ErrCorruptCheckpoint, and what it accepts survives Save and Load through
// a real file unchanged (upstream's ReadBackingStore/writeBackingStore
// round trip).
func FuzzCheckpointDecode(f *testing.F) {
	f.Add([]byte(`{"version":"vpc-cni-ipam/1","allocations":[{"containerID":"c1","ifName":"eth0","networkName":"aws-cni","ipv4":"10.0.1.5","allocationTimestamp":1,"metadata":{"k8sPodNamespace":"default","k8sPodName":"web-1"}}]}`))
	f.Add([]byte(`{"version":"vpc-cni-ipam/1","allocations":[],"cooling":[{"ipv4":"10.0.1.6","releasedAt":5}]}`))
	f.Add([]byte(`{"version":"vpc-cni-ipam/0","allocations":null}`))
	f.Add([]byte(`{"version":"vpc-cni-ipam/1","allocations":[null]}`))
	f.Add([]byte(`{"version":"vpc-cni-ipam/1","allocations":[{"ipv4":"10.0.1.`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("refusal is not ErrCorruptCheckpoint: %v", err)
			}
			return
		}
		file := File{Path: filepath.Join(dir, "checkpoint.json")}
		if err := file.Save(cp); err != nil {
			t.Fatalf("save an accepted checkpoint: %v", err)
		}
		back, found, err := file.Load()
		if err != nil || !found {
			t.Fatalf("load what was saved: found %v, %v", found, err)
		}
		if normal(t, cp) != normal(t, back) {
			t.Fatalf("round trip changed the checkpoint:\n%+v\n%+v", cp, back)
		}
	})
}

// normal is cp as JSON, so nil and empty lists compare equal.
func normal(t *testing.T, cp Checkpoint) string {
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
