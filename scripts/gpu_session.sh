#!/usr/bin/env bash
# A study on a lent GPU machine, from the repository root: the runner (scripts/run.py) with --device cuda, its records
# written under $OUT (copy them into results/ afterwards). The machine carries the four Fashion-MNIST .gz files in
# .fmnist/ and the wheels it lacks in .whl/.
#   bash scripts/gpu_session.sh STUDY [run.py options ...]     e.g.  bash scripts/gpu_session.sh cpu94-test --seeds 0,1,2,3,4
set -eu
study=$1; shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD FMNIST_DATA=$PWD/.fmnist PYTHONUNBUFFERED=1 XDG_CACHE_HOME=/tmp/cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 scripts/run.py "$study" --device cuda --out "$OUT/$study.jsonl" "$@" 2>&1 | tee "$OUT/$study.log"
