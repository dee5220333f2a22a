#!/usr/bin/env bash
# Debian packages the end-to-end tests use, installed only when missing (needs root and apt):
#   docker.io       dockerd, the docker CLI, containerd, runc (the tests start private daemons)
#   busybox-static  the one binary of the test images (FROM scratch)
#   postgresql      the shared decision/event store (the tests start a private cluster)
#   softhsm2        a PKCS#11 token (SoftHSM2) for the HSM key-wrapping tests
#   docker-registry a Distribution registry on 127.0.0.1 for the image and signature tests
#   debootstrap     a minimal Debian rootfs, the test image whose packages are inventoried
#   skopeo          an independent peer that writes OCI layouts and checks signatures
#   gnupg           gpg/gpgv: GPG simple signing (mamori sign --gpg-key) and the skopeo signedBy interop
#   python3-apt     apt_pkg, the reference for the dpkg version-ordering differential test
#   stunnel4        the peer of the mTLS ambassador benchmark
#   criu            docker checkpoint for forensic memory capture (reported unavailable where the kernel refuses)
#   time            GNU time: peak memory of each tool in bench/image.py
# No package may start its own service: service starts are denied while installing, and the
# Docker units are disabled afterwards, so nothing listens on the default sockets.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need+=(softhsm2)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
{ command -v gpg && command -v gpgv && command -v gpgconf; } >/dev/null 2>&1 || need+=(gnupg)
/usr/bin/python3 -c 'import apt_pkg' >/dev/null 2>&1 || need+=(python3-apt)
command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 || need+=(stunnel4)
command -v criu >/dev/null 2>&1 || need+=(criu)
[ -x /usr/bin/time ] || need+=(time)
if [ "${#need[@]}" -eq 0 ]; then
    echo "install-system-deps: every test component is already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: need root to install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# --no-install-recommends: no cgroupfs-mount, git or other extras.
apt-get install -y -qq --no-install-recommends "${need[@]}"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.service docker.socket docker-registry.service >/dev/null 2>&1 || true
fi
echo "install-system-deps: installed ${need[*]}"
