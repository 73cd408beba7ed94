"""Accuracy and rejection on realistic images rendered from the MNIST test set.

Renders MNIST *test* digits with `digitrec.synth` in every style (paper photos,
canvas RGBA, chalk, rotated, thick, thin, scans), numbers of 2 to 4 digits, and
non-digits (letters, symbols, scribbles, blanks, noise, smudges), then reads them
with the default model (or ``--model``) through `Recognizer`, the path users take.
The tutorial's 8x8 models (the seed MLP and an SVC, trained in-process on
digits/tutorial) read the same single-digit images beside it.

Targets (issue 6): singles >= 99.5% correct; numbers >= 97% read exactly;
non-digits <= 5% accepted as a confident digit while <= 1% of real digits are
marked uncertain.

Run::

    DIGITREC_DATA=/work/shared/datasets/mnist python benchmarks/bench_realistic.py

Options: ``--per-style N`` (single digits per style), ``--numbers N`` (numbers
per style), ``--non-digits N`` (per kind), ``--seed``, ``--model NAME|PATH``,
``--no-8x8``, ``--failures DIR`` (saves up to ``--keep`` misread images per style
there; default test-artifacts/realistic-failures), ``--pairs NAME|PATH|none`` (the
pair reader; default the shipped one). With a pair reader, every image is also read
without it in the same run, and the tables give both.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from digitrec import synth
from digitrec.datasets import read_mnist
from digitrec.errors import DigitrecError
from digitrec.fileio import atomic_write_bytes
from digitrec.recognizer import DigitResult, Recognizer, trusted_at

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99)


def _uptime() -> str:
    try:
        return "load average " + ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def _eight_by_eight_recognizers(work: Path) -> dict[str, Recognizer]:
    """The tutorial's 8x8 models, fitted on digits/tutorial, wrapped as Recognizers."""
    from digitrec.bundle import save_bundle, skops_bytes
    from digitrec.datasets import load_split

    split = load_split("digits/tutorial")
    models = {}
    try:  # the project's own recipes, where they exist
        from digitrec import recipes

        for name in ("tutorial", "svc"):
            models[name] = recipes.get_recipe(name).build()
    except (ImportError, AttributeError):  # no recipes module: the same two models, built here
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        from digitrec.tutorial import seed_network

        models = {"tutorial": seed_network(), "svc": CalibratedClassifierCV(SVC(gamma=0.001, C=10), ensemble=False)}
    out = {}
    for name, model in models.items():
        model.fit(split.X_train, split.y_train)
        accuracy = float(model.score(split.X_test, split.y_test))
        path = save_bundle(
            work / name,
            weights=skops_bytes(model),
            weights_format="skops",
            card={
                "name": f"8x8-{name}",
                "recipe": name,
                "input_format": "optdigits",
                "classes": list(range(10)),
                "threshold": 0.5,
                "metrics": {"accuracy": accuracy},
            },
        )
        out[name] = Recognizer.load(path)
    return out


def _save(image, folder: Path, name: str) -> None:
    data, suffix = synth.encode(image)
    atomic_write_bytes(folder / f"{name}{suffix}", data)


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _read(rec: Recognizer, image) -> tuple[str, list[DigitResult]]:
    """Text, and the digits read."""
    result = rec.recognize(image)
    return result.text, result.digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-style", type=int, default=100)
    parser.add_argument("--numbers", type=int, default=60, help="numbers of 2-4 digits per style")
    parser.add_argument("--non-digits", type=int, default=100, help="images per non-digit kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--pairs", default="auto", help="the pair reader: a name, a bundle path, or none")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-8x8", action="store_true")
    parser.add_argument("--failures", default="test-artifacts/realistic-failures")
    parser.add_argument("--keep", type=int, default=6, help="failure images saved per style")
    parser.add_argument("--fonts", default=None, metavar="WORD,WORD",
                        help="letters/symbols only in fonts whose file name holds one of these words "
                             "(e.g. Serif,Mono: hold out the fonts a reject class was trained on)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"# bench_realistic: seed {args.seed}, {_uptime()}, {os.cpu_count()} CPUs")
    X, y = read_mnist("test", data_home=args.data_dir)
    rec = Recognizer.load(args.model, pairs=None if args.pairs == "none" else args.pairs)
    # The same model without the pair reader reads every image too, for the "without" columns.
    plain = Recognizer(rec.bundle, threshold=rec.threshold) if rec.pairs is not None else None
    print(f"model: {rec.name} (threshold {rec.threshold}, temperature {rec.bundle.card.get('temperature')}), "
          f"pair reader: {rec.pairs.name if rec.pairs is not None else 'none'}")
    failures = Path(args.failures)
    saved: dict[str, int] = defaultdict(int)

    others: dict[str, Recognizer] = {}
    tmp = tempfile.TemporaryDirectory()
    if not args.no_8x8:
        others = _eight_by_eight_recognizers(Path(tmp.name))

    # ---------------------------------------------------------------- single digits
    per_style: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    real_conf: list[tuple[float, bool, bool]] = []  # (confidence, correct, rejected) per single image
    for image, label, style in synth.make_set(X, y, per_style=args.per_style, seed=args.seed):
        stats = per_style[style]
        stats["n"] += 1
        text, digits = _read(rec, image)
        found_one = len(digits) == 1
        correct = found_one and str(digits[0].digit) == label
        stats["correct"] += correct
        stats["count_wrong"] += not found_one
        stats["uncertain"] += any(d.uncertain for d in digits) or not digits
        stats["exact"] += text == label
        if plain is not None:
            plain_digits = _read(plain, image)[1]
            stats["plain_correct"] += len(plain_digits) == 1 and str(plain_digits[0].digit) == label
        real_conf.append((max((d.confidence for d in digits), default=0.0) if found_one else 0.0, correct,
                          found_one and digits[0].rejected))
        if not correct and saved[style] < args.keep:
            saved[style] += 1
            _save(image, failures, f"single-{style}-{stats['n']:03d}-true{label}-read{text or 'none'}")
        for name, other in others.items():
            other_text, other_digits = _read(other, image)
            stats[f"8x8-{name}"] += len(other_digits) == 1 and str(other_digits[0].digit) == label

    print(f"\n## Single digits ({args.per_style} MNIST test digits per style)\n")
    header = ["style", "n", f"{rec.name} correct", "digit count wrong", "uncertain", "text exact"]
    header += ["correct without the pair reader"] if plain is not None else []
    header += [f"8x8 {name}" for name in others]
    rows, total = [], defaultdict(int)
    for style, stats in per_style.items():
        for key, value in stats.items():
            total[key] += value
        rows.append([style, stats["n"], _pct(stats["correct"], stats["n"]), stats["count_wrong"],
                     _pct(stats["uncertain"], stats["n"]), _pct(stats["exact"], stats["n"])]
                    + ([_pct(stats["plain_correct"], stats["n"])] if plain is not None else [])
                    + [_pct(stats[f"8x8-{name}"], stats["n"]) for name in others])
    rows.append(["**all**", total["n"], f"**{_pct(total['correct'], total['n'])}**", total["count_wrong"],
                 _pct(total["uncertain"], total["n"]), _pct(total["exact"], total["n"])]
                + ([_pct(total["plain_correct"], total["n"])] if plain is not None else [])
                + [_pct(total[f"8x8-{name}"], total["n"]) for name in others])
    print(_table(header, rows))
    print("\n(correct: exactly one digit found and its top class is right; uncertain: marked `?` "
          "or nothing found; text exact: `text` equals the label, so a `?` counts against it)")

    # ---------------------------------------------------------------- numbers
    print(f"\n## Numbers of 2 to 4 digits ({args.numbers} per style)\n")
    numbers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for image, label, style in synth.make_number_set(X, y, per_style=args.numbers, lengths=(2, 4), seed=args.seed):
        stats = numbers[style]
        stats["n"] += 1
        text, digits = _read(rec, image)
        top = "".join(str(d.digit) for d in digits)
        stats["top_exact"] += top == label
        stats["exact"] += text == label
        stats["count_wrong"] += len(digits) != len(label)
        if plain is not None:
            stats["plain_exact"] += "".join(str(d.digit) for d in _read(plain, image)[1]) == label
        try:  # the caller who knows how many digits to expect (--digits N)
            hinted = rec.recognize(image, digits=len(label))
            stats["hinted_exact"] += "".join(str(d.digit) for d in hinted.digits) == label
        except DigitrecError:
            pass
        if top != label and saved[f"n-{style}"] < args.keep:
            saved[f"n-{style}"] += 1
            _save(image, failures, f"number-{style}-{stats['n']:03d}-true{label}-read{text or 'none'}")
    rows, total = [], defaultdict(int)
    for style, stats in numbers.items():
        for key, value in stats.items():
            total[key] += value
        rows.append([style, stats["n"], _pct(stats["top_exact"], stats["n"]), _pct(stats["exact"], stats["n"]),
                     stats["count_wrong"], _pct(stats["hinted_exact"], stats["n"])]
                    + ([_pct(stats["plain_exact"], stats["n"])] if plain is not None else []))
    rows.append(["**all**", total["n"], f"**{_pct(total['top_exact'], total['n'])}**", _pct(total["exact"], total["n"]),
                 total["count_wrong"], _pct(total["hinted_exact"], total["n"])]
                + ([_pct(total["plain_exact"], total["n"])] if plain is not None else []))
    print(_table(["style", "n", "read exactly (top classes)", "text exact (no `?`)", "digit count wrong",
                  "read exactly given digits=N"] + (["read exactly without the pair reader"] if plain is not None else []),
                 rows))

    # ---------------------------------------------------------------- non-digits
    print(f"\n## Non-digits ({args.non_digits} per kind, styles in turn)\n")
    kinds: dict[str, list[list[DigitResult]]] = defaultdict(list)
    plain_kinds: dict[str, list[list[DigitResult]]] = defaultdict(list)
    fonts = None
    if args.fonts:
        words = [w for w in args.fonts.split(",") if w]
        fonts = [f for f in synth.font_paths() if any(w in Path(f).name for w in words)]
        print(f"fonts for letters and symbols: {', '.join(Path(f).stem for f in fonts) or 'none found'}\n")
    for image, kind, style in synth.make_non_digit_set(per_kind=args.non_digits, seed=args.seed, fonts=fonts):
        text, digits = _read(rec, image)
        kinds[kind].append(digits)
        if plain is not None:
            plain_kinds[kind].append(_read(plain, image)[1])
        if any(not d.uncertain for d in digits) and saved[f"nd-{kind}"] < args.keep:
            saved[f"nd-{kind}"] += 1
            _save(image, failures, f"nondigit-{kind}-{style}-{len(kinds[kind]):03d}-read{text}")

    def accepted(digits, threshold):
        # Accepted: some digit in the answer is trusted, as the recogniser decides at t.
        return any(trusted_at(digits, threshold))

    def without(results):
        return [_pct(sum(accepted(r, rec.threshold) for r in results), len(results))] if plain is not None else []

    rows = []
    for kind, results in kinds.items():
        rows.append([kind, len(results), _pct(sum(not r for r in results), len(results)),
                     _pct(sum(accepted(r, rec.threshold) for r in results), len(results))] + without(plain_kinds[kind]))
    everything = [r for results in kinds.values() for r in results]
    rows.append(["**all**", len(everything), _pct(sum(not r for r in everything), len(everything)),
                 f"**{_pct(sum(accepted(r, rec.threshold) for r in everything), len(everything))}**"]
                + without([r for results in plain_kinds.values() for r in results]))
    print(_table(["kind", "n", "no digit found", f"accepted as a confident digit (t={rec.threshold:.3g})"]
                 + (["accepted without the pair reader"] if plain is not None else []), rows))

    # ---------------------------------------------------------------- threshold sweep
    print("\n## Threshold sweep (single real digits vs non-digits)\n")
    conf = np.array([c for c, _, _ in real_conf])
    correct = np.array([k for _, k, _ in real_conf])
    rejected = np.array([r for _, _, r in real_conf])
    rows = []
    for t in sorted({*THRESHOLDS, rec.threshold}):
        confident = (conf >= t) & ~rejected
        wrong_confident = confident & ~correct
        rows.append([f"{t:.3g}" + (" (card)" if t == rec.threshold else ""),
                     _pct((~confident).sum(), conf.size),
                     _pct(wrong_confident.sum(), conf.size),
                     _pct(sum(accepted(r, t) for r in everything), len(everything))]
                    + [_pct(sum(accepted(r, t) for r in kinds[k]), len(kinds[k])) for k in kinds])
    print(_table(["threshold", "real digits uncertain", "real digits wrong but confident",
                  "non-digits accepted"] + [f"{k} accepted" for k in kinds], rows))
    print(f"\n{sum(saved.values())} failure images saved under {failures}/; "
          f"total {time.perf_counter() - started:.0f} s; {_uptime()}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
