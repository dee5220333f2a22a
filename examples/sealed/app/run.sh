#!/bin/sh
# The sealed application: prints its (secret) configuration, then waits, recording the signals it gets.
# Runs with its own directory as the working directory ($MAMORI_APP_DIR), decrypted on tmpfs.
set -u
log="${SIGNAL_LOG:-/dev/null}"
trap 'echo TERM >> "$log"; echo "app: got SIGTERM"; exit 143' TERM
trap 'echo HUP >> "$log"; echo "app: got SIGHUP"' HUP
trap 'echo USR1 >> "$log"; echo "app: got SIGUSR1"' USR1
echo "app: running in $PWD"
cat ./config.txt
case "${1:-}" in
  exit) exit "${2:-0}" ;;
  wait)
    echo "app: ready"
    i=0
    while [ "$i" -lt "${2:-600}" ]; do sleep 0.1 & wait $!; i=$((i + 1)); done
    ;;
esac
