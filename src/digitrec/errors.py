"""The one error family digitrec raises for a user's mistakes.

Every message says what was wrong and what to do about it. Each class carries a
stable snake_case ``code`` (the server's ``error.code``, the batch job's
``error_code``) and the HTTP status the server answers with.

    DigitrecError
     ├── UsageError (ValueError)             invalid_argument      422
     ├── MissingExtraError (ImportError)     missing_extra         500
     ├── DataError                           data_error            422
     │    ├── DataNotFoundError (FileNotFoundError)  data_not_found  404
     │    ├── CorruptDataError (ValueError)  corrupt_data          422
     │    └── DownloadError (OSError)        download_failed       502
     ├── InvalidImageError (ValueError)      invalid_image         422
     │    ├── UnsupportedImageError          unsupported_image     415
     │    ├── TruncatedImageError            truncated_image       422
     │    ├── ImageTooLargeError             image_too_large       413
     │    └── DecompressionBombError         decompression_bomb    422
     ├── SegmentationError (ValueError)      cannot_segment        422
     └── ModelError                          model_error           422
          ├── ModelNotFoundError (FileNotFoundError)  model_not_found  404
          ├── BundleError (ValueError)       invalid_bundle        422
          └── UnknownRecipeError (ValueError) unknown_recipe       404
"""

from __future__ import annotations

__all__ = [
    "DigitrecError",
    "UsageError",
    "MissingExtraError",
    "DataError",
    "DataNotFoundError",
    "CorruptDataError",
    "DownloadError",
    "InvalidImageError",
    "UnsupportedImageError",
    "TruncatedImageError",
    "ImageTooLargeError",
    "DecompressionBombError",
    "SegmentationError",
    "ModelError",
    "ModelNotFoundError",
    "BundleError",
    "UnknownRecipeError",
    "InternalError",
    "as_digitrec_error",
    "require",
]


class DigitrecError(Exception):
    """Base class of every error digitrec reports to a user.

    Parameters
    ----------
    message : str
        What was wrong and what to do about it, in one sentence or two.
    """

    code: str = "digitrec_error"
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object used by ``--json``, the server and batch rows."""
        return {"code": self.code, "message": self.message}


class UsageError(DigitrecError, ValueError):
    """An argument has a value digitrec cannot use."""

    code = "invalid_argument"
    http_status = 422


class MissingExtraError(DigitrecError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    code = "missing_extra"
    http_status = 500


class DataError(DigitrecError):
    """A dataset could not be found, read or fetched."""

    code = "data_error"
    http_status = 422


class DataNotFoundError(DataError, FileNotFoundError):
    """The dataset files are not where digitrec looked."""

    code = "data_not_found"
    http_status = 404


class CorruptDataError(DataError, ValueError):
    """A dataset file exists but is damaged or not what it claims to be."""

    code = "corrupt_data"
    http_status = 422


class DownloadError(DataError, OSError):
    """A download failed or did not match its checksum."""

    code = "download_failed"
    http_status = 502


class InvalidImageError(DigitrecError, ValueError):
    """The input is not an image digitrec can read."""

    code = "invalid_image"
    http_status = 422


class UnsupportedImageError(InvalidImageError):
    """The input is not in an image format digitrec reads."""

    code = "unsupported_image"
    http_status = 415


class TruncatedImageError(InvalidImageError):
    """The image file ends before its data does."""

    code = "truncated_image"
    http_status = 422


class ImageTooLargeError(InvalidImageError):
    """The encoded image is larger than the configured byte limit."""

    code = "image_too_large"
    http_status = 413


class DecompressionBombError(InvalidImageError):
    """The image declares more pixels than the configured limit."""

    code = "decompression_bomb"
    http_status = 422


class SegmentationError(DigitrecError, ValueError):
    """The image cannot be split into the number of digits asked for."""

    code = "cannot_segment"
    http_status = 422


class ModelError(DigitrecError):
    """A model bundle could not be found, trusted or used."""

    code = "model_error"
    http_status = 422


class ModelNotFoundError(ModelError, FileNotFoundError):
    """No model bundle has the given name or path."""

    code = "model_not_found"
    http_status = 404


class BundleError(ModelError, ValueError):
    """A model bundle is damaged, tampered with or foreign."""

    code = "invalid_bundle"
    http_status = 422


class UnknownRecipeError(ModelError, ValueError):
    """No recipe has the given name."""

    code = "unknown_recipe"
    http_status = 404


class InternalError(DigitrecError):
    """Something failed that digitrec did not foresee: a bug, reported without a traceback."""

    code = "internal_error"
    http_status = 500


def as_digitrec_error(exc: BaseException, what: str = "this request") -> DigitrecError:
    """``exc`` itself if it is a `DigitrecError`, else an `InternalError` that names it.

    The CLI, the server and batch jobs answer an unforeseen failure with one line that
    says what failed and asks for a report, instead of a traceback (and, for batch jobs
    and several files, for that file alone).

    Parameters
    ----------
    exc : BaseException
        What was raised.
    what : str, default="this request"
        What digitrec was doing, e.g. ``"photo.jpg"``.

    Returns
    -------
    DigitrecError
    """
    if isinstance(exc, DigitrecError):
        return exc
    return InternalError(
        f"digitrec failed on {what} ({type(exc).__name__}: {exc}); this is a bug: please report it "
        "at the project's issue tracker with the input that caused it"
    )


def require(module: str, extra: str):
    """Import an optional dependency, or raise `MissingExtraError` naming its extra.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"torch"``.
    extra : str
        The digitrec extra that installs it, e.g. ``"train"``.

    Returns
    -------
    module
        The imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed; install it with: pip install 'digitrec[{extra}]'"
        ) from exc
