#!/usr/bin/env bash
# Install a PostgreSQL server for the tests of the shared store (several mamori replicas on one
# database). Debian's postgresql; idempotent; the tests start their own private cluster with
# initdb/pg_ctl in a temporary directory, so the package's own cluster is not started.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    echo "install-postgres: PostgreSQL server already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgres: need root to install postgresql" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql
echo "install-postgres: installed postgresql"
