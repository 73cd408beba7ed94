"""The pair reader: its format, its training data, its training, and the recogniser asking it."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from digitrec.bundle import available_models, load_bundle
from digitrec.errors import UsageError
from digitrec.pairs import NOT_A_PAIR, compose, make_pair_set
from digitrec.preprocess import PAIR_HEIGHT, PAIR_SIDE, PAIR_WIDTH, to_pair
from digitrec.recognizer import PAIR_SURE, Recognizer, split_pair

needs_pairs = pytest.mark.skipif("pairs" not in available_models(), reason="the pair reader has not been trained yet")


def _mnist(mnist_dir, subset="t10k", n=200):
    import gzip

    with gzip.open(mnist_dir / f"{subset}-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(mnist_dir / f"{subset}-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)[:n]
    return images, labels


def _png(ink: np.ndarray, scale: int = 5) -> bytes:
    """Ink (0..1) as dark strokes on light paper, enlarged."""
    page = np.pad(ink, 12)
    picture = Image.fromarray((235 - 200 * page).astype(np.uint8))
    picture = picture.resize((page.shape[1] * scale, page.shape[0] * scale), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- the format and the data


def test_to_pair_fits_a_wide_blob_into_the_pair_box():
    blob = np.zeros((30, 60), np.float32)
    blob[5:25, 5:8] = 1  # two bars: a "1" and a "1" three widths apart
    blob[5:25, 50:53] = 1
    sample = to_pair(blob).reshape(PAIR_SIDE, PAIR_SIDE)
    assert sample.dtype == np.float32 and sample.min() >= 0 and sample.max() == pytest.approx(1.0)
    cols = np.flatnonzero(sample.max(axis=0) > 0.05)
    rows = np.flatnonzero(sample.max(axis=1) > 0.05)
    assert PAIR_WIDTH - 2 <= cols[-1] - cols[0] + 1 <= PAIR_WIDTH
    assert rows[-1] - rows[0] + 1 <= PAIR_HEIGHT
    assert not to_pair(np.zeros((10, 10))).any()


def test_compose_makes_one_blob_of_touching_digits():
    rng = np.random.default_rng(0)
    a = np.zeros((28, 28), np.float32)
    a[4:24, 12:16] = 1  # a "1"
    b = np.zeros((28, 28), np.float32)
    b[4:24, 8:20] = 1
    b[8:20, 12:16] = 0  # a "0"
    for _ in range(20):
        blob = compose([a, b], rng)
        assert (blob > 0.05).any(axis=0).all()  # no empty column between them: they touch or cross
        assert 12 < blob.shape[1] <= 1.15 * (4 + 12) + 1  # no wider than the two side by side, scaled
    assert np.array_equal(compose([a, b], np.random.default_rng(5)), compose([a, b], np.random.default_rng(5)))


def test_make_pair_set_labels_every_pair_and_not_a_pair(mnist_like, digits_8x8):
    _, y = digits_8x8
    X = mnist_like
    labels = y[:60]
    X_pairs, y_pairs = make_pair_set(X, labels, 120, rendered=False, random_state=3)
    assert X_pairs.shape == (len(y_pairs), 1600) and X_pairs.dtype == np.float32
    assert set(range(100)) <= set(y_pairs.tolist()) and NOT_A_PAIR in y_pairs
    assert (y_pairs == NOT_A_PAIR).sum() == int(0.10 * 120) + int(0.05 * 120)
    again = make_pair_set(X, labels, 120, rendered=False, random_state=3)
    assert np.array_equal(X_pairs, again[0]) and np.array_equal(y_pairs, again[1])
    only_pairs = make_pair_set(X, labels, 100, not_pairs=False)[1]
    assert sorted(only_pairs.tolist()) == list(range(100))


def test_make_pair_set_renders_non_digits(mnist_like, digits_8x8):
    X_pairs, y_pairs = make_pair_set(mnist_like, digits_8x8[1][:60], 100, random_state=0)
    rendered = int(0.15 * 100)
    assert (y_pairs == NOT_A_PAIR).sum() >= 10 + 5 + rendered // 2  # a render may break into pieces
    assert X_pairs[-1].max() > 0.5


@pytest.mark.parametrize(
    "X, y, n, message",
    [
        (np.zeros((5, 64)), np.arange(5), 100, "784"),
        (np.zeros((5, 784)), np.arange(5), 100, "all ten"),
        (np.zeros((10, 784)), np.arange(10), 50, "at least 100"),
    ],
)
def test_make_pair_set_says_what_is_wrong(X, y, n, message):
    with pytest.raises(UsageError, match=message):
        make_pair_set(X, y, n, rendered=False)


def test_split_pair_cuts_at_the_thin_waist():
    crop = np.zeros((20, 40), np.float32)
    crop[2:18, 2:18] = 1
    crop[4:16, 22:38] = 1
    crop[9:11, 18:22] = 1  # a thin bridge between the two
    halves, boxes = split_pair(crop, (100, 50, 140, 70))
    assert [h.shape[1] for h in halves] == [boxes[0][2] - 100, 40 - (boxes[1][0] - 100)]
    assert 18 <= halves[0].shape[1] <= 22
    assert boxes[0][0] == 100 and boxes[1][2] == 140
    assert boxes[1][1] == 54 and boxes[1][3] == 66  # tightened to the second half's ink


# --------------------------------------------------------------------------- training


@pytest.mark.slow
@pytest.mark.mnist
def test_pair_training_is_reproducible_and_makes_a_pair_bundle(mnist_dir, tmp_path):
    pytest.importorskip("torch")
    from digitrec.datasets import load_split
    from digitrec.training import save_trained, train

    split = load_split("mnist/tiny", data_home=mnist_dir)
    quick = {"n_pairs": 400, "max_epochs": 1, "rendered": False, "n_test_pairs": 300}
    runs = []
    for name in ("a", "b"):
        result = train("cnn-pairs", split, overrides=quick)
        path = save_trained(result, tmp_path / name, command="test")
        runs.append((result.metrics["accuracy"], hashlib.sha256((path / "model.onnx").read_bytes()).hexdigest()))
    assert runs[0] == runs[1]
    assert result.metrics["n"] == 300
    bundle = load_bundle(tmp_path / "a")
    card = bundle.card
    assert card["input_format"] == "pair" and card["classes"] == list(range(100)) and card["reject_class"]
    assert bundle.predict_proba(np.zeros((2, 1600), np.float32)).shape == (2, 101)
    # A pair reader is no digit reader, and a digit reader no pair reader.
    with pytest.raises(UsageError, match="not single digits"):
        Recognizer(bundle)
    digits = Recognizer.load(pairs=None).bundle
    with pytest.raises(UsageError, match="no pair reader"):
        Recognizer(digits, pairs=digits)
    assert Recognizer(digits, pairs=bundle).pairs is bundle


def test_evaluate_refuses_a_pair_reader_with_a_reason():
    if "pairs" not in available_models():
        pytest.skip("the pair reader has not been trained yet")
    from digitrec.cli import cli

    run = CliRunner().invoke(cli, ["evaluate", "pairs"])
    assert run.exit_code == 1 and "not single digits" in run.output and "Traceback" not in run.output


# --------------------------------------------------------------------------- the shipped reader at work


@needs_pairs
def test_shipped_pair_reader_card():
    card = load_bundle(available_models()["pairs"]).card
    assert card["recipe"] == "cnn-pairs" and card["command"].startswith("digitrec train cnn-pairs --dataset mnist")
    assert card["input_format"] == "pair" and card["reject_class"]
    assert card["metrics"]["n"] == 10000 and card["metrics"]["accuracy"] >= 0.95


@needs_pairs
@pytest.mark.mnist
def test_touching_digits_are_read_as_a_pair(mnist_dir):
    images, labels = _mnist(mnist_dir)
    inks = images.astype(np.float32) / 255
    with_pairs, without = Recognizer.load(), Recognizer.load(pairs=None)
    assert with_pairs.pairs is not None and without.pairs is None
    rng = np.random.default_rng(0)
    read = offered = 0
    for k in range(30):
        i, j = 2 * k, 2 * k + 1
        image = _png(compose([inks[i], inks[j]], rng))
        alone = without.recognize(image)
        if len(alone.digits) != 1 or not (alone.digits[0].rejected or alone.digits[0].confidence < 0.5):
            continue  # the digit model cut or read it itself
        offered += 1
        result = with_pairs.recognize(image)
        if result.text == f"{labels[i]}{labels[j]}":
            read += 1
            assert len(result.samples) == len(result.crops) == 2
            first, second = result.digits
            assert first.box[0] < second.box[0] and first.blob == second.blob
            assert first.confidence * second.confidence >= PAIR_SURE * 0.9
        # Told how many digits there are, the recogniser cuts as before: the count is the caller's.
        assert len(with_pairs.recognize(image, digits=1).digits) == 1
    assert offered >= 5 and read >= 0.7 * offered, (read, offered)


@needs_pairs
@pytest.mark.mnist
def test_the_pair_reader_leaves_separate_digits_alone(mnist_dir):
    images, labels = _mnist(mnist_dir, n=24)
    with_pairs, without = Recognizer.load(), Recognizer.load(pairs=None)
    for k in range(0, 24, 3):
        row = np.concatenate([np.pad(images[i], ((0, 0), (3, 3))) for i in range(k, k + 3)], axis=1) / 255
        image = _png(row)
        a, b = with_pairs.recognize(image), without.recognize(image)
        assert a.text == b.text and [d.box for d in a.digits] == [d.box for d in b.digits]


@needs_pairs
def test_recognizer_info_names_the_pair_reader():
    assert Recognizer.load().info()["pairs"] == "pairs"
    assert Recognizer.load(pairs=None).info()["pairs"] is None
    assert json.dumps(Recognizer.load().info())


def _only_read_as_a_pair(mnist_dir) -> bytes:
    """A PNG of two touching MNIST digits that the digit model rejects and the pair reader reads."""
    images, _ = _mnist(mnist_dir)
    inks = images.astype(np.float32) / 255
    rng = np.random.default_rng(0)
    with_pairs, without = Recognizer.load(), Recognizer.load(pairs=None)
    for k in range(30):
        data = _png(compose([inks[2 * k], inks[2 * k + 1]], rng))
        alone = without.recognize(data)
        if len(alone.digits) == 1 and alone.digits[0].rejected and len(with_pairs.recognize(data).digits) == 2:
            return data
    pytest.fail("no touching pair the pair reader reads in 30")


@needs_pairs
@pytest.mark.mnist
def test_predict_reads_touching_digits_unless_told_not_to(mnist_dir, tmp_path):
    from digitrec.cli import cli

    path = tmp_path / "pair.png"
    path.write_bytes(_only_read_as_a_pair(mnist_dir))
    runs = {}
    for option in ([], ["--pairs", "none"], ["--pairs", "pairs"]):
        run = CliRunner().invoke(cli, ["predict", str(path), "--json", *option])
        assert run.exit_code == 0, run.output
        runs[" ".join(option)] = json.loads(run.output)
    assert len(runs[""]["digits"]) == 2 and runs[""] == runs["--pairs pairs"]
    assert len(runs["--pairs none"]["digits"]) == 1
    run = CliRunner().invoke(cli, ["predict", str(path), "--pairs", "default"])
    assert run.exit_code == 1 and "no pair reader" in run.output and "Traceback" not in run.output


@needs_pairs
@pytest.mark.mnist
@pytest.mark.slow
def test_batch_reads_touching_digits_unless_told_not_to(mnist_dir, tmp_path):
    """The pair reader choice reaches the job in this process and in a pool's workers alike."""
    import csv

    import os

    from digitrec.batch import ReaderSpec, recognize_many
    from digitrec.bundle import resolve_model
    from digitrec.cli import cli
    from digitrec.errors import ModelNotFoundError

    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "pair.png").write_bytes(_only_read_as_a_pair(mnist_dir))
    rows = {}
    for option in ([], ["--pairs", "none"]):
        out = tmp_path / f"out{len(option)}.csv"
        run = CliRunner().invoke(cli, ["batch", str(folder), "--out", str(out), "--workers", "1", "--quiet", *option])
        assert run.exit_code == 0, run.output
        (rows[" ".join(option)],) = list(csv.DictReader(out.open()))
    assert rows[""]["n_digits"] == "2" and rows["--pairs none"]["n_digits"] == "1"
    paths = [str(folder / "pair.png")]
    in_pool = list(recognize_many(paths, workers=2, pairs=None))
    assert in_pool == list(recognize_many(paths, pairs=None)) and len(in_pool[0]["digits"]) == 1
    # Names and paths are looked up before any worker starts: a typo fails on the call.
    with pytest.raises(ModelNotFoundError):
        recognize_many(paths, workers=2, pairs="no-such-reader")
    assert ReaderSpec.of(None, 0.5, "pairs") == ReaderSpec(None, 0.5, "pairs")
    # A bundle given by a relative path reaches the workers as an absolute one, stamped.
    shipped = resolve_model("pairs")
    spec = ReaderSpec.of(None, None, os.path.relpath(shipped))
    assert spec.pairs == str(shipped.resolve()) and spec.stamp()[0] is None and spec.stamp()[1] is not None
    with pytest.raises(UsageError, match="threshold"):
        ReaderSpec.of(None, 1.5)
