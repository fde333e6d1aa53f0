#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and demo enilab:
# Debian packages (when root and missing) and pinned Go tools into ./bin.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=()
command -v ip >/dev/null 2>&1 || pkgs+=(iproute2)
[ -x /usr/bin/aws ] || pkgs+=(awscli)
# fakeec2's conformance test regenerates its filter lists from botocore's EC2 model
python3 -c 'import botocore' >/dev/null 2>&1 || pkgs+=(python3-botocore)
command -v protoc >/dev/null 2>&1 || pkgs+=(protobuf-compiler)
command -v nft >/dev/null 2>&1 || pkgs+=(nftables)
command -v ping >/dev/null 2>&1 || pkgs+=(iputils-ping)
# ipamd's SNAT and connmark rules are inspected with the tool an operator uses
command -v iptables-save >/dev/null 2>&1 || pkgs+=(iptables)
# the HTML report is checked in a real headless browser
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
# make bench-fleet reports the full-size fleet's peak memory with GNU time
[ -x /usr/bin/time ] || pkgs+=(time)
if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  else
    echo "setup: not root, skipping Debian packages: ${pkgs[*]} (the tests that need them skip)" >&2
  fi
fi

# Go tools, pinned; installed once into ./bin.
mkdir -p bin
install_tool() { # name module@version
  if [ ! -x "bin/$1" ]; then
    echo "setup: go install $2"
    GOBIN="$PWD/bin" go install "$2"
  fi
}
install_tool cnitool github.com/containernetworking/cni/cnitool@v1.3.1
install_tool ginkgo github.com/onsi/ginkgo/v2/ginkgo@v2.34.0
install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
