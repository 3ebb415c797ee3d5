#!/usr/bin/env bash
# What ran on the lent GPU machine (an NVIDIA H200, through the workplace's device tool), from the repository root.
# It carries the four Fashion-MNIST .gz files in .fmnist/ and the wheels the machine lacks in .whl/, and writes under $OUT.
#   bash scripts/gpu_session.sh bench    # scripts/bench_gpu.py: profile, execution modes, speed recipe, 5 seeds, original recipe
#   bash scripts/gpu_session.sh grid M   # scripts/experiments.py --budget full on the GPU, $JOBS processes at once, starting runs
#                                        # for M minutes, stopped after $HARD seconds; the weights (no checkpoints) in a tarball
#   bash scripts/gpu_session.sh all S    # both in S seconds: the benchmark alone on the GPU first, then the grid in what is left
set -u
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD FMNIST_DATA=$PWD/.fmnist PYTHONUNBUFFERED=1 XDG_CACHE_HOME=/tmp/cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
case "$1" in
  bench) python3 scripts/bench_gpu.py --out "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.log" ;;
  grid)
    # MPS lets the processes' kernels run side by side instead of time-slicing the GPU; without it, they still run
    (nvidia-cuda-mps-control -d && echo "MPS started") || echo "MPS not available"
    timeout 20 python3 -c "import torch; print('CUDA in a new process:', torch.ones(1, device='cuda').item())" || { echo quit | nvidia-cuda-mps-control; echo "MPS stopped"; }
    mkdir -p "$OUT/w"
    timeout "${HARD:-100000}" python3 scripts/experiments.py --budget full --device cuda --group all --jobs "${JOBS:-12}" ${COMPILE:+--compile $COMPILE} \
      --deadline-min "$2" --weights-dir "$OUT/w" --out "$OUT/experiments.json" 2>&1 | tee "$OUT/experiments.log"
    tar czf "$OUT/best_weights.tar.gz" --exclude checkpoint.pt -C "$OUT" w && rm -rf "$OUT/w" ;;
  all)
    timeout $(( $2 / 2 + 30 )) bash "$0" bench
    MODE=$(python3 -c "import json; print(json.load(open('$OUT/bench_gpu.json')).get('mode', 'False'))" 2>/dev/null || echo False)
    LEFT=$(( $2 - ($(date +%s) - T0) ))
    echo "== $(( $(date +%s) - T0 ))s: grid with compile=$MODE, $LEFT s left"
    [ "$MODE" = False ] && MODE= ; [ "$MODE" = True ] && MODE=default
    COMPILE=$MODE timeout $(( LEFT - 15 )) bash "$0" grid "$(python3 -c "print(round(($LEFT - 100)/60, 2))")"
    [ -d "$OUT/w" ] && tar czf "$OUT/best_weights.tar.gz" -C "$OUT" w && rm -rf "$OUT/w"
    echo "== done at $(( $(date +%s) - T0 ))s" ;;
esac
