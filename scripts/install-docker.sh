#!/usr/bin/env bash
# Install a Docker Engine for the AuthZ end-to-end test: Debian's docker.io (dockerd, the
# docker CLI, containerd, runc) and busybox-static (the one binary of the test image).
# Idempotent: does nothing when dockerd and busybox are already there. Needs root and apt.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
if [ "${#need[@]}" -eq 0 ]; then
    echo "install-docker: dockerd and busybox already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-docker: need root to install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package must not start a daemon on the default socket: deny service starts while installing
# (only when no policy-rc.d is in place already; ours is removed again on exit).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# --no-install-recommends: no cgroupfs-mount, git or other extras; the daemon is started by the test.
apt-get install -y -qq --no-install-recommends "${need[@]}"
# The package's service must not start a second daemon on the default socket.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
fi
echo "install-docker: installed ${need[*]}"
