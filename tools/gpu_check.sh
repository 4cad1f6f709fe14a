#!/usr/bin/env bash
# The GPU checks in one short run, for a machine with an NVIDIA GPU (the project's lent
# device machine has CuPy, PyTorch with CUDA and transformers, and no network):
#
#   1. tests/test_cupy.py: the model on CuPy against transformers' reference outputs, every
#      gradient and three AdamW steps on CuPy against NumPy's, the kernels on CuPy arrays;
#   2. benchmarks/bench.py --device cuda: inference and a training step, batch 32 x 128,
#      BERT-base size (random weights: nothing to download), minibert on CuPy against
#      PyTorch eager on CUDA, float32.
#
# Usage (from anywhere):   OUT=/some/folder tools/gpu_check.sh
# Results go to $OUT (default runs/gpu): nvidia-smi.txt, pytest-cupy.txt, bench/results.{json,md}.
# Without a GPU it says so and exits 0: nothing to check there. Where nvidia-smi lists a GPU
# that minibert cannot use (CuPy missing or broken) it exits 1, and a failed test or benchmark
# worker makes its exit status non-zero too.
# MiniLM's test runs only where its weights are already in weights/ (no download on a
# machine without network); the tiny models' tests need nothing but the checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu}"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # minibert from this checkout, installed or not

if ! why=$("$PY" -c "import numpy; from minibert.backend import to_device; to_device(numpy.zeros(1), 'cuda')" 2>&1); then
    if command -v nvidia-smi > /dev/null && nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
        # A GPU is there but CuPy cannot use it: that is a failure to report, not a skip.
        echo "gpu_check: this machine has a GPU but minibert cannot use it:"
        echo "$why" | tail -n 3
        exit 1
    fi
    echo "gpu_check: no CuPy or no CUDA GPU on this machine: skipped (nothing to check here)"
    exit 0
fi
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$PY" - > "$OUT/versions.txt" 2>&1 <<'EOF'
import cupy, numpy, sys
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__)
print("cuda runtime", cupy.cuda.runtime.runtimeGetVersion(), "device", cupy.cuda.runtime.getDeviceProperties(0)["name"])
try:
    import torch, transformers
    print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)
except ImportError as exc:
    print("no PyTorch reference:", exc)
EOF
cat "$OUT/versions.txt"

status=0
if "$PY" -c "import pytest" 2>/dev/null; then
    select=()
    [ -f weights/all-MiniLM-L6-v2/model.safetensors ] || select=(-k "not minilm")
    "$PY" -m pytest -q -p no:cacheprovider tests/test_cupy.py "${select[@]}" 2>&1 | tee "$OUT/pytest-cupy.txt"
    status=${PIPESTATUS[0]}
else
    echo "gpu_check: pytest is not installed here: the CuPy tests did not run" | tee "$OUT/pytest-cupy.txt"
    status=1
fi

# (each worker stopped after 240 s: a hang must not eat the machine's time)
"$PY" benchmarks/bench.py --device cuda --models base --repeats 5 --worker-timeout 240 --out "$OUT/bench" 2>&1 | tee "$OUT/bench.txt"
bench_status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && status=$bench_status
echo "gpu_check: done (exit status $status); results in $OUT"
exit "$status"
