"""Latency of reading one image, decode to answer, and the cold CLI's time and memory.

In-process: `Recognizer.recognize` on the encoded bytes of ``--n`` distinct images
(rendered with `digitrec.synth` from MNIST test digits, or from sklearn's 8x8
digits upscaled when MNIST is absent): 640x480 JPEG paper photos and 280x280
canvas PNGs (RGBA, ink in alpha). Prints median and p90 per image, and the
breakdown: decoding alone (`preprocess.load_image`, and as `prepare` decodes: JPEG
draft mode, libspng for RGBA PNGs), `preprocess.prepare` (decode,
ink map, segmentation, model format) and the model alone (`Bundle.predict_proba`).
Then the same images read ``--batch`` at a time (`Recognizer.recognize_batch`, as
batch jobs and the server read them), alternating with one at a time.

Cold: ``digitrec predict FILE`` in a fresh process under ``/usr/bin/time -v``:
wall time and peak resident memory, ``--cold`` runs each.

Targets (issue 6): photo <= 3 ms median, canvas <= 1 ms median; cold predict
< 1.5 s and < 300 MB.

Run::

    DIGITREC_DATA=/work/shared/datasets/mnist python benchmarks/bench_preprocess.py

The machine's load average is printed with every measurement: on a shared
machine the figures are only as quiet as it was.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitrec import synth
from digitrec.preprocess import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, _decode, load_image, prepare
from digitrec.recognizer import Recognizer


def _load() -> str:
    try:
        return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load unknown"


def _digits(data_dir: str | None, n: int) -> tuple[np.ndarray, str]:
    try:
        from digitrec.datasets import read_mnist

        images, _ = read_mnist("test", data_home=data_dir)
        return np.asarray(images[:n]), "MNIST test"
    except Exception:  # no MNIST here: sklearn's digits, upscaled into MNIST's layout, still time the pipeline
        from PIL import Image
        from sklearn.datasets import load_digits

        X = load_digits().data[:n]
        out = np.zeros((len(X), 28, 28), np.uint8)
        for i, x in enumerate(X):
            small = Image.fromarray((x.reshape(8, 8) * (255 / 16)).astype(np.uint8))
            out[i, 4:24, 4:24] = np.asarray(small.resize((20, 20), Image.Resampling.BICUBIC))
        return out, "sklearn 8x8 digits upscaled (MNIST not found)"


def _inputs(digits: np.ndarray, style: str, size: tuple[int, int], image_format: str, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [synth.encode(synth.render_digit(d, style, rng, size=size), image_format, quality=90)[0] for d in digits]


def _time(fn: Callable[[bytes], object], inputs: list[bytes], repeats: int) -> np.ndarray:
    for data in inputs[:10]:  # warm caches, onnxruntime's first-run allocations
        fn(data)
    times = []
    for _ in range(repeats):
        for data in inputs:
            start = time.perf_counter()
            fn(data)
            times.append(time.perf_counter() - start)
    return np.array(times) * 1000.0


def _row(name: str, ms: np.ndarray, target: str = "") -> list[str]:
    return [name, f"{np.median(ms):.2f}", f"{np.percentile(ms, 90):.2f}", target, _load()]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _cold(path: Path, model: str | None, runs: int) -> tuple[list[float], list[float], str]:
    exe = shutil.which("digitrec")
    command = [exe] if exe else [sys.executable, "-m", "digitrec"]
    command += ["predict", str(path), "--json"] + (["--model", model] if model else [])
    walls, rss = [], []
    output = ""
    for _ in range(runs):
        done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
        output = done.stdout.strip()
        if done.returncode != 0:
            raise SystemExit(f"digitrec predict failed ({done.returncode}): {done.stderr[-2000:]}")
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        hours, minutes, seconds = wall.groups()
        walls.append(int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds))
        rss.append(int(peak.group(1)) / 1024.0)
    return walls, rss, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="distinct images per kind")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the images")
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cold", type=int, default=5, help="cold `digitrec predict` runs (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8, help="images per recognize_batch call (0: skip)")
    args = parser.parse_args(argv)

    digits, source = _digits(args.data_dir, args.n)
    rec = Recognizer.load(args.model, threads=args.threads)
    fmt = rec.bundle.input_format
    print(f"# bench_preprocess: model {rec.name} ({fmt}), {len(digits)} images each from {source}, "
          f"{os.cpu_count()} CPUs, {_load()}")
    kinds = {
        "photo 640x480 JPEG (paper)": (_inputs(digits, "paper", (640, 480), "JPEG", args.seed), "<= 3 ms"),
        "canvas 280x280 PNG (RGBA)": (_inputs(digits, "canvas", (280, 280), "PNG", args.seed), "<= 1 ms"),
    }
    rows, breakdown = [], []
    for name, (inputs, target) in kinds.items():
        total = _time(rec.recognize, inputs, args.repeats)
        rows.append(_row(name, total, target))
        decode = _time(lambda data: load_image(data).load(), inputs, args.repeats)
        # As prepare decodes: JPEG in draft mode, an RGBA PNG by libspng (pyspng).
        fast = _time(lambda data: _decode(data, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, draft=True, fast=True), inputs, args.repeats)
        prepared = _time(lambda data: prepare(data, fmt), inputs, args.repeats)
        samples = [prepare(data, fmt).samples for data in inputs]
        samples = [s for s in samples if len(s)]
        model = _time(rec.bundle.predict_proba, samples, args.repeats) if samples else np.zeros(1)
        breakdown += [
            _row(f"{name}: decode only (load_image: Pillow, full size)", decode),
            _row(f"{name}: decode only (as prepare decodes)", fast),
            _row(f"{name}: prepare (decode + ink map + segment + format)", prepared),
            _row(f"{name}: model only (predict_proba)", model),
        ]
    header = ["in-process, per image", "median ms", "p90 ms", "target", "machine"]
    print("\n## Decode to answer: `Recognizer.recognize(bytes)`\n")
    print(_table(header, rows))
    print("\n## Breakdown\n")
    print(_table(header[:3] + ["", "machine"], [[r[0], r[1], r[2], "", r[4]] for r in breakdown]))

    if args.batch > 0:
        print(f"\n## Several at once: `Recognizer.recognize_batch`, {args.batch} images a call\n")
        print("Passes over the same images alternate, one image a call and a batch a call; "
              "per image, the median pass.\n")
        batch_rows = []
        for name, (inputs, _) in kinds.items():
            chunks = [inputs[i : i + args.batch] for i in range(0, len(inputs), args.batch)]
            one, together = [], []
            for _ in range(max(3, args.repeats)):
                start = time.perf_counter()
                for data in inputs:
                    rec.recognize(data)
                one.append((time.perf_counter() - start) / len(inputs) * 1000)
                start = time.perf_counter()
                for chunk in chunks:
                    rec.recognize_batch(chunk)
                together.append((time.perf_counter() - start) / len(inputs) * 1000)
            a, b = statistics.median(one), statistics.median(together)
            batch_rows.append([name, f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f}", _load()])
        print(_table(["images", "one a call, ms", f"{args.batch} a call, ms", "ratio", "machine"], batch_rows))

    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            photo = Path(tmp) / "photo.jpg"
            photo.write_bytes(kinds["photo 640x480 JPEG (paper)"][0][0])
            before = _load()
            walls, rss, output = _cold(photo, args.model, args.cold)
        print(f"\n## Cold `digitrec predict photo.jpg --json` ({args.cold} runs, /usr/bin/time -v)\n")
        print(_table(
            ["measure", "median", "max", "target", "machine"],
            [
                ["wall time (s)", f"{statistics.median(walls):.2f}", f"{max(walls):.2f}", "< 1.5 s", before],
                ["peak RSS (MB)", f"{statistics.median(rss):.0f}", f"{max(rss):.0f}", "< 300 MB", _load()],
            ],
        ))
        print(f"\nits answer: {output[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
