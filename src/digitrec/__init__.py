"""digitrec: handwritten digit recognition, from the classic tutorial to real handwriting.

The heavy parts (torch, matplotlib, fastapi, onnxruntime, dask) are imported by
the functions that need them, so ``import digitrec`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["DigitrecError", "Recognizer", "recognize_many", "__version__"]

from digitrec.errors import DigitrecError

if TYPE_CHECKING:  # pragma: no cover
    from digitrec.batch import recognize_many
    from digitrec.recognizer import Recognizer


def __getattr__(name: str) -> Any:
    # Lazy so that `import digitrec` does not load onnxruntime or PIL.
    if name == "Recognizer":
        from digitrec.recognizer import Recognizer

        return Recognizer
    if name == "recognize_many":
        from digitrec.batch import recognize_many

        return recognize_many
    raise AttributeError(f"module 'digitrec' has no attribute {name!r}")
