"""Batch jobs: images/s with 1 and 2 workers, a killed-and-resumed 20,000-file job, memory.

Every job runs as ``python -m digitrec batch LIST --out OUT.csv --workers W --quiet
--json`` in its own process, as a user would run it; ``images/s`` is the job's own
figure (images recognised / wall time from start to the final rename, so it
includes starting the worker processes). While a job runs, the resident memory of
its whole process tree (the CLI, its workers, multiprocessing's helper) is
sampled every 20 ms with psutil and summed; the peak is reported, and so is the
tree's CPU time: when 2 workers are no faster but use the same CPU seconds, the
work did split, and the machine had no second core to give.

1. Throughput: ``--pngs`` 28x28 PNGs (MNIST digits, white on black, as stored)
   and ``--photos`` 640x480 JPEG photos (MNIST digits rendered by
   `digitrec.synth` in the "paper" style and resized to 640x480; ``--distinct``
   different renders, repeated under different names, since rendering is slower
   than reading), each with 1 and 2 workers, best of ``--repeats``.
   Target: 2 workers >= 1.7x one worker on the photos.
2. Kill and resume: a job over ``--big`` (20,000) PNGs is killed with SIGKILL
   (the CLI process only, as a crash would) once ``OUT.part`` holds half the
   rows, then run again with ``--resume``. Target: exactly 20,000 rows, none twice.
3. Memory: peak RSS of the whole job for ``--small`` (2,000) and ``--big``
   (20,000) files, 2 workers. Target: within 10%.

The model is ``--model`` (default: the shipped default model; where there is
none yet, a tiny optdigits MLP exported to ONNX here, and the output says so).

Run::

    DIGITREC_DATA=/work/shared/datasets/mnist python benchmarks/bench_batch.py

The load average is printed with each table: on a shared machine the figures,
the scaling above all, are only as good as the machine was quiet.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _load() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return _load()


# ------------------------------------------------------------------ test images


def _mnist_digits(data_dir: str | None, n: int) -> tuple[np.ndarray, str]:
    """``n`` 28x28 uint8 digits (white on black): MNIST test then train, else sklearn's digits."""
    try:
        from digitrec.datasets import read_mnist

        test, _ = read_mnist("test", data_home=data_dir)
        images = np.asarray(test)
        if len(images) < n:
            train, _ = read_mnist("train", data_home=data_dir)
            images = np.concatenate([images, np.asarray(train)])
        return images[:n], "MNIST"
    except Exception:  # noqa: BLE001 - no MNIST here: upscaled 8x8 digits still time the job
        from PIL import Image
        from sklearn.datasets import load_digits

        small = load_digits().images
        big = np.stack(
            [np.asarray(Image.fromarray((d * 255 / 16).astype(np.uint8)).resize((20, 20))) for d in small]
        )
        padded = np.zeros((len(big), 28, 28), np.uint8)
        padded[:, 4:24, 4:24] = big
        return padded[np.arange(n) % len(padded)], "sklearn 8x8 digits upscaled (no MNIST found)"


def write_pngs(folder: Path, digits: np.ndarray) -> list[str]:
    """One 28x28 PNG per digit, 1,000 to a subfolder; returns the paths in order."""
    from PIL import Image

    paths = []
    for i, digit in enumerate(digits):
        sub = folder / f"{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i:06d}.png"
        Image.fromarray(digit, "L").save(path)
        paths.append(str(path))
    return paths


def write_photos(folder: Path, digits: np.ndarray, n: int, distinct: int) -> tuple[list[str], str]:
    """``n`` 640x480 JPEGs from ``distinct`` renders; returns the paths and how they were drawn."""
    from PIL import Image

    rng = np.random.default_rng(0)
    try:
        from digitrec.synth import render_digit

        renders = [render_digit(digits[i], "paper", rng).convert("RGB") for i in range(distinct)]
        how = f"digitrec.synth paper style, {distinct} distinct renders resized to 640x480"
    except ImportError:
        from PIL import ImageDraw, ImageFilter, ImageFont

        renders = []
        for i in range(distinct):
            image = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(200, 250, 3)))
            try:
                font = ImageFont.truetype("DejaVuSans.ttf", int(rng.integers(120, 260)))
            except OSError:
                font = ImageFont.load_default()
            ImageDraw.Draw(image).text((200, 100), str(i % 10), fill=(30, 30, 60), font=font)
            renders.append(image.filter(ImageFilter.GaussianBlur(1.0)))
        how = f"PIL text on paper colour, {distinct} distinct images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        renders[i % distinct].resize((640, 480), Image.BICUBIC).save(path, "JPEG", quality=90)
        paths.append(str(path))
    return paths, how


def write_list(path: Path, paths: list[str]) -> Path:
    path.write_text("".join(p + "\n" for p in paths), encoding="utf-8")
    return path


def fallback_model(folder: Path) -> Path:
    """A tiny optdigits MLP as an ONNX bundle, for when no default model is shipped yet."""
    import onnx  # noqa: F401 - checked here so the error names the missing package
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    from digitrec.bundle import mlp_onnx_bytes, save_bundle

    X, y = load_digits(return_X_y=True)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    path = folder / "bench-mlp"
    save_bundle(
        path,
        weights=mlp_onnx_bytes(mlp),
        weights_format="onnx",
        card={"name": "bench-mlp", "recipe": "bench", "input_format": "optdigits", "classes": list(range(10))},
    )
    return path


# ------------------------------------------------------------------------ jobs


class TreeMemory:
    """Samples the summed RSS (and CPU time) of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.most_processes = 0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        psutil = self._psutil
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    self._cpu[proc.pid] = times.user + times.system
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self.most_processes = max(self.most_processes, len(procs))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the whole tree (each process as last sampled, so to within 20 ms each)."""
        return sum(self._cpu.values())


def batch_command(inputs: Path, out: Path, workers: int, model: str | None, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "digitrec", "batch", str(inputs), "--out", str(out)]
    command += ["--workers", str(workers), "--quiet", "--json", *extra]
    if model:
        command += ["--model", model]
    return command


def run_job(command: list[str], kill_at_rows: int | None = None, part: Path | None = None) -> dict:
    """Run one batch job; return its summary (or what killing it left) and the peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(process.pid)
    result: dict = {}
    if kill_at_rows is not None:
        import psutil

        while process.poll() is None:
            rows = part.read_bytes().count(b"\n") - 1 if part and part.exists() else 0
            if rows >= kill_at_rows:
                workers = psutil.Process(process.pid).children(recursive=True)
                process.send_signal(signal.SIGKILL)
                process.wait()
                gone, alive = psutil.wait_procs(workers, timeout=20)
                result = {"killed_at_rows": rows, "orphans_left": len(alive)}
                for proc in alive:  # do not leave them running whatever happened
                    proc.kill()
                break
            time.sleep(0.1)
    stdout, stderr = process.communicate()
    memory.stop()
    result["wall"] = time.perf_counter() - start
    result["peak_rss_mb"] = memory.peak / 2**20
    result["processes"] = memory.most_processes
    result["cpu_s"] = memory.cpu_seconds
    if "killed_at_rows" not in result:
        if process.returncode != 0:
            raise SystemExit(f"batch job failed ({process.returncode}): {stderr.strip()}")
        result.update(json.loads(stdout))
    return result


def check_rows(out: Path, expected: list[str]) -> tuple[int, int, bool]:
    """(rows, distinct paths, whether they are exactly the expected paths)."""
    with open(out, newline="", encoding="utf-8") as handle:
        paths = [row["path"] for row in csv.DictReader(handle)]
    return len(paths), len(set(paths)), set(paths) == set(expected)


# ------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model name or bundle path (default: the shipped one)")
    parser.add_argument("--data-dir", default=os.environ.get("DIGITREC_DATA"))
    parser.add_argument("--pngs", type=int, default=4000)
    parser.add_argument("--photos", type=int, default=1500)
    parser.add_argument("--distinct", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20000)
    parser.add_argument("--workdir", default=None, help="where to write the images (default: a temp folder)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "resume", "memory"])
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="digitrec-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# bench_batch  ({_uptime()})")
    print(f"cores: {os.cpu_count()}, work folder: {work}")
    try:
        model = args.model
        if model is None:
            from digitrec.bundle import resolve_model
            from digitrec.errors import ModelNotFoundError

            try:
                resolve_model(None)
                print("model: the shipped default")
            except ModelNotFoundError:
                model = str(fallback_model(work))
                print("model: no shipped default model yet; a tiny optdigits MLP exported to ONNX (bench-mlp)")
        else:
            print(f"model: {model}")

        n_digits = max(args.big, args.pngs, args.small, args.distinct)
        digits, source = _mnist_digits(args.data_dir, n_digits)
        t = time.perf_counter()
        pngs = write_pngs(work / "png28", digits[:n_digits])
        print(f"wrote {len(pngs)} 28x28 PNGs ({source}) in {time.perf_counter() - t:.1f} s")

        if "throughput" not in args.skip:
            t = time.perf_counter()
            photos, how = write_photos(work / "photos", digits, args.photos, args.distinct)
            print(f"wrote {len(photos)} 640x480 JPEGs ({how}) in {time.perf_counter() - t:.1f} s")
            sets = {
                f"28x28 PNG ({args.pngs} files)": write_list(work / "pngs.txt", pngs[: args.pngs]),
                f"640x480 JPEG photo ({args.photos} files)": write_list(work / "photos.txt", photos),
            }
            print(f"\n## Throughput (best of {args.repeats}; {_load()} before)\n")
            print("| images | workers | images/s | job wall s | CPU s (all processes) | peak RSS MB (all processes) | speed-up |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for label, listing in sets.items():
                base = None
                for workers in (1, 2):
                    runs = []
                    for repeat in range(args.repeats):
                        out = work / f"tp-{workers}-{repeat}.csv"
                        runs.append(run_job(batch_command(listing, out, workers, model)))
                        out.unlink()
                    best = max(runs, key=lambda r: r["images_per_second"])
                    base = base or best["images_per_second"]
                    print(
                        f"| {label} | {workers} | {best['images_per_second']:.1f} | {best['seconds']:.2f} "
                        f"| {best['cpu_s']:.1f} | {best['peak_rss_mb']:.0f} | {best['images_per_second'] / base:.2f}x |",
                        flush=True,
                    )
            print(f"\n({_load()} after)")

        big_list = write_list(work / "big.txt", pngs[: args.big])
        if "resume" not in args.skip:
            out = work / "resume.csv"
            part = Path(str(out) + ".part")
            print(f"\n## Kill -9 halfway, then --resume ({args.big} PNGs, 2 workers; {_load()})\n")
            killed = run_job(batch_command(big_list, out, 2, model), kill_at_rows=args.big // 2, part=part)
            kept = part.read_bytes().count(b"\n") - 1
            out_after_kill = out.exists()
            resumed = run_job(batch_command(big_list, out, 2, model, "--resume"))
            rows, distinct, same = check_rows(out, pngs[: args.big])
            print("| step | rows | note |")
            print("|---|---:|---|")
            print(
                f"| SIGKILL to the CLI process | {kept} in OUT.part | OUT exists: {out_after_kill}; "
                f"worker processes left running 20 s later: {killed['orphans_left']} |"
            )
            print(
                f"| --resume | {resumed['processed']} added | {resumed['resumed']} kept, "
                f"{resumed['seconds']:.1f} s |"
            )
            verdict = "PASS" if rows == distinct == args.big and same else "FAIL"
            print(f"| final file | {rows} | {distinct} distinct paths, exactly the inputs: {same} -> {verdict} |")
            out.unlink(missing_ok=True)

        if "memory" not in args.skip:
            print(f"\n## Peak memory of the whole job (2 workers; {_load()})\n")
            print("| files | peak RSS MB (sum over the process tree) | processes | images/s |")
            print("|---:|---:|---:|---:|")
            peaks = {}
            for n in (args.small, args.big):
                listing = write_list(work / f"mem-{n}.txt", pngs[:n])
                out = work / f"mem-{n}.csv"
                result = run_job(batch_command(listing, out, 2, model))
                peaks[n] = result["peak_rss_mb"]
                print(f"| {n} | {peaks[n]:.1f} | {result['processes']} | {result['images_per_second']:.1f} |", flush=True)
                out.unlink()
            growth = peaks[args.big] / peaks[args.small] - 1
            verdict = "PASS" if abs(growth) <= 0.10 else "FAIL"
            print(f"\n{args.big} files vs {args.small}: {growth:+.1%} (target within 10%) -> {verdict}")
        print(f"\n({_uptime()})")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
