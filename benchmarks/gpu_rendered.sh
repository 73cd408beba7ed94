#!/bin/bash
# Train the second opinion (and optionally the first network) with a fifth of the digits
# rendered in every realistic style (`rendered=0.2`) on a lent GPU, then read the
# realistic benchmark's images with the shipped default and the new cascades side by
# side on that machine's 16 cores (benchmarks/bench_seeds.py), as run on 2026-11-28.
#
# The machine has torch (CUDA) but no internet; it is given, in folders ignored by git:
#   .whl/    wheels for Python 3.12: skorch, pyspng, skops, prettytable, wcwidth, pooch, platformdirs
#   .mnist/  the four MNIST .gz files
#   .fonts/  the DejaVu fonts the negatives' letters are set in (as on the CPU machine)
#   .runs/   bundles trained elsewhere: reader (the shipped first network), rend20 (optional)
# Usage, from the repository root:  OUT=/some/dir SEEDS=0-19 bash benchmarks/gpu_rendered.sh
set -o pipefail
OUT=${OUT:-/tmp/digitrec-gpu}
DEVICE=${DEVICE:-cuda}
SEEDS=${SEEDS:-0-19}
JOBS=${JOBS:-16}
R=${R:-/tmp/rendered}
mkdir -p "$OUT" "$R"
WHEELS=${WHEELS:-.whl}
if [ -d "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src:$PWD/benchmarks PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 DIGITREC_DATA=$PWD/.mnist
if [ -d .fonts ] && [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  mkdir -p /usr/share/fonts/truetype/dejavu && cp .fonts/*.ttf /usr/share/fonts/truetype/dejavu/
fi
nvidia-smi -L 2>/dev/null; nproc
python3 -c "import numpy, scipy, PIL, sklearn, onnxruntime; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'pillow', PIL.__version__, 'sklearn', sklearn.__version__, 'ort', onnxruntime.__version__)"
python3 benchmarks/gpu_reader.py --data-dir .mnist --out "$R" --variant rend20-x4 --device "$DEVICE" --threads "$JOBS" $TRAIN_ARGS | tee "$OUT/train.jsonl" || exit 1
models=(--model default)
python3 -m digitrec cascade .runs/reader "$R/rend20-x4" --weight 0.8 --out "$R/c-reader" --name c-reader --json > "$OUT/c-reader.json" && models+=(--model "$R/c-reader")
if [ -d .runs/rend20 ]; then
  python3 -m digitrec cascade .runs/rend20 "$R/rend20-x4" --weight 0.8 --out "$R/c-rend20" --name c-rend20 --json > "$OUT/c-rend20.json" && models+=(--model "$R/c-rend20")
fi
cp -r "$R/rend20-x4" "$OUT/" 2>/dev/null
python3 benchmarks/bench_seeds.py --seeds "$SEEDS" "${models[@]}" --jobs "$JOBS" 2>"$OUT/seeds.err" | tee "$OUT/seeds.md"
