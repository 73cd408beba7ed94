"""How the shipped model's "uncertain" threshold was chosen, on data the benchmark does not report.

Real digits: realistic renders (`digitrec.synth`, every style) of the digits
`DigitCNN` holds out of MNIST's training set for validation (the same stratified
10% split, with the ``random_state`` of the model's card): the model never trained on
them, and ``bench_realistic.py`` reads test digits instead. A cascade's parts were
trained with their own splits: the digits held out by both are used (about 1% of
the training set). Non-digits: those of
``bench_realistic.py``'s seeds 2 and 3 (it reports seeds 0 and 1). Each image is
read once through `Recognizer` with a threshold of 0; every threshold of the sweep
is then applied to the confidences the way the recogniser applies it
(`recognizer.trusted`), so the table is what each threshold would answer.

Prints, per threshold: the real digits marked uncertain (or not found as one
digit) and the non-digits accepted as a confident digit. The targets (issue 6):
at most 1% of real digits uncertain, at most 5% of non-digits accepted.

Run::

    DIGITREC_DATA=/work/shared/datasets/mnist python benchmarks/choose_threshold.py
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
from bench_realistic import _uptime as _load  # run as a script: benchmarks/ is on the path

from digitrec import synth
from digitrec.datasets import read_mnist
from digitrec.recognizer import DigitResult, Recognizer, trusted_at

THRESHOLDS = (0.3, 0.4, 0.45, 0.5, 0.52, 0.55, 0.6, 0.65, 0.7, 0.78, 0.85, 0.9)


def held_out_splits(card: dict) -> list[tuple[float, int]]:
    """(validation_fraction, random_state) of each network a model's card describes (a cascade: both parts)."""
    parts = [card["cascade"]["first"], card["cascade"]["second"]] if "cascade" in card else [card]
    return [
        (float(p.get("params", {}).get("validation_fraction", 0.1)), int(p.get("params", {}).get("random_state", 0)))
        for p in parts
    ]


def validation_digits(data_dir: str | None, splits: Sequence[tuple[float, int]] = ((0.1, 0),)):
    """The MNIST training digits `DigitCNN` holds out for validation (its `_split`) under every one of ``splits``."""
    from digitrec.cnn import DigitCNN

    X, y = read_mnist("train", data_home=data_dir)
    y = np.asarray(y).astype(int)
    held = np.arange(len(y))
    for validation_fraction, random_state in splits:
        # The network's own split, given the samples' indices for samples.
        network = DigitCNN(validation_fraction=validation_fraction, random_state=random_state)
        valid = network._split(np.arange(len(y)), y)[2]
        held = np.intersect1d(held, valid if valid is not None else np.zeros(0, dtype=int))
    return np.asarray(X)[held], y[held]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--per-style", type=int, default=300, help="validation digits rendered per style")
    parser.add_argument("--render-seed", type=int, default=7)
    parser.add_argument("--non-digit-seeds", default="2,3")
    parser.add_argument("--non-digits", type=int, default=100, help="images per non-digit kind and seed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rec = Recognizer.load(args.model, threshold=0.0)
    card = rec.bundle.card
    print(f"# choose_threshold: model {rec.name} (card threshold {card.get('threshold')}), {_load()}")
    splits = held_out_splits(card)
    X, y = validation_digits(args.data_dir, splits)
    print(f"validation digits held out by every part (fraction, random_state: {splits}): {len(y)}")
    # Per image: whether it was read right as one digit, and the digits read.
    reals: list[tuple[str, list[DigitResult]]] = []
    for image, label, _ in synth.make_set(X, y, per_style=args.per_style, seed=args.render_seed):
        result = rec.recognize(image)
        correct = len(result.digits) == 1 and str(result.digits[0].digit) == label
        reals.append(("right" if correct else "wrong", result.digits))
    seeds = [int(s) for s in args.non_digit_seeds.split(",") if s]
    others: dict[int, list[list[DigitResult]]] = {}
    for seed in seeds:
        others[seed] = []
        for image, _, _ in synth.make_non_digit_set(per_kind=args.non_digits, seed=seed):
            result = rec.recognize(image)
            others[seed].append(result.digits)

    print(f"\nreal digits: {len(reals)} renders of validation digits; non-digits: "
          f"{', '.join(f'{len(v)} of seed {s}' for s, v in others.items())}\n")
    header = ["threshold", "real digits uncertain", "real digits wrong but confident"]
    header += [f"non-digits accepted (seed {s})" for s in seeds]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for t in THRESHOLDS:
        uncertain = sum(not (len(d) == 1 and all(trusted_at(d, t))) for _, d in reals)
        confident_wrong = sum(kind == "wrong" and len(d) == 1 and all(trusted_at(d, t)) for kind, d in reals)
        row = [f"{t:g}", f"{100 * uncertain / len(reals):.2f}%", f"{100 * confident_wrong / len(reals):.2f}%"]
        row += [f"{100 * sum(any(trusted_at(d, t)) for d in v) / len(v):.1f}%" for v in others.values()]
        print("| " + " | ".join(row) + " |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s; {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
