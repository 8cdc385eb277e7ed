#!/usr/bin/env bash
# Runs a command that does not watch its stdin (the gateway) and stops it with SIGTERM once this
# wrapper's stdin closes: the harness holds the other end of that pipe, which the kernel closes
# when the harness exits for any reason, SIGKILL included — so no server outlives a run.
"$@" </dev/null &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
cat >/dev/null
kill -TERM "$child" 2>/dev/null
wait "$child"
