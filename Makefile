# enilab: `make demo` sets up and runs the default tour; `make test` runs every test.
GO      ?= go
FUZZTIME ?= 10s
BIN     := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
# Tests leave screenshots and reports they make here (the HTML report's browser test).
export ENILAB_ARTIFACTS ?= $(BIN)/artifacts

.PHONY: all setup build upstream upstream-agent kube test unit e2e bench bench-fleet fuzz race chaos lint demo vm-test proto generate clean

all: build

setup:
	@scripts/setup.sh

# The commands as a node runs them (internal/gobuild builds them the same way
# for tests): static, as upstream builds its plugins (CGO_ENABLED=0), and
# without grpc-go's x/net/trace, which nothing turns on. aws-cni and
# egress-cni are one plugin each; the lab binary serves both by name.
BUILD_ENV  := CGO_ENABLED=0
BUILD_TAGS := grpcnotrace
# Every command carries a stamp of the source tree (internal/buildstamp): a
# lab run by bin/enilab runs the aws-cni and egress-cni beside it only when
# they carry its stamp, and re-executes itself as its plugins otherwise.
STAMP = $(shell scripts/source-stamp.sh)
build:
	$(BUILD_ENV) $(GO) build -tags $(BUILD_TAGS) -ldflags "-X github.com/enilab/enilab/internal/buildstamp.stamp=$(STAMP)" -o $(BIN)/ ./cmd/...

# Upstream's aws-cni (VPC CNI v1.23.1, cmd/routed-eni-cni-plugin), built from
# the Go module proxy through the pinned tools module: `enilab run
# --cni-plugin upstream`, the differential suite and the side-by-side bench.
# Built as upstream's release builds it (its Makefile's build-linux:
# CGO_ENABLED=0, -buildmode=pie, -ldflags '-s -w'), so the side-by-side
# times the binary a node runs. Its version (the ClientVersion ipamd checks,
# upstream's validateVersion) is the one enilab's ipamd serves, as one
# aws-node image builds both.
IPAMD_VERSION := $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' ipamd/rpc/version.go)
UPSTREAM_BUILD := CGO_ENABLED=0 GOFLAGS=-mod=mod $(GO) build -trimpath -buildmode=pie
upstream:
	cd tools/upstream && $(UPSTREAM_BUILD) -ldflags "-s -w -X main.version=$(IPAMD_VERSION)" \
		-o $(BIN)/upstream/aws-cni github.com/aws/amazon-vpc-cni-k8s/cmd/routed-eni-cni-plugin
	cd tools/upstream && $(UPSTREAM_BUILD) -ldflags "-s -w -X main.version=$(IPAMD_VERSION)" \
		-o $(BIN)/upstream/egress-cni github.com/aws/amazon-vpc-cni-k8s/cmd/egress-cni-plugin
	cd tools/upstream && GOFLAGS=-mod=mod $(GO) build -trimpath \
		-o $(BIN)/upstream/host-local github.com/containernetworking/plugins/plugins/ipam/host-local

# Upstream's ipamd (aws-k8s-agent), for the prototype of docs/upstream-ipamd.md
# (with `make kube`: ENILAB_UPSTREAM_AGENT=$PWD/bin/upstream/aws-k8s-agent
# ENILAB_KUBE_BIN=$PWD/bin/kube go test -run TestUpstreamIPAMDPrototype ./node/).
upstream-agent:
	cd tools/upstream && GOFLAGS=-mod=mod $(GO) build -trimpath \
		-ldflags "-X github.com/aws/amazon-vpc-cni-k8s/pkg/version.Version=$(IPAMD_VERSION)" \
		-o $(BIN)/upstream/aws-k8s-agent github.com/aws/amazon-vpc-cni-k8s/cmd/aws-k8s-agent

# A Kubernetes API server for labs that run upstream's ipamd
# (docs/upstream-ipamd.md): kube-apiserver and etcd built from the pinned
# k8s.io/kubernetes through tools/kube. Not part of `make test`: a cold build
# takes minutes.
KUBE_VERSION := $(shell sed -n 's/^\tk8s.io\/kubernetes \(v[^ ]*\)$$/\1/p' tools/kube/go.mod)
KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION)))
kube:
	cd tools/kube && GOFLAGS=-mod=mod $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" \
		-o $(BIN)/kube/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
	cd tools/kube && GOFLAGS=-mod=mod $(GO) build -trimpath -o $(BIN)/kube/etcd ./cmd/etcd

# Every test: unit tests everywhere, privileged suites too when run as root.
test: setup build upstream
	$(GO) test -count=1 ./...

# Unprivileged unit tests only.
unit:
	$(GO) test -count=1 -short ./...

e2e: setup build upstream
	$(GO) test -count=1 ./e2e/... -ginkgo.v

# The performance figures against their floors, one table (COUNT=5 samples
# each; docs/performance.md). Root: the benchmarks build namespaces.
COUNT ?= 5
bench:
	COUNT=$(COUNT) GO=$(GO) scripts/bench.sh

# The fleet at full size (bench/fleet-scale-out-1000.yaml, 1,000 nodes,
# minutes and over a gigabyte): its wall time and peak memory, and the
# report's pod-ready percentiles and RequestLimitExceeded count.
bench-fleet: build
	/usr/bin/time -f 'bench-fleet: wall %e s, peak RSS %M KB' bin/enilab run --quiet --report bin/fleet-1000.json bench/fleet-scale-out-1000.yaml

# Every fuzz target for FUZZTIME each (default 10s, or a count: 5000x; CI runs
# a short count-based smoke, scripts/fuzz.sh says why).
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# The model-based random test of ipamd: N operations per seed (make chaos
# N=100000 SEED=7 for one long run; SEED=0 runs the four CI seeds).
N ?= 2000
SEED ?= 0
chaos:
	$(GO) test -count=1 -timeout 0 -run TestModelRandom -v ./ipamd/ -args -model.ops=$(N) -model.seed=$(SEED)

# Every package under the race detector (privileged suites too, as root).
# A race-built binary sleeps 1s at exit by default; the plugin's own tests
# exec their test binary as the CNI plugin, so that sleep would add 1s to
# every ADD. Labs run plugins their TestMain built plain
# (node.RunWithOwnPlugins): a race-built binary starts too slowly for
# their lab-time windows.
race: setup build
	GORACE="atexit_sleep_ms=0 $(GORACE)" $(GO) test -race -count=1 ./...

# vet, gofmt, and the import rules of docs/ARCHITECTURE.md.
lint:
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/archtest/
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

proto: setup
	$(GO) generate ./ipamd/rpc/

generate:
	$(GO) generate ./internal/ec2limits/

# The default tour: sets up, builds and runs the built-in tour scenario.
demo: setup build
	$(BIN)/enilab run scenarios/tour.yaml

# The privileged suites inside a throw-away VM (stock Debian kernel with dummy links).
vm-test: setup
	scripts/vmtest/run.sh

clean:
	rm -rf $(BIN)
