#!/bin/bash
# GPU checks for digitrec, as run on a lent NVIDIA H100 on 2026-11-26 (docs/benchmarks.md):
# the CNN tests (one of them needs CUDA), then the cnn-large and cnn recipes trained with --device cuda.
#
# The machine it ran on had torch (CUDA) but no internet, so it was given, in two folders ignored by git:
#   .whl/   wheels for Python 3.12: skorch, scikit-learn, pyspng, skops
#           (python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl ...)
#   .mnist/ the four MNIST .gz files
# Usage, from the repository root on that machine:  OUT=/some/dir bash benchmarks/gpu_check.sh
set -o pipefail
OUT=${OUT:-/tmp/digitrec-gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, sklearn; print('torch', torch.__version__, 'sklearn', sklearn.__version__, torch.cuda.get_device_name())"
python3 -m pytest -q -p no:cacheprovider tests/test_cnn.py 2>&1 | tail -5 | tee "$OUT/pytest.txt"
for recipe in cnn-large cnn; do
  python3 -m digitrec train "$recipe" --dataset mnist --data-dir .mnist --device cuda \
    --out "$OUT/$recipe" --json --quiet 2> "$OUT/$recipe.err" | tee "$OUT/$recipe.json"
done
