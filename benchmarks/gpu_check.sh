#!/usr/bin/env bash
# Everything issue 23 measures on a GPU, in one go (a few minutes on one H100 or H200):
#   bash benchmarks/gpu_check.sh [output folder]
# 1. tests/test_cuda.py: the CUDA graph blocks equal the step-by-step run (eager and compiled), the
#    hot swap on CUDA, and the rest of the CUDA path; tests/test_blocks.py for the block logic
# 2. benchmarks/roofline.py --quick: the measured peak, each workload's fraction of its limit
#    (goals: phase >= 0.30, dims >= 0.20), last line phase=F dims=F sparsity=F correlated=F
# 3. benchmarks/train_throughput.py --quick --no-naive: engine vs the Anthropic-style loop and the
#    paper reproduction's training time (paper_estimate_minutes; goal: at most 0.5, i.e. 30 s)
# Each part's output goes to the terminal and to <output folder>/<part>.txt.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${1:-${OUT:-/tmp/supertui-gpu-check}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/gpu.txt"
timeout 300 python -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_blocks.py 2>&1 | tail -30 | tee "$out/tests.txt"
timeout 300 python benchmarks/roofline.py --quick 2>&1 | tee "$out/roofline.txt"
timeout 240 python benchmarks/train_throughput.py --quick --no-naive --activations relu 2>&1 | tee "$out/throughput.txt"
