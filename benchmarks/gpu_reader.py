"""Train variants of the reader recipe (``cnn-reader``) on a GPU, for comparison on realistic images.

Each variant is ``cnn-reader`` with some settings changed (``--variant NAME``, or all
of them in turn); its bundle is written under ``--out`` as soon as it is trained, and
one JSON line per variant (MNIST test accuracy, seconds) goes to stdout. The bundles
are then read on the CPU with ``benchmarks/bench_realistic.py --model DIR``.

Run, from the repository root on a machine with CUDA (see benchmarks/gpu_check.sh for
how a machine without internet is given the wheels and the MNIST files)::

    python benchmarks/gpu_reader.py --data-dir .mnist --out /tmp/readers

The negatives' letters and symbols are drawn in the DejaVu Sans fonts found on the
machine (`digitrec.synth.font_paths`); a machine without them draws in Pillow's own font
and makes other negatives. Copy them along (``cp .fonts/*.ttf
/usr/share/fonts/truetype/dejavu/`` there) to train what this machine trains. Several
variants can share one GPU: run one process per ``--variant`` with ``--threads 2`` to 4.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from digitrec.datasets import load_split
from digitrec.training import save_trained, train

VARIANTS: dict[str, dict] = {
    # The recipe as it is (15 epochs, rotation 15, zoom 0.15, shift 3, 6000 negatives,
    # a fifth re-drawn): the baseline, trained where the others are.
    "reader": {},
    # Two or three of its networks averaged (each one more costs one network's prediction time).
    "x2": {"n_networks": 2},
    "x3": {"n_networks": 3},
    # Trained for longer.
    "e25": {"max_epochs": 25},
    # More of the digits re-drawn with finer and fatter pens.
    "red35": {"redrawn": 0.35},
    # Twice the channels in every layer (about four times the arithmetic per digit).
    "wide": {"channels": ((32,), (64, 64), (128, 128))},
    # A fifth or a third of the digits cut out of rendered numbers by the segmentation.
    "num20": {"numbers": 0.2},
    "num35": {"numbers": 0.35},
    # The baseline and num20 with other seeds, to see how far a seed alone moves the results.
    "reader-s1": {"random_state": 1},
    "num20-s1": {"numbers": 0.2, "random_state": 1},
    # A candidate for the shipped default's second opinion (cnn-reader-x4: four networks,
    # seed 1), which reads only the digits the first network doubts: eight networks.
    "x8": {"n_networks": 8, "random_state": 1},
    # A fifth of the digits also rendered in every realistic style (photos, chalk, scans,
    # canvases...) and read back through the preprocessing; one network, and the four of
    # the second opinion.
    "rend20": {"rendered": 0.2},
    "rend20-x4": {"rendered": 0.2, "n_networks": 4, "random_state": 1},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--split", default=None, help="default: mnist/standard; mnist/tiny for a smoke test")
    parser.add_argument("--epochs", type=int, default=None, help="override every variant's epochs (a smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="worker processes making the training samples")
    args = parser.parse_args(argv)
    data = load_split("mnist/standard" if args.split is None else args.split, data_home=args.data_dir)
    for name in args.variant or list(VARIANTS):
        overrides = {**VARIANTS[name], "device": args.device}
        if args.threads:
            overrides["threads"] = args.threads
        if args.epochs:
            overrides.update(max_epochs=args.epochs, negatives=200)
        start = time.perf_counter()
        result = train("cnn-reader", data, overrides=overrides)
        path = save_trained(
            result, f"{args.out}/{name}", name=f"reader-{name}",
            command=f"python benchmarks/gpu_reader.py --variant {name} --device {args.device}",
        )
        print(json.dumps({
            "variant": name, "overrides": overrides, "accuracy": result.metrics.get("accuracy"),
            "seconds": round(time.perf_counter() - start, 1), "bundle": str(path),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
