#!/usr/bin/env bash
# Run benchmarks/gpu_bench.py on a GPU machine that has a copy of the tree but not the project's venv.
# Picks the first Python that imports torch: $PYTHON, the project venv, system python3, /tmp/v (a venv made
# here with pip, only if the machine can reach PyPI). Says which one it used. Arguments go to gpu_bench.py.
set -uo pipefail
cd "$(dirname "$0")/.."
has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
PY=""
for cand in "${PYTHON:-}" .venv/bin/python python3 /tmp/v/bin/python; do
  if [ -n "$cand" ] && command -v "$cand" >/dev/null 2>&1 && has_torch "$cand"; then PY="$cand"; break; fi
done
if [ -z "$PY" ]; then
  echo "gpu_run: no python with torch found; creating /tmp/v (needs internet)" >&2
  python3 -m venv /tmp/v && /tmp/v/bin/pip install -q torch numpy safetensors && PY=/tmp/v/bin/python
fi
if [ -z "$PY" ] || ! has_torch "$PY"; then
  echo "gpu_run: FAILED: no python with torch (system python3 has none and pip could not install it)" >&2
  exit 3
fi
echo "gpu_run: using $(command -v "$PY") ($("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())'))" >&2
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null >&2 || true
exec timeout 470 "$PY" benchmarks/gpu_bench.py "$@"
