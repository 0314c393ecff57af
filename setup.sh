#!/usr/bin/env bash
# Set up mapexplorer on a Debian/Ubuntu machine (idempotent), then optionally run something:
#
#   sudo ./setup.sh            set up only
#   sudo ./setup.sh demo       set up, then open the explorer on the demo maps
#   sudo ./setup.sh test       set up, then run the whole test suite (what .ci/run calls)
#   sudo ./setup.sh tui ARGS   set up, then run mapexplorer ARGS
#
# Set-up: apt packages (BCC, bpftool, kernel headers, tmux), a link to the installed headers when the
# running kernel has none, tracefs and bpffs mounts, a .venv with --system-site-packages from the distro
# python (so `import bcc` works), the project with its test extra, and /usr/local/bin/mapexplorer.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="$here/.venv"
say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh needs root (it installs packages and mounts bpffs): try sudo $0 $*" >&2
    exit 1
fi

apt_packages=(bpfcc-tools python3-bpfcc bpftool linux-headers-amd64 tmux python3-venv python3-numpy)
# The test suite scrapes `mapexplorer export` with a real Prometheus server (started by the tests on a
# loopback port): only `setup.sh test` installs it.
if [ "${1:-}" = test ]; then apt_packages+=(prometheus); fi
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q "${missing[@]}" >/dev/null
fi

# BCC compiles against /lib/modules/$(uname -r)/build and .../source; this kernel may ship no headers of its
# own. Debian splits the headers in two: build -> the -amd64 half, source -> the -common half (kconfig.h).
kdir="/lib/modules/$(uname -r)"
newest() { ls -d /usr/src/linux-headers-*-"$1" 2>/dev/null | sort -V | tail -n 1 || true; }
if [ ! -e "$kdir/build" ]; then
    headers=$(newest amd64)
    if [ -n "$headers" ]; then
        mkdir -p "$kdir"
        ln -sfn "$headers" "$kdir/build"
        say "no headers for $(uname -r): linked $kdir/build -> $headers (BCC demos only use tracepoint args and helpers)"
    else
        say "no kernel headers found: the BCC demos will not compile"
    fi
fi
if [ -e "$kdir/build" ] && [ ! -e "$kdir/source/include/linux/kconfig.h" ]; then
    common=$(newest common)
    if [ -n "$common" ]; then
        ln -sfn "$common" "$kdir/source"
        say "linked $kdir/source -> $common"
    fi
fi

mountpoint -q /sys/kernel/tracing || { mount -t tracefs tracefs /sys/kernel/tracing && say "mounted tracefs"; }
mountpoint -q /sys/fs/bpf || { mount -t bpf bpf /sys/fs/bpf && say "mounted bpffs at /sys/fs/bpf"; }

stamp="$venv/.installed"
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv (with the distro's site-packages, for BCC)"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    say "installing mapexplorer and its test extra into $venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$here[test]"
    touch "$stamp"
fi
ln -sfn "$venv/bin/mapexplorer" /usr/local/bin/mapexplorer

case "${1:-}" in
    "") say "ready: sudo mapexplorer --demo" ;;
    demo) shift; exec "$venv/bin/mapexplorer" --demo "$@" ;;
    test) shift; cd "$here"; exec "$venv/bin/python" -m pytest "$@" ;;
    tui) shift; exec "$venv/bin/mapexplorer" "$@" ;;
    *) echo "usage: $0 [demo|test|tui ARGS]" >&2; exit 2 ;;
esac
