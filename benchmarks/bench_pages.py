"""Digits and numbers photographed on ruled and squared paper and in forms' boxes, against plain paper.

Renders MNIST *test* digits as paper photos (`digitrec.synth`, style ``"paper"``) on
each kind of page (`synth.PAGES`: plain, a notebook's ruled lines or squares, a form's
box around the number or one box per digit), single digits and numbers of 2 to 4
digits, and reads them with the default model (or ``--model``) through `Recognizer`.
Each image is read twice in the same run: as digitrec reads it, and with the removal
of printed lines and boxes (`digitrec.preprocess._drop_ruled_lines`, `_drop_frames`)
switched off, so the table shows what the removal is worth; and the median time per
image of each.

Run::

    DIGITREC_DATA=/work/shared/datasets/mnist python benchmarks/bench_pages.py

Options: ``--singles N`` and ``--numbers N`` (per page kind), ``--seed``,
``--model NAME|PATH``, ``--data-dir``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from digitrec import preprocess, synth
from digitrec.datasets import read_mnist
from digitrec.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_preprocess import _load  # noqa: E402
from bench_realistic import _pct, _table  # noqa: E402


def _read(rec: Recognizer, image, removal: bool) -> tuple[str, float]:
    """The top classes read (one character per digit found) and the seconds it took."""
    kept = preprocess._drop_ruled_lines, preprocess._drop_frames
    if not removal:
        preprocess._drop_ruled_lines = lambda ink, seen=None: False
        preprocess._drop_frames = lambda *args: False
    try:
        start = time.perf_counter()
        result = rec.recognize(image)
        return "".join(str(d.digit) for d in result.digits), time.perf_counter() - start
    finally:
        preprocess._drop_ruled_lines, preprocess._drop_frames = kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=200, help="single digits per page kind")
    parser.add_argument("--numbers", type=int, default=150, help="numbers of 2-4 digits per page kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"# bench_pages: seed {args.seed}, {os.cpu_count()} CPUs, {_load()}")
    X, y = read_mnist("test", data_home=args.data_dir)
    rec = Recognizer.load(args.model)
    print(f"model: {rec.name}, pair reader: {rec.pairs.name if rec.pairs is not None else 'none'}\n")
    stats: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    times: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for page in synth.PAGES:
        # The same digits on every kind of page: only the paper differs.
        pick = np.random.default_rng(args.seed)
        rng = np.random.default_rng([args.seed, synth.PAGES.index(page)])
        items = []
        for index in pick.choice(len(X), args.singles, replace=False):
            items.append(("single", synth.render_digit(X[index], "paper", rng, page=page), str(int(y[index]))))
        for _ in range(args.numbers):
            picks = pick.choice(len(X), int(pick.integers(2, 5)), replace=False)
            image, text = synth.render_number([X[i] for i in picks], [int(y[i]) for i in picks], "paper", rng,
                                              page=page)
            items.append(("number", image, text))
        for kind, image, label in items:
            for removal in (True, False):
                read, seconds = _read(rec, image, removal)
                cell = stats[(page, kind, removal)]
                cell[0] += read == label
                cell[1] += 1
                times[(page, removal)].append(seconds)

    rows = []
    for page in synth.PAGES:
        on_s, on_n = stats[(page, "single", True)], stats[(page, "number", True)]
        off_s, off_n = stats[(page, "single", False)], stats[(page, "number", False)]
        on_t = statistics.median(times[(page, True)]) * 1000
        off_t = statistics.median(times[(page, False)]) * 1000
        rows.append([page, f"{_pct(*on_s)} of {on_s[1]}", f"{_pct(*on_n)} of {on_n[1]}",
                     f"{_pct(*off_s)} / {_pct(*off_n)}", f"{on_t:.2f} ({off_t:.2f})", _load()])
    print(_table(["page", "single digits correct", "numbers read exactly", "without the removal: singles / numbers",
                  "median ms per image (without removal)", "machine"], rows))
    print("\n(correct / read exactly: the top class of every digit found, and exactly as many digits "
          f"as written; total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
