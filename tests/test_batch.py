"""Batch jobs: inputs, lazy recognition, streaming rows, crashes and resume, Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitrec.batch import COLUMNS, _ResultsFile, expand_inputs, recognize_many, run_batch
from digitrec.cli import cli
from digitrec.errors import BundleError, CorruptDataError, ModelNotFoundError, UsageError

N_GOOD = 24
N_ROWS = N_GOOD + 1  # the broken PNG gets a row too
N_MANY = 400


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model(onnx_bundle) -> Path:
    """A tiny ONNX bundle: it loads in a blink in each worker process (skops would import torch)."""
    return onnx_bundle


def _write_digit(path: Path, sample: np.ndarray) -> None:
    from PIL import Image

    # Dark ink on white paper, 28x28, like a small scan.
    grey = (255 - sample.reshape(8, 8) / 16 * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey).resize((28, 28), Image.BILINEAR).save(path)


@pytest.fixture(scope="module")
def scans(tmp_path_factory, digits_8x8) -> Path:
    """``N_GOOD`` digit PNGs in nested folders, one broken PNG, and files to be skipped."""
    root = tmp_path_factory.mktemp("scans")
    X, _ = digits_8x8
    for i in range(N_GOOD):
        folder = root / ("a" if i % 3 else "b/c")
        _write_digit(folder / f"{i:03d}.png", X[i])
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    (root / "a" / "notes.txt").write_text("not an image")
    _write_digit(root / ".hidden" / "skipped.png", X[0])
    return root


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        return list(reader)


def _by_path(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r["path"])


# ------------------------------------------------------------------------- inputs


def test_folder_is_searched_recursively_in_order_skipping_non_images(scans):
    paths = list(expand_inputs([scans]))
    assert len(paths) == N_ROWS
    assert all(p.endswith(".png") for p in paths)
    assert not any(".hidden" in p for p in paths)
    assert paths == list(expand_inputs([scans]))  # deterministic
    assert paths.index(os.path.join(str(scans), "a", "broken.png")) < paths.index(
        os.path.join(str(scans), "b", "c", "000.png")
    )


def test_glob_and_list_file(scans, tmp_path):
    matched = list(expand_inputs([str(scans / "b" / "**" / "*.png")]))
    assert matched == sorted(matched) and len(matched) == N_GOOD // 3

    listing = scans / "a" / "list.txt"
    listing.write_text("# two files, relative to this list\n\n001.png\n  ../b/c/003.png  \n/abs/missing.png\n")
    try:
        listed = list(expand_inputs([listing]))
    finally:
        listing.unlink()
    assert listed == [str(scans / "a" / "001.png"), str(scans / "b" / "c" / "003.png"), "/abs/missing.png"]


def test_bad_inputs_fail_before_any_work(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        expand_inputs([tmp_path / "nope"])
    with pytest.raises(UsageError, match="matches no files"):
        expand_inputs([str(tmp_path / "*.png")])
    with pytest.raises(UsageError, match="found no images"):
        run_batch([tmp_path], tmp_path / "out.csv", workers=1)
    assert not list(tmp_path.glob("out.csv*"))
    with pytest.raises(UsageError, match=r"\.csv or \.jsonl"):
        run_batch([tmp_path], tmp_path / "out.xlsx")


def test_missing_model_raises_and_leaves_no_part(scans, tmp_path):
    with pytest.raises(ModelNotFoundError):
        run_batch([scans], tmp_path / "out.csv", model=tmp_path / "no-model", workers=1)
    assert not list(tmp_path.glob("out.csv*"))


# -------------------------------------------------------------------- recognition


def test_recognize_many_is_lazy(scans, model):
    consumed = []

    def paths():
        for path in expand_inputs([scans]):
            consumed.append(path)
            yield path

    results = recognize_many(paths(), model=model, chunk_size=1)
    assert consumed == []  # nothing read before asked
    first = next(results)
    assert consumed == [first["path"]]
    assert set(first) == {"path", "text", "digits", "model"}
    second = next(results)
    assert len(consumed) == 2 and second["path"] == consumed[1]
    # Read a chunk at a time (the model once over the chunk's digits), and no more.
    consumed.clear()
    chunked = recognize_many(paths(), model=model, chunk_size=4)
    assert next(chunked)["path"] == consumed[0] and len(consumed) == 4


def test_a_chunk_answers_as_each_file_alone_even_when_one_trips_a_bug(scans, model, monkeypatch):
    from digitrec.batch import recognize_chunk, recognize_one
    from digitrec.recognizer import Recognizer

    recognizer = Recognizer.load(model)
    paths = [str(p) for p in expand_inputs([scans])][:6]
    alone = [recognize_one(recognizer, path, None) for path in paths]
    assert recognize_chunk(recognizer, paths, None) == alone
    real = recognizer._prepare

    def buggy(image, digits):
        if str(image) == paths[2]:
            raise ZeroDivisionError("a bug")
        return real(image, digits)

    monkeypatch.setattr(recognizer, "_prepare", buggy)
    rows = recognize_chunk(recognizer, paths, None)
    assert rows[2]["error"]["code"] == "internal_error" and "ZeroDivisionError" in rows[2]["error"]["message"]
    assert rows[:2] + rows[3:] == alone[:2] + alone[3:]


def test_pool_keeps_a_bounded_number_of_paths_in_flight(scans, model):
    consumed = []

    def paths():
        for i in range(10_000):
            path = str(scans / "a" / "001.png")
            consumed.append(i)
            yield path

    results = recognize_many(paths(), model=model, workers=2, chunk_size=4)
    first = next(results)
    assert first == next(recognize_many([str(scans / "a" / "001.png")], model=model))
    # 2 workers x 2 chunks in flight x 4 paths, plus the chunk being filled.
    assert len(consumed) <= 2 * 2 * 4 + 4
    results.close()


def test_bad_file_is_an_error_row_and_the_job_goes_on(scans, model, tmp_path):
    out = tmp_path / "results.csv"
    summary = run_batch([scans], out, model=model, workers=1)
    rows = _csv_rows(out)
    assert len(rows) == N_ROWS == summary.total
    assert (summary.read, summary.failed, summary.processed) == (N_GOOD, 1, N_GOOD + 1)
    bad = [r for r in rows if r["error_code"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.png")
    assert bad[0]["error_code"] == "unsupported_image" and "PNG" in bad[0]["error_message"]
    good = [r for r in rows if not r["error_code"]]
    for row in good:
        confidences = [float(c) for c in row["confidences"].split()]
        assert int(row["n_digits"]) == len(confidences) == len(row["digits"].split()) == len(row["text"]) >= 1
        assert all(0.0 <= c <= 1.0 for c in confidences)
        assert row["uncertain"] in ("true", "false") and row["model"] == "tiny-onnx"
    # Each row says what the recogniser says about that file on its own.
    from digitrec.recognizer import Recognizer

    recognizer = Recognizer.load(model)
    for row in good[:5]:
        alone = recognizer.recognize(row["path"])
        assert row["text"] == alone.text
        assert row["confidences"] == " ".join(f"{d.confidence:.4f}" for d in alone.digits)
    assert not Path(str(out) + ".part").exists()


def test_jsonl_rows_are_typed(scans, model, tmp_path):
    out = tmp_path / "results.jsonl"
    run_batch([scans], out, model=model, workers=1, digits=1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == N_ROWS
    for row in rows:
        assert list(row) == list(COLUMNS)
        if row["error_code"] is None:
            assert row["n_digits"] == 1 and isinstance(row["confidences"][0], float)
            assert isinstance(row["digits"][0], int) and isinstance(row["uncertain"], bool)
        else:
            assert row["text"] is None and isinstance(row["error_message"], str)


def test_two_workers_give_the_same_rows_as_one(scans, model, tmp_path):
    one = run_batch([scans], tmp_path / "one.csv", model=model, workers=1)
    two = run_batch([scans], tmp_path / "two.csv", model=model, workers=2, chunk_size=3)
    assert one.total == two.total == N_ROWS
    # In input order either way, so the files are identical.
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "two.csv").read_text()


def test_a_model_that_fails_in_the_workers_stops_the_job(scans, model, tmp_path):
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(model, broken)
    (broken / "model.onnx").write_bytes((broken / "model.onnx").read_bytes() + b"tampered")
    with pytest.raises(BundleError, match="do not match the hash"):
        run_batch([scans], tmp_path / "out.csv", model=broken, workers=2)
    assert not list(tmp_path.glob("out.csv*"))


# --------------------------------------------------------------- crashes and resume


class Crash(KeyboardInterrupt):
    """What Ctrl-C raises, sent from the progress callback after some rows."""


def _crash_after(n_rows: int):
    def progress(description, completed, total, **info):
        if completed >= n_rows:
            raise Crash

    return progress


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_crash_leaves_no_output_and_resume_finishes_it(scans, model, tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    part = Path(str(out) + ".part")
    with pytest.raises(Crash):
        run_batch([scans], out, model=model, workers=1, progress=_crash_after(10))
    assert not out.exists() and part.exists()

    with pytest.raises(UsageError, match="--resume"):
        run_batch([scans], out, model=model, workers=1)

    # A torn last line, as a SIGKILL in the middle of a write would leave.
    with open(part, "a", encoding="utf-8") as handle:
        handle.write(f"{scans}/b/c/000.png,0")
    summary = run_batch([scans], out, model=model, workers=1, resume=True)
    assert not part.exists()
    assert summary.resumed == 10 and summary.processed == N_ROWS - 10

    if suffix == ".csv":
        rows = _csv_rows(out)
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == N_ROWS
    assert set(paths) == set(expand_inputs([scans]))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_with_awkward_names_and_a_torn_multibyte_character(scans, model, tmp_path, suffix):
    import shutil

    folder = tmp_path / "odd"
    folder.mkdir()
    for i, name in zip([1, 2, 4, 5], ["a,b.png", 'q"x.png', "ünï cødé.png", "plain.png"]):
        shutil.copy(scans / "a" / f"{i:03d}.png", folder / name)
    out = tmp_path / f"results{suffix}"
    with pytest.raises(Crash):
        run_batch([folder], out, model=model, workers=1, progress=_crash_after(2))
    with open(Path(str(out) + ".part"), "ab") as handle:
        handle.write(str(folder / "ünï").encode()[:-1])  # cut inside a UTF-8 character
    run_batch([folder], out, model=model, workers=1, resume=True)
    if suffix == ".csv":
        paths = [r["path"] for r in _csv_rows(out)]
    else:
        paths = [json.loads(line)["path"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())


def test_a_damaged_part_is_refused(scans, model, tmp_path):
    out = tmp_path / "results.jsonl"
    Path(str(out) + ".part").write_text('{"path": "a.png"}\nnot json\n{"path": "b.png"}\n')
    with pytest.raises(CorruptDataError, match="line 2"):
        run_batch([scans], out, model=model, workers=1, resume=True)


def test_two_jobs_cannot_write_one_part(tmp_path):
    first = _ResultsFile(tmp_path / "results.csv")
    first.open(resume=False)
    try:
        with pytest.raises(UsageError, match="another digitrec batch job"):
            _ResultsFile(tmp_path / "results.csv").open(resume=True)
    finally:
        first.abandon()


def _batch_process(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "digitrec", "batch", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and
        # Python then raises no KeyboardInterrupt: the job must hear Ctrl-C however the
        # tests were started (`bash .ci/run &` included).
        preexec_fn=_hear_ctrl_c,
    )


def _hear_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_rows(part: Path, n_rows: int, process: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if part.exists():
            rows = part.read_bytes().count(b"\n") - 1  # less the header
            if rows >= n_rows:
                return rows
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError(f"no {n_rows} rows in {part} after {timeout} s")


@pytest.fixture(scope="module")
def many_scans(tmp_path_factory, digits_8x8) -> Path:
    """Enough images that a job is still running when the test kills it."""
    root = tmp_path_factory.mktemp("many")
    X, _ = digits_8x8
    for i in range(N_MANY):
        _write_digit(root / f"{i:04d}.png", X[i])
    return root


@pytest.mark.slow
def test_sigkill_mid_job_then_resume_gives_every_row_once(many_scans, model, tmp_path):
    psutil = pytest.importorskip("psutil")

    out = tmp_path / "results.csv"
    args = [str(many_scans), "--out", str(out), "--model", str(model), "--workers", "2", "--quiet"]
    process = _batch_process(args, tmp_path)
    part = Path(str(out) + ".part")
    _wait_for_rows(part, 40, process)
    workers = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()
    kept = part.read_bytes().count(b"\n") - 1
    assert 40 <= kept < N_MANY
    # The workers notice their parent is gone and exit rather than linger.
    psutil.wait_procs(workers, timeout=15)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]

    result = subprocess.run(
        [sys.executable, "-m", "digitrec", "batch", *args, "--resume", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total"] == N_MANY and summary["resumed"] == kept
    paths = [r["path"] for r in _csv_rows(out)]
    assert len(paths) == len(set(paths)) == N_MANY


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume(many_scans, model, tmp_path):
    out = tmp_path / "results.jsonl"
    process = _batch_process([str(many_scans), "--out", str(out), "--model", str(model), "-w", "1", "-q"], tmp_path)
    _wait_for_rows(Path(str(out) + ".part"), 20, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists()


# ---------------------------------------------------------------------------- CLI


def test_cli_summary_and_part_exists_error(scans, model, tmp_path):
    out = tmp_path / "results.csv"
    runner = CliRunner()
    result = runner.invoke(cli, ["batch", str(scans), "--out", str(out), "-m", str(model), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert f"{N_GOOD + 1} images: {N_GOOD} read, 1 failed" in result.output and "images/s" in result.output

    Path(str(out) + ".part").write_text(",".join(COLUMNS) + "\n")
    result = runner.invoke(cli, ["batch", str(scans), "--out", str(out), "-m", str(model), "-w", "1", "--json"])
    assert result.exit_code == 1
    assert "Pass --resume" in result.output and "delete" in result.output

    result = runner.invoke(
        cli, ["batch", str(scans), "--out", str(out), "-m", str(model), "-w", "1", "--json", "--resume"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["total"] == N_GOOD + 1 and summary["failed"] == 1 and summary["images_per_second"] > 0


# --------------------------------------------------------------------------- Dask


@pytest.mark.slow
def test_dask_local_cluster_of_two_workers(scans, model, tmp_path):
    distributed = pytest.importorskip("distributed")

    run_batch([scans], tmp_path / "one.csv", model=model, workers=1)
    expected = _csv_rows(tmp_path / "one.csv")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        out = tmp_path / "dask.csv"
        with pytest.raises(Crash):
            run_batch([scans], out, model=model, scheduler=address, chunk_size=2, progress=_crash_after(6))
        assert not out.exists()
        summary = run_batch([scans], out, model=model, scheduler=address, chunk_size=2, resume=True)
        assert summary.resumed >= 6 and summary.total == N_ROWS
        rows = _csv_rows(out)
        assert len({r["path"] for r in rows}) == len(rows) == N_ROWS
        assert _by_path(rows) == _by_path(expected)
        # Each worker process loaded the model once, however many chunks it ran.
        loads = _model_loads_per_worker(distributed, address)
        assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def _model_loads_per_worker(distributed, address: str) -> dict[str, int]:
    def loads() -> int:
        from digitrec.batch_dask import _worker_recognizer

        return _worker_recognizer.cache_info().misses

    with distributed.Client(address) as client:
        return client.run(loads)


@pytest.mark.slow
def test_dask_scheduler_local_starts_its_own_cluster(scans, model):
    pytest.importorskip("distributed")
    paths = sorted(expand_inputs([scans]))[:5]
    results = list(recognize_many(paths, model=model, scheduler="local", workers=1))
    assert sorted(r["path"] for r in results) == paths


def test_dask_scheduler_must_be_local_or_an_address(scans, model):
    pytest.importorskip("distributed")
    with pytest.raises(UsageError, match="tcp://"):
        next(recognize_many([str(scans)], model=model, scheduler="10.0.0.5:8786"))
