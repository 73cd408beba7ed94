"""The datasets digitrec trains on, handed out in the models' input formats.

Two sources:

* scikit-learn's embedded 8x8 digits (the UCI "optdigits" format: 64 float64
  values, 0..16, ink high), always available;
* MNIST, read from the four canonical IDX files (gzip-compressed or raw), found
  in ``--data-dir``, then ``$DIGITREC_DATA``, then the per-user cache, or
  downloaded there with `download_mnist` (checksums checked, written atomically).
  MNIST comes out in the "mnist" format: 784 float32 values, 0..1, white ink = 1.

`load_split` names the train/test splits the rest of digitrec uses:

====================  =====  =====  =========
name                  train  test   format
====================  =====  =====  =========
``digits/tutorial``   1000   797    optdigits
``mnist/standard``    60000  10000  mnist
``mnist/small``       10000  10000  mnist
``mnist/tiny``        2000   1000   mnist
====================  =====  =====  =========

Every damaged file raises a `CorruptDataError` subclass whose message says which
file and what to do; a missing one raises `DataNotFoundError` naming every place
looked.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.errors import CorruptDataError, DataError, DataNotFoundError, DownloadError, UsageError
from digitrec.progress import ProgressFn, null_progress

__all__ = [
    "Split",
    "SPLITS",
    "DATASETS",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_GZ_MD5",
    "DEFAULT_MNIST_URL",
    "MNIST_MIRRORS",
    "WrongMagicError",
    "TruncatedDataError",
    "TrailingDataError",
    "ChecksumMismatchError",
    "ShapeMismatchError",
    "load_digits",
    "load_split",
    "dataset_split_name",
    "read_idx",
    "read_mnist",
    "find_mnist",
    "mnist_search_path",
    "default_download_dir",
    "download_mnist",
]

# The four canonical files, by the role they play.
MNIST_FILES: dict[str, str] = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the uncompressed files, as published; a .gz may be re-compressed
# (gzip -n, another level) and still hold exactly these bytes, so the content is
# what we check, not the archive.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# MD5 of the .gz files as the public mirrors serve them (the bytes a download gets).
MNIST_GZ_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

# Public mirrors serving the original .gz files, tried in order (the first is the
# one torchvision uses; Yann LeCun's own site now refuses scripted downloads).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DEFAULT_MNIST_URL = MNIST_MIRRORS[0]

_FIX_CORRUPT = "delete it and download it again with: digitrec download mnist"
_FIX_MISSING = (
    "point DIGITREC_DATA (or --data-dir) at a folder holding the four MNIST IDX files, "
    "or download them with: digitrec download mnist"
)

# name -> (description, input format)
SPLITS: dict[str, tuple[str, str]] = {
    "digits/tutorial": ("scikit-learn's 8x8 digits: first 1000 to train, other 797 to test", "optdigits"),
    "mnist/standard": ("MNIST: the 60000 training and 10000 test images", "mnist"),
    "mnist/small": ("MNIST: every 6th training image (10000) and the 10000 test images", "mnist"),
    "mnist/tiny": ("MNIST: every 30th training image (2000) and every 10th test image (1000)", "mnist"),
}

# --dataset NAME -> its default split
DATASETS: dict[str, str] = {"digits": "digits/tutorial", "mnist": "mnist/standard"}


class WrongMagicError(CorruptDataError):
    """The file does not start with the IDX magic number expected."""


class TruncatedDataError(CorruptDataError):
    """The file ends before the data its header declares."""


class TrailingDataError(CorruptDataError):
    """The file holds more bytes than its header declares."""


class ChecksumMismatchError(CorruptDataError):
    """The file's content does not have the known checksum."""


class ShapeMismatchError(CorruptDataError):
    """Images and labels do not pair up (different counts or image size)."""


@dataclass(frozen=True, eq=False)
class Split:
    """A named train/test split, in one model input format.

    Attributes
    ----------
    name : str
        The split's name, e.g. ``"digits/tutorial"``.
    input_format : {"optdigits", "mnist"}
        The layout of one sample (see ``docs/architecture.md``).
    X_train, y_train, X_test, y_test : ndarray
        Samples (one per row) and integer labels.
    sha256 : str
        SHA-256 of the training data (``X_train`` then ``y_train``, with their
        dtypes and shapes): what a model card records as its training data.
    """

    name: str
    input_format: str
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)

    @functools.cached_property
    def sha256(self) -> str:  # computed on first use: hashing 60000 images costs a fraction of a second
        return _arrays_sha256(self.X_train, self.y_train)

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return len(self.y_test)

    def __repr__(self) -> str:
        return (
            f"Split(name={self.name!r}, input_format={self.input_format!r}, "
            f"n_train={self.n_train}, n_test={self.n_test})"
        )


def _arrays_sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


# --------------------------------------------------------------------------- digits


def load_digits(*, return_X_y: bool = False) -> Any:
    """scikit-learn's embedded 8x8 digits (1797 samples, optdigits format).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the `~sklearn.utils.Bunch`.

    Returns
    -------
    sklearn.utils.Bunch or tuple of ndarray
        As `sklearn.datasets.load_digits`: ``data`` (1797, 64) float64 in 0..16,
        ``images`` (1797, 8, 8), ``target`` (1797,).
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    return sklearn_load_digits(return_X_y=return_X_y)


# --------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.uint8}  # MNIST uses unsigned bytes only; other IDX types are not needed here


def read_idx(path: str | os.PathLike, *, ndim: int | None = None, sha256: str | None = None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into a read-only array.

    The file is parsed once per process for a given path and modification time;
    later calls return the cached array, so keep it read-only (copy to change it).

    Parameters
    ----------
    path : path-like
        The file. Compression is recognised by content, not by name.
    ndim : int, optional
        The number of dimensions expected (3 for images, 1 for labels).
    sha256 : str, optional
        Known SHA-256 of the uncompressed content; checked when given.

    Returns
    -------
    ndarray of uint8
        Shaped as the header declares.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    WrongMagicError, TruncatedDataError, TrailingDataError, ChecksumMismatchError
        The file is damaged; the message says what to do.
    """
    path = Path(path)
    try:
        stat = path.resolve().stat()
    except FileNotFoundError:
        raise DataNotFoundError(f"{path} does not exist; {_FIX_MISSING}") from None
    return _read_idx_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, ndim, sha256)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, mtime_ns: int, size: int, ndim: int | None, sha256: str | None) -> np.ndarray:
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc}); check that it is a file you may read") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise TruncatedDataError(f"{path} is a truncated gzip file; {_FIX_CORRUPT}") from None
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise CorruptDataError(f"{path} is a damaged gzip file ({exc}); {_FIX_CORRUPT}") from None

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise WrongMagicError(
            f"{path} does not start with an IDX magic number (got {raw[:4].hex() or 'an empty file'}); "
            f"it is not an MNIST file: {_FIX_CORRUPT}"
        )
    file_ndim = raw[3]
    if ndim is not None and file_ndim != ndim:
        expected = f"0000080{ndim}"
        raise WrongMagicError(
            f"{path} has magic number {raw[:4].hex()}, expected {expected} "
            f"({'images' if ndim == 3 else 'labels'} with {ndim} dimension(s)); "
            f"is it the right file? Otherwise {_FIX_CORRUPT}"
        )
    header = 4 + 4 * file_ndim
    if len(raw) < header:
        raise TruncatedDataError(f"{path} is truncated inside its header; {_FIX_CORRUPT}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=file_ndim, offset=4))
    expected_bytes = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) < expected_bytes:
        raise TruncatedDataError(
            f"{path} is truncated: its header declares shape {shape} ({expected_bytes} bytes) "
            f"but it holds {len(raw)} bytes; {_FIX_CORRUPT}"
        )
    if len(raw) > expected_bytes:
        raise TrailingDataError(
            f"{path} has {len(raw) - expected_bytes} bytes after the data its header declares; {_FIX_CORRUPT}"
        )
    if sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256:
            raise ChecksumMismatchError(
                f"{path} has the wrong checksum (sha256 {actual[:12]}…, expected {sha256[:12]}…) "
                f"for {name}; {_FIX_CORRUPT}"
            )
    array = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=header).reshape(shape)
    array.flags.writeable = False
    return array


# --------------------------------------------------------------------------- MNIST lookup


def default_download_dir() -> Path:
    """The per-user cache folder for MNIST (e.g. ``~/.cache/digitrec/mnist`` on Linux)."""
    try:
        import pooch

        return Path(pooch.os_cache("digitrec")) / "mnist"
    except ImportError:  # pooch is a core dependency; this only guards odd installs
        return Path.home() / ".cache" / "digitrec" / "mnist"


def mnist_search_path(data_home: str | os.PathLike | None = None) -> list[tuple[str, Path | None]]:
    """Where MNIST is looked for, in order: ``(label, folder or None if unset)``.

    Parameters
    ----------
    data_home : path-like, optional
        The ``--data-dir`` folder, looked in first.
    """
    env = os.environ.get("DIGITREC_DATA")
    return [
        ("--data-dir", Path(data_home).expanduser() if data_home is not None else None),
        ("$DIGITREC_DATA", Path(env).expanduser() if env else None),
        ("user cache", default_download_dir()),
    ]


def _candidate_folders(folder: Path) -> list[Path]:
    # Accept both a folder of the files and its "mnist" subfolder, so one
    # DIGITREC_DATA can hold several datasets.
    return [folder, folder / "mnist"]


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find_mnist(data_home: str | os.PathLike | None = None) -> dict[str, Path]:
    """Locate the four MNIST files.

    Parameters
    ----------
    data_home : path-like, optional
        The ``--data-dir`` folder, looked in before ``$DIGITREC_DATA`` and the cache.

    Returns
    -------
    dict
        ``{"train-images": path, "train-labels": ..., "test-images": ..., "test-labels": ...}``,
        all from the first folder that holds all four.

    Raises
    ------
    DataNotFoundError
        No folder holds all four; the message lists every place looked.
    """
    looked: list[str] = []
    for label, folder in mnist_search_path(data_home):
        if folder is None:
            looked.append(f"{label} (not set)")
            continue
        for candidate in _candidate_folders(folder):
            found = {role: _file_in(candidate, stem) for role, stem in MNIST_FILES.items()}
            if all(found.values()):
                return found  # type: ignore[return-value]
            present = [role for role, path in found.items() if path is not None]
            if candidate == folder or present:
                what = f"only {', '.join(present)}" if present else "no MNIST files"
                looked.append(f"{label} {candidate} ({what})")
    raise DataNotFoundError("MNIST files not found; looked in: " + "; ".join(looked) + f". To fix: {_FIX_MISSING}")


def read_mnist(
    subset: str = "train",
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images and labels as stored: uint8 ``(n, 28, 28)``, 0..255, white ink high.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        Which file pair.
    data_home : path-like, optional
        The ``--data-dir`` folder.
    download_if_missing : bool, default=False
        Download the files into the first configured folder when none are found.

    Returns
    -------
    images : ndarray of uint8, shape (n, 28, 28)
        Read-only (shared by later calls).
    labels : ndarray of uint8, shape (n,)
        Read-only.

    Raises
    ------
    DataNotFoundError, CorruptDataError, DownloadError
    """
    if subset not in ("train", "test"):
        raise UsageError(f"unknown MNIST subset {subset!r}; use 'train' or 'test'")
    try:
        paths = find_mnist(data_home)
    except DataNotFoundError:
        if not download_if_missing:
            raise
        paths = find_mnist(download_mnist(data_home))
    images_path, labels_path = paths[f"{subset}-images"], paths[f"{subset}-labels"]
    images = read_idx(images_path, ndim=3, sha256=MNIST_SHA256[MNIST_FILES[f"{subset}-images"]])
    labels = read_idx(labels_path, ndim=1, sha256=MNIST_SHA256[MNIST_FILES[f"{subset}-labels"]])
    _check_pair(images, labels, images_path, labels_path)
    return images, labels


def _check_pair(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    if len(images) != len(labels):
        raise ShapeMismatchError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            f"one of them is from another dataset or damaged: {_FIX_CORRUPT}"
        )
    if images.shape[1:] != (28, 28):
        raise ShapeMismatchError(
            f"{images_path} holds images of {images.shape[1]}x{images.shape[2]} pixels, "
            f"not MNIST's 28x28; {_FIX_CORRUPT}"
        )


def _to_mnist_format(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> the "mnist" input format: float32 (n, 784), 0..1."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- splits


def dataset_split_name(dataset: str | None, split: str | None = None) -> str:
    """Turn the CLI's ``--dataset`` and ``--split`` into a split name.

    Parameters
    ----------
    dataset : {"digits", "mnist"} or None
        The dataset; ``None`` when ``split`` is a full name.
    split : str, optional
        A split of that dataset, short (``"small"``) or full (``"mnist/small"``);
        the dataset's default split when omitted.

    Returns
    -------
    str
        A key of `SPLITS`, e.g. ``"mnist/small"``.

    Raises
    ------
    UsageError
        Unknown dataset or split, or a split of another dataset.

    Examples
    --------
    >>> dataset_split_name("digits")
    'digits/tutorial'
    >>> dataset_split_name("mnist", "tiny")
    'mnist/tiny'
    """
    if dataset is not None and dataset not in DATASETS:
        raise UsageError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if split is None:
        if dataset is None:
            raise UsageError("give a dataset (digits or mnist) or a split name such as mnist/small")
        return DATASETS[dataset]
    name = split if "/" in split else f"{dataset}/{split}" if dataset else split
    if name not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if dataset is not None and not name.startswith(f"{dataset}/"):
        raise UsageError(f"split {name!r} is not a split of the {dataset} dataset; choose one of: {', '.join(SPLITS)}")
    return name


def load_split(
    name: str,
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = False,
) -> Split:
    """Load a named train/test split in its model input format.

    Parameters
    ----------
    name : str
        One of `SPLITS`: ``"digits/tutorial"``, ``"mnist/standard"``,
        ``"mnist/small"``, ``"mnist/tiny"``.
    data_home : path-like, optional
        The ``--data-dir`` folder for MNIST.
    download_if_missing : bool, default=False
        Download MNIST when it is not found.

    Returns
    -------
    Split
        New, writable arrays (changing them does not affect later calls).

    Raises
    ------
    UsageError
        Unknown split name.
    DataNotFoundError, CorruptDataError, DownloadError
        MNIST could not be found, read or fetched.

    Examples
    --------
    >>> split = load_split("digits/tutorial")
    >>> split.X_train.shape, split.X_test.shape
    ((1000, 64), (797, 64))
    """
    if name not in SPLITS:
        raise UsageError(f"unknown split {name!r}; choose one of: {', '.join(SPLITS)}")
    input_format = SPLITS[name][1]
    if name == "digits/tutorial":
        X, y = load_digits(return_X_y=True)
        # The seed tutorial's split: no shuffling, the first 1000 images train.
        return Split(name, input_format, X[:1000], y[:1000], X[1000:], y[1000:])

    train_images, train_labels = read_mnist("train", data_home=data_home, download_if_missing=download_if_missing)
    test_images, test_labels = read_mnist("test", data_home=data_home, download_if_missing=download_if_missing)
    # Strided subsets rather than a seeded shuffle: they are the same forever on
    # every NumPy, and spread evenly over the files (MNIST's writers are grouped).
    train_step, test_step = {"mnist/standard": (1, 1), "mnist/small": (6, 1), "mnist/tiny": (30, 10)}[name]
    return Split(
        name,
        input_format,
        _to_mnist_format(train_images[::train_step]),
        train_labels[::train_step].astype(np.int64),
        _to_mnist_format(test_images[::test_step]),
        test_labels[::test_step].astype(np.int64),
    )


# --------------------------------------------------------------------------- download


class _PoochProgress:
    """The progress-bar object pooch's HTTPDownloader drives, reporting to a `ProgressFn`."""

    def __init__(self, progress: ProgressFn, description: str) -> None:
        self._progress = progress
        self._description = description
        self.total: int | None = None
        self._done = 0

    def update(self, n: int) -> None:
        self._done += n
        total = self.total or None
        # pooch counts whole chunks, so the last one can overshoot the size.
        self._progress(self._description, min(self._done, total) if total else self._done, total)

    def reset(self) -> None:
        self._done = 0

    def close(self) -> None:
        pass


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _why(exc: Exception) -> str:
    """A short reason for a failed request (requests' own messages run to several lines)."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect to the server"
    return str(exc)[:200]


def _fetch(
    files: dict[str, str],
    base_url: str,
    dest: Path,
    progress: ProgressFn = null_progress,
) -> list[Path]:
    """Download ``files`` (name -> MD5) from ``base_url`` into ``dest``, all or nothing.

    Each file goes to a staging folder inside ``dest`` (same file system, so the
    final rename is atomic), is checked against its MD5 by pooch, and only when
    every file arrived intact are they renamed into ``dest``. On any failure the
    staging folder is removed: ``dest`` keeps exactly what it had before.
    Files already in ``dest`` with the right MD5 are not fetched again.
    """
    import pooch
    import requests

    dest.mkdir(parents=True, exist_ok=True)
    if not base_url.endswith("/"):
        base_url += "/"
    wanted = {name: md5 for name, md5 in files.items() if not ((dest / name).is_file() and _md5(dest / name) == md5)}
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch logs each download on stderr; our progress bar says it instead
    try:
        for name, md5 in wanted.items():
            url = base_url + name
            downloader = pooch.HTTPDownloader(
                progressbar=_PoochProgress(progress, f"download {name}"), chunk_size=1 << 16, timeout=60
            )
            try:
                pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=staging, downloader=downloader)
            except ValueError as exc:  # pooch's hash mismatch
                raise DownloadError(
                    f"{url} did not match its known checksum ({exc}); nothing was saved. "
                    "Try again later or set DIGITREC_MNIST_URL to another MNIST mirror."
                ) from None
            except (requests.RequestException, OSError) as exc:
                raise DownloadError(
                    f"could not download {url} ({_why(exc)}). Check the network, or set DIGITREC_MNIST_URL "
                    "to another MNIST mirror, or copy the files by hand and set DIGITREC_DATA."
                ) from None
        for name in wanted:
            os.replace(staging / name, dest / name)
    finally:
        logger.setLevel(level)
        shutil.rmtree(staging, ignore_errors=True)
    return [dest / name for name in files]


def download_mnist(
    data_home: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    progress: ProgressFn = null_progress,
) -> Path:
    """Download the four MNIST files, checked against their known checksums.

    Files already present and intact are kept. After the download the content
    is read back and checked against the published SHA-256 as well.

    Parameters
    ----------
    data_home : path-like, optional
        Where to put them; default ``$DIGITREC_DATA``, else the user cache
        (`default_download_dir`).
    base_url : str, optional
        The mirror; default ``$DIGITREC_MNIST_URL``, else each of `MNIST_MIRRORS`
        in turn until one works.
    progress : ProgressFn, default=null_progress
        Receives bytes downloaded per file.

    Returns
    -------
    pathlib.Path
        The folder holding the four files.

    Raises
    ------
    DownloadError
        The network failed or a file did not match its checksum (nothing half
        written is left behind).
    """
    if data_home is not None:
        dest = Path(data_home).expanduser()
    elif os.environ.get("DIGITREC_DATA"):
        dest = Path(os.environ["DIGITREC_DATA"]).expanduser()
    else:
        dest = default_download_dir()
    chosen = base_url or os.environ.get("DIGITREC_MNIST_URL")
    mirrors = [chosen] if chosen else list(MNIST_MIRRORS)
    for folder in _candidate_folders(dest)[1:]:
        if not _missing_or_damaged(folder):
            return folder
    # Only what is missing or damaged is fetched: a file with the published
    # content stays, even when its .gz bytes differ from the mirror's.
    wanted = {f"{stem}.gz": MNIST_GZ_MD5[f"{stem}.gz"] for stem in _missing_or_damaged(dest)}
    for number, mirror in enumerate(mirrors if wanted else [], start=1):
        try:
            _fetch(wanted, mirror, dest, progress)
            break
        except PermissionError as exc:
            raise DownloadError(f"cannot write to {dest} ({exc}); choose another folder with --data-dir") from None
        except DownloadError:
            if number == len(mirrors):
                raise
    for role, stem in MNIST_FILES.items():  # the content, too, must be the published one
        read_idx(_file_in(dest, stem) or dest / f"{stem}.gz", ndim=_ndim(role), sha256=MNIST_SHA256[stem])
    return dest


def _ndim(role: str) -> int:
    return 3 if role.endswith("images") else 1


def _missing_or_damaged(folder: Path) -> list[str]:
    """The MNIST file stems that ``folder`` lacks or holds with other content than published."""
    bad = []
    for role, stem in MNIST_FILES.items():
        path = _file_in(folder, stem)
        try:
            if path is None:
                raise DataNotFoundError(stem)
            read_idx(path, ndim=_ndim(role), sha256=MNIST_SHA256[stem])
        except DataError:
            bad.append(stem)
    return bad
