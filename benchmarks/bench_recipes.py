"""Train every recipe on its dataset and print one table row each.

Columns: the split, test accuracy, training time (wall seconds, and the CPU
seconds of all threads, which a busy machine inflates less), predictions per
second through the saved bundle (onnxruntime for the networks, the skops-loaded
estimator for scikit-learn; one batch of the whole test set), and the weights'
size. The ``cnn-reader`` row is compared with the shipped default model's card.

Usage::

    DIGITREC_DATA=/path/to/mnist python benchmarks/bench_recipes.py
    python benchmarks/bench_recipes.py --recipes tutorial,svc,svc-shift,knn,mlp,cnn-8x8

The load average is printed with the table: on a shared machine the seconds
are inflated and say so.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from digitrec.bundle import available_models, load_bundle
from digitrec.datasets import dataset_split_name, load_split
from digitrec.recipes import RECIPES, get_recipe
from digitrec.training import save_trained, train


def _throughput(bundle, X: np.ndarray, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        bundle.predict_proba(X)
        best = min(best, time.perf_counter() - start)
    return len(X) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipe names")
    parser.add_argument("--out", type=Path, default=None, help="keep the bundles here (default: a temp folder)")
    args = parser.parse_args()
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    for name in names:
        get_recipe(name)  # fail early on a typo

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average before: {os.getloadavg()}")
    print()
    print("| recipe | split | accuracy | errors | train s (wall) | train s (CPU) | predictions/s | model size | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    out_root = args.out or Path(tempfile.mkdtemp(prefix="digitrec-bench-"))
    notes = []
    for name in names:
        recipe = get_recipe(name)
        split = load_split(dataset_split_name(recipe.default_dataset))
        result = train(name, split)
        path = save_trained(result, out_root / name, name=name, command=f"benchmarks/bench_recipes.py --recipes {name}")
        bundle = load_bundle(path, threads=1)
        rate = _throughput(bundle, split.X_test)
        size = bundle.card["weights"]["bytes"]
        load = os.getloadavg()[0]
        print(
            f"| {name} | {split.name} | {result.metrics['accuracy']:.2%} | {result.metrics['errors']} "
            f"| {result.seconds:.1f} | {result.cpu_seconds:.1f} | {rate:,.0f} | {size / 1024:,.0f} KiB | {load:.1f} |",
            flush=True,
        )
        if name == "cnn-reader" and "default" in available_models():
            shipped = load_bundle(available_models()["default"]).card
            notes.append(
                f"cnn-reader: this run {result.metrics['accuracy']:.2%}, the shipped default model's card "
                f"{shipped['metrics']['accuracy']:.2%} (made by: {shipped.get('command')})"
            )
    print()
    for note in notes:
        print(note)
    print(f"load average after: {os.getloadavg()}; bundles in {out_root}")


if __name__ == "__main__":
    main()
