"""datasets.py: the splits, the IDX reader's checks, MNIST lookup and the downloader.

The downloader is tested against a real HTTP server on 127.0.0.1 serving small
IDX files the tests make; nothing here touches the network.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitrec import datasets
from digitrec.cli import cli
from digitrec.datasets import (
    ChecksumMismatchError,
    ShapeMismatchError,
    TrailingDataError,
    TruncatedDataError,
    WrongMagicError,
    dataset_split_name,
    load_split,
    read_idx,
)
from digitrec.errors import CorruptDataError, DataNotFoundError, DownloadError, UsageError

# ---------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file holding ``array`` (uint8): magic 0x0000080N, big-endian sizes, data."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def fake_mnist_arrays(n_train: int = 60, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test-images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test-labels": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def write_fake_mnist(folder: Path, monkeypatch, arrays=None, compress: bool = True) -> dict[str, np.ndarray]:
    """Write four small MNIST-like files and make datasets trust their checksums."""
    arrays = arrays or fake_mnist_arrays()
    folder.mkdir(parents=True, exist_ok=True)
    for role, stem in datasets.MNIST_FILES.items():
        raw = idx_bytes(arrays[role])
        monkeypatch.setitem(datasets.MNIST_SHA256, stem, hashlib.sha256(raw).hexdigest())
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $DIGITREC_DATA and an empty user cache, so only what a test sets is found."""
    monkeypatch.delenv("DIGITREC_DATA", raising=False)
    monkeypatch.delenv("DIGITREC_MNIST_URL", raising=False)
    cache = tmp_path / "cache" / "mnist"
    monkeypatch.setattr(datasets, "default_download_dir", lambda: cache)
    return cache


# ---------------------------------------------------------------- digits and split names


def test_digits_tutorial_split_is_the_seeds(digits_8x8):
    X, y = digits_8x8
    split = load_split("digits/tutorial")
    assert split.input_format == "optdigits"
    assert split.X_train.shape == (1000, 64) and split.X_test.shape == (797, 64)
    assert split.X_train.dtype == np.float64 and split.X_train.min() == 0 and split.X_train.max() == 16
    np.testing.assert_array_equal(split.X_train, X[:1000])
    np.testing.assert_array_equal(split.y_test, y[1000:])
    assert len(split.sha256) == 64
    assert split.sha256 == load_split("digits/tutorial").sha256  # deterministic
    assert split.n_train == 1000 and split.n_test == 797


def test_split_sha256_changes_with_the_data():
    split = load_split("digits/tutorial")
    changed = datasets.Split(
        split.name, split.input_format, split.X_train.copy(), split.y_train.copy(), split.X_test, split.y_test
    )
    changed.y_train[0] = (changed.y_train[0] + 1) % 10
    assert changed.sha256 != split.sha256


@pytest.mark.parametrize(
    ("dataset", "split", "name"),
    [
        ("digits", None, "digits/tutorial"),
        ("mnist", None, "mnist/standard"),
        ("mnist", "small", "mnist/small"),
        ("mnist", "mnist/tiny", "mnist/tiny"),
        (None, "digits/tutorial", "digits/tutorial"),
    ],
)
def test_dataset_split_name(dataset, split, name):
    assert dataset_split_name(dataset, split) == name


@pytest.mark.parametrize(
    ("dataset", "split"), [("emnist", None), ("mnist", "huge"), ("digits", "mnist/tiny"), (None, None)]
)
def test_dataset_split_name_rejects_nonsense(dataset, split):
    with pytest.raises(UsageError):
        dataset_split_name(dataset, split)


def test_unknown_split_lists_the_known_ones():
    with pytest.raises(UsageError, match="mnist/small"):
        load_split("mnist/everything")


# ---------------------------------------------------------------- IDX reader


def test_read_idx_raw_and_gzip_agree(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = tmp_path / "raw-idx3-ubyte"
    raw.write_bytes(idx_bytes(images))
    packed = tmp_path / "packed-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(raw, ndim=3), images)
    np.testing.assert_array_equal(read_idx(packed, ndim=3), images)
    assert not read_idx(raw).flags.writeable  # shared through the cache


def test_read_idx_is_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.array([1, 2, 3])))
    first = read_idx(path, ndim=1)
    assert read_idx(path, ndim=1) is first
    path.write_bytes(idx_bytes(np.array([4, 5, 6])))  # same size: only the mtime tells
    os.utime(path, ns=(10**18, 10**18))  # a different mtime even on coarse clocks
    assert read_idx(path, ndim=1).tolist() == [4, 5, 6]


@pytest.mark.parametrize(
    ("damage", "error", "match"),
    [
        (lambda b: b"\x00\x00\x08\x01" + b[4:], WrongMagicError, "expected 00000803"),
        (lambda b: b"PK\x03\x04" + b[4:], WrongMagicError, "IDX magic number"),
        (lambda b: b"", WrongMagicError, "empty file"),
        (lambda b: b[:-100], TruncatedDataError, "truncated"),
        (lambda b: b[:10], TruncatedDataError, "truncated"),
        (lambda b: b + b"\x00" * 7, TrailingDataError, "7 bytes after"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_reports_damage_clearly(tmp_path, damage, error, match, compress):
    good = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    data = damage(good)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(error, match=match) as info:
        read_idx(path, ndim=3)
    assert isinstance(info.value, CorruptDataError)
    assert "digitrec download mnist" in info.value.message
    assert str(path) in info.value.message


def test_read_idx_truncated_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 28, 28))))[:-20])
    with pytest.raises(TruncatedDataError, match="truncated gzip"):
        read_idx(path)


def test_read_idx_checks_the_content_checksum(tmp_path):
    data = idx_bytes(np.ones((2, 28, 28)))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data))
    assert read_idx(path, sha256=hashlib.sha256(data).hexdigest()).shape == (2, 28, 28)
    with pytest.raises(ChecksumMismatchError, match="wrong checksum.*digitrec download mnist"):
        read_idx(path, sha256="0" * 64)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_idx(tmp_path / "nope")


# ---------------------------------------------------------------- MNIST lookup and splits


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_splits_from_data_dir(tmp_path, monkeypatch, isolated, compress):
    arrays = write_fake_mnist(tmp_path / "data", monkeypatch, compress=compress)
    split = load_split("mnist/standard", data_home=tmp_path / "data")
    assert split.input_format == "mnist"
    assert split.X_train.shape == (60, 784) and split.X_train.dtype == np.float32
    assert split.y_train.dtype == np.int64
    np.testing.assert_allclose(split.X_train[1], arrays["train-images"][1].reshape(-1) / 255.0, rtol=1e-6)
    assert 0.0 <= split.X_train.min() and split.X_train.max() <= 1.0
    split.X_train[0, 0] = 42.0  # writable, and does not leak into the next load
    assert load_split("mnist/standard", data_home=tmp_path / "data").X_train[0, 0] != 42.0

    small = load_split("mnist/small", data_home=tmp_path / "data")
    assert (small.n_train, small.n_test) == (10, 10)
    np.testing.assert_array_equal(small.y_train, arrays["train-labels"][::6])
    tiny = load_split("mnist/tiny", data_home=tmp_path / "data")
    assert (tiny.n_train, tiny.n_test) == (2, 1)


def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch, isolated):
    # three folders with different (trusted) data; each must win in its turn
    data_dir, env_dir = tmp_path / "d", tmp_path / "e"
    write_fake_mnist(isolated, monkeypatch, fake_mnist_arrays(n_train=30))
    assert load_split("mnist/standard").n_train == 30  # only the cache
    write_fake_mnist(env_dir / "mnist", monkeypatch, fake_mnist_arrays(n_train=40))
    monkeypatch.setenv("DIGITREC_DATA", str(env_dir))
    assert load_split("mnist/standard").n_train == 40  # env (its mnist/ subfolder) before the cache
    write_fake_mnist(data_dir, monkeypatch, fake_mnist_arrays(n_train=50))
    assert load_split("mnist/standard", data_home=data_dir).n_train == 50


def test_missing_mnist_says_where_it_looked_and_how_to_fix(tmp_path, monkeypatch, isolated):
    monkeypatch.setenv("DIGITREC_DATA", str(tmp_path / "env"))
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataNotFoundError) as info:
        load_split("mnist/tiny", data_home=tmp_path / "partial")
    message = info.value.message
    for place in (str(tmp_path / "partial"), str(tmp_path / "env"), str(isolated)):
        assert place in message
    assert "only train-images" in message
    assert "DIGITREC_DATA" in message and "--data-dir" in message and "digitrec download mnist" in message


def test_images_and_labels_must_pair_up(tmp_path, monkeypatch, isolated):
    arrays = fake_mnist_arrays()
    arrays["test-labels"] = arrays["test-labels"][:7]
    write_fake_mnist(tmp_path, monkeypatch, arrays)
    with pytest.raises(ShapeMismatchError, match="10 images but .* 7 labels"):
        load_split("mnist/standard", data_home=tmp_path)


def test_real_files_are_checked_against_the_published_checksums(tmp_path, isolated):
    # a well-formed IDX file that is not the real MNIST content
    for role, stem in datasets.MNIST_FILES.items():
        arrays = fake_mnist_arrays()
        (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(arrays[role])))
    with pytest.raises(ChecksumMismatchError, match="train-images-idx3-ubyte"):
        load_split("mnist/tiny", data_home=tmp_path)


@pytest.mark.mnist
def test_real_mnist_splits(mnist_dir):
    split = load_split("mnist/standard", data_home=mnist_dir)
    assert split.X_train.shape == (60000, 784) and split.X_test.shape == (10000, 784)
    assert split.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the famous first five
    assert split.X_train.dtype == np.float32 and split.X_train.max() == 1.0
    tiny = load_split("mnist/tiny", data_home=mnist_dir)
    assert (tiny.n_train, tiny.n_test) == (2000, 1000)
    assert np.bincount(tiny.y_train, minlength=10).min() > 150  # every digit well represented


# ---------------------------------------------------------------- download (loopback server)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served; yields (folder, base URL)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}/mnist"
    finally:
        httpd.shutdown()
        httpd.server_close()


def serve_fake_mnist(served: Path, monkeypatch) -> dict[str, str]:
    """Put four fake .gz files on the server and make datasets trust them; returns name -> md5."""
    (served / "mnist").mkdir()
    write_fake_mnist(served / "mnist", monkeypatch)
    table = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (served / "mnist").iterdir()}
    for name, md5 in table.items():
        monkeypatch.setitem(datasets.MNIST_GZ_MD5, name, md5)
    return table


def test_fetch_downloads_and_verifies(server, tmp_path):
    served, url = server
    (served / "mnist").mkdir()
    payload = gzip.compress(idx_bytes(np.arange(200_000) % 256))
    (served / "mnist" / "a.gz").write_bytes(payload)
    calls = []
    dest = tmp_path / "dest"
    paths = datasets._fetch({"a.gz": hashlib.md5(payload).hexdigest()}, url, dest, lambda *a, **k: calls.append(a))
    assert paths == [dest / "a.gz"]
    assert (dest / "a.gz").read_bytes() == payload
    assert [p.name for p in dest.iterdir()] == ["a.gz"]  # no staging folder left
    assert calls and calls[-1] == ("download a.gz", len(payload), len(payload))


def test_fetch_bad_checksum_leaves_nothing(server, tmp_path):
    served, url = server
    (served / "mnist").mkdir()
    (served / "mnist" / "good.gz").write_bytes(b"good bytes")
    (served / "mnist" / "bad.gz").write_bytes(b"tampered bytes")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    files = {"good.gz": hashlib.md5(b"good bytes").hexdigest(), "bad.gz": hashlib.md5(b"original bytes").hexdigest()}
    with pytest.raises(DownloadError, match="did not match its known checksum"):
        datasets._fetch(files, url, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]  # not even the good file: all or nothing


def test_fetch_http_error_leaves_nothing(server, tmp_path):
    _, url = server
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="could not download .*missing.gz"):
        datasets._fetch({"missing.gz": "0" * 32}, url, dest)
    assert list(dest.iterdir()) == []


def test_download_mnist_then_load(server, tmp_path, monkeypatch, isolated):
    served, url = server
    serve_fake_mnist(served, monkeypatch)
    monkeypatch.setenv("DIGITREC_MNIST_URL", url)
    folder = datasets.download_mnist(tmp_path / "dl")
    assert folder == tmp_path / "dl"
    assert sorted(p.name for p in folder.iterdir()) == sorted(datasets.MNIST_GZ_MD5)
    assert load_split("mnist/tiny", data_home=folder).n_train == 2
    # a second call finds them intact and fetches nothing (the server is gone from the table)
    monkeypatch.setenv("DIGITREC_MNIST_URL", "http://127.0.0.1:9/nothing-here")
    assert datasets.download_mnist(tmp_path / "dl") == folder


def test_download_if_missing_goes_to_the_cache(server, monkeypatch, isolated):
    served, url = server
    serve_fake_mnist(served, monkeypatch)
    monkeypatch.setenv("DIGITREC_MNIST_URL", url)
    split = load_split("mnist/small", download_if_missing=True)
    assert split.n_train == 10
    assert sorted(p.name for p in isolated.iterdir()) == sorted(datasets.MNIST_GZ_MD5)


def test_cli_download_json(server, tmp_path, monkeypatch, isolated):
    served, url = server
    serve_fake_mnist(served, monkeypatch)
    result = CliRunner().invoke(cli, ["download", "mnist", "--data-dir", str(tmp_path / "x"), "--url", url, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["folder"] == str(tmp_path / "x")
    assert set(answer["files"]) == set(datasets.MNIST_FILES)


def test_cli_download_bad_checksum_is_one_clear_line(server, tmp_path, monkeypatch, isolated):
    served, url = server
    serve_fake_mnist(served, monkeypatch)
    monkeypatch.setitem(datasets.MNIST_GZ_MD5, "t10k-labels-idx1-ubyte.gz", "0" * 32)
    result = CliRunner().invoke(cli, ["download", "mnist", "--data-dir", str(tmp_path / "x"), "--url", url])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitrec: error: ") and "checksum" in lines[0]
    assert "Traceback" not in result.output
    assert list((tmp_path / "x").iterdir()) == []


def test_download_keeps_intact_files_and_refetches_only_the_damaged_one(server, tmp_path, monkeypatch, isolated):
    served, url = server
    serve_fake_mnist(served, monkeypatch)
    dest = tmp_path / "mine"
    dest.mkdir()
    for path in (served / "mnist").iterdir():
        # the same content compressed differently (as `gzip -n` does): other bytes, other MD5
        (dest / path.name).write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=1))
    kept = (dest / "train-images-idx3-ubyte.gz").read_bytes()
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    fetched = []
    datasets.download_mnist(dest, base_url=url, progress=lambda name, *a, **k: fetched.append(name))
    assert set(fetched) == {"download t10k-labels-idx1-ubyte.gz"}
    assert (dest / "train-images-idx3-ubyte.gz").read_bytes() == kept
    refetched = (dest / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert refetched == (served / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert load_split("mnist/tiny", data_home=dest).n_test == 1


def test_download_tries_the_next_mirror(server, tmp_path, monkeypatch, isolated):
    served, url = server
    serve_fake_mnist(served, monkeypatch)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (url + "/not-here/", url))
    assert datasets.download_mnist(tmp_path / "dl") == tmp_path / "dl"
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (url + "/not-here/", url + "/nor-here/"))
    with pytest.raises(DownloadError, match="nor-here.*HTTP 404"):
        datasets.download_mnist(tmp_path / "dl2")
    assert list((tmp_path / "dl2").iterdir()) == []


def test_read_idx_on_something_unreadable(tmp_path):
    from digitrec.errors import DataError

    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path)  # a folder, not a file
