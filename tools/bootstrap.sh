#!/usr/bin/env bash
# Sets up everything vfpool-tui needs on Debian, from nothing: apt packages, then ./.venv.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev libvirt-clients
          libxml2-utils umockdev gir1.2-umockdev-1.0 python3-gi tmux)
# the real-daemon tests (tests/real/): a private libvirtd + virtlogd + QEMU, run as root in private
# namespaces (tests/support/private_libvirtd.py). Not libvirt-daemon-system: it pulls in systemd and
# starts services; the tests write their own configs. iptables: libvirt sets rules for any network.
APT_PKGS+=(libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 iptables iproute2 util-linux)
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "bootstrap: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    echo "bootstrap: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.vfpool-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    # every package at the version in constraints.txt (the snapshots depend on Textual and Rich);
    # pipefail keeps pip's exit status; the filter only drops pip's noise about local indexes
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[test]' 2>&1 | { grep -v -e '^WARNING: Location' >&2 || true; }
    touch "$stamp"
fi
