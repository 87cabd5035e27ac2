#!/usr/bin/env bash
# The seqsignal demo (`make demo`): the local stack, the default models (trained once, then cached in the
# registry), the worker, real data replayed into Kafka, and the signals shown live. It leaves the stack and
# the worker running; `make stack-down` stops both.
# Knobs: DEMO_SECONDS (how long the live view runs, default 60), DEMO_ACTIONS (Higgs actions, default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# Prints export lines on stdout; status lines (ready time, pids) on stderr.
eval "$("$BIN/seqsignal" stack up)"
echo "connection settings (also in $("$BIN/python" -c 'from seqsignal.workers.settings import default_stack_dir as d; print(d())')/stack.env):"
echo "  SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS=$SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS"
echo "  SEQSIGNAL_REDIS__URL=$SEQSIGNAL_REDIS__URL"
"$BIN/seqsignal" stack status


STACK_DIR=$("$BIN/python" -c 'from seqsignal.workers.settings import default_stack_dir as d; print(d())')
DEMO_SECONDS=${DEMO_SECONDS:-60}
DEMO_ACTIONS=${DEMO_ACTIONS:-20000}

# 1. Models: `make models` trains the three default models once (registry: artifacts/registry).
make --no-print-directory models

# 2. The worker, in the background (log and pid in the stack's run dir).
if [ -f "$STACK_DIR/worker.pid" ] && kill -0 "$(cat "$STACK_DIR/worker.pid")" 2>/dev/null; then
  echo "worker already running (pid $(cat "$STACK_DIR/worker.pid"))"
else
  setsid nohup "$BIN/seqsignal" worker >"$STACK_DIR/worker.log" 2>&1 &
  echo $! >"$STACK_DIR/worker.pid"
  echo "worker started (pid $!, log $STACK_DIR/worker.log)"
fi
port=${SEQSIGNAL_WEB_PORT:-6066}
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$STACK_DIR/worker.pid")" 2>/dev/null || { echo "worker exited; see $STACK_DIR/worker.log"; exit 1; }
  sleep 1
done
echo "worker ready: http://127.0.0.1:$port/readyz  metrics: http://127.0.0.1:$port/metrics"

# 3. Real data into the input topics, with 1% invalid records that end in the dead-letter topic.
"$BIN/seqsignal" replay higgs --limit "$DEMO_ACTIONS" --rate 1000 --invalid-fraction 0.01 \
  >"$STACK_DIR/replay-higgs.log" 2>&1 &
"$BIN/seqsignal" replay tweeteval --rate 100 --invalid-fraction 0.01 >"$STACK_DIR/replay-tweets.log" 2>&1 &
"$BIN/seqsignal" replay rumoureval --rate 100 >"$STACK_DIR/replay-threads.log" 2>&1 &

# 4. The signals, live.
"$BIN/seqsignal" watch --duration "$DEMO_SECONDS"
echo "The stack and the worker keep running: seqsignal watch | seqsignal replay ... | make stack-down"
