#!/usr/bin/env bash
# The one command that proves the GPU path (benchmarks/gpu_check.py), on a machine with a GPU and no network.
# Carry torchsummary's wheel in .whl/ (see README "Measuring on a GPU"); every figure lands in OUT (default
# ./gpu-check). Budget: about 8 minutes on one H100.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-.}/gpu-check}"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/course-site .whl/*.whl \
        && export PYTHONPATH="/tmp/course-site${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi -L 2>/dev/null || echo "no nvidia-smi: is there a GPU?"
python3 benchmarks/gpu_check.py --out "$out" "${@:2}"
