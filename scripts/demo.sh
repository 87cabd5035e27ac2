#!/usr/bin/env bash
# The seqsignal demo (`make demo`). Stage 1: bring the local stack up and show its connection settings.
# LEAD: extend below the marked line (replay a dataset, start the worker, print signals).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# Prints export lines on stdout; status lines (ready time, pids) on stderr.
eval "$("$BIN/seqsignal" stack up)"
echo "connection settings (also in $("$BIN/python" -c 'from seqsignal.settings import default_stack_dir as d; print(d())')/stack.env):"
echo "  SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS=$SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS"
echo "  SEQSIGNAL_REDIS__URL=$SEQSIGNAL_REDIS__URL"
"$BIN/seqsignal" stack status

# ---- LEAD: demo steps go here ------------------------------------------------------------------
