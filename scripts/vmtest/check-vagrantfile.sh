#!/usr/bin/env bash
# Syntax check of the Vagrantfile for CI: `vagrant validate` where Vagrant is
# installed, else `ruby -c` (Debian's ruby is installed when missing and we
# are root), plus a check that the provisioning shell script parses.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
if command -v vagrant >/dev/null 2>&1; then
  vagrant validate
fi
if ! command -v ruby >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "check-vagrantfile: installing Debian's ruby"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends ruby >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends ruby >/dev/null; }
  else
    echo "check-vagrantfile: ruby not found (apt-get install ruby)" >&2
    exit 1
  fi
fi
ruby -c Vagrantfile
# The provisioning script is a Ruby heredoc: extract it and let bash parse it.
ruby -e 'src = File.read("Vagrantfile"); m = src.match(/PROVISION = <<~.SHELL.\n(.*?)^SHELL$/m) or abort("check-vagrantfile: no PROVISION heredoc"); print m[1].gsub(/^  /, "")' | bash -n
echo "check-vagrantfile: Vagrantfile and its provisioning script parse"
