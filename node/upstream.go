package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// UpstreamPluginEnv names an upstream aws-cni binary explicitly, over the
// places UpstreamPlugin looks.
const UpstreamPluginEnv = "ENILAB_UPSTREAM_CNI"

// upstreamRel is where `make upstream` puts upstream's aws-cni, relative to
// the repository (and, as bin/enilab's sibling, to the enilab binary's
// directory).
const upstreamRel = "bin/upstream/aws-cni"

// ErrNoUpstreamPlugin is UpstreamPlugin's error when no upstream aws-cni is
// built; a test skips on it.
var ErrNoUpstreamPlugin = errors.New("upstream aws-cni is not built: run `make upstream` " +
	"(it builds bin/upstream/aws-cni from the pinned github.com/aws/amazon-vpc-cni-k8s v1.23.1 module), " +
	"or set " + UpstreamPluginEnv + " to an aws-cni binary")

// UpstreamPlugin finds upstream's aws-cni (the pinned VPC CNI's
// cmd/routed-eni-cni-plugin): $ENILAB_UPSTREAM_CNI, else upstream/aws-cni
// beside the running executable (bin/enilab), else bin/upstream/aws-cni in
// the working directory or the nearest parent holding one (the repository,
// for go run and go test).
func UpstreamPlugin() (string, error) {
	if p := os.Getenv(UpstreamPluginEnv); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s: %w", UpstreamPluginEnv, err)
		}
		return filepath.Abs(p)
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "upstream"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, filepath.Dir(upstreamRel)))
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, filepath.Base(upstreamRel))
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", ErrNoUpstreamPlugin
}
