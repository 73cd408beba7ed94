"""What a running server is configured with, and how it travels to uvicorn's workers."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

__all__ = ["ServerSettings", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "MAX_BATCH_FILES", "SETTINGS_ENV"]

#: A phone photo is a few MB; 10 MB leaves room without inviting abuse.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: 40 megapixels: more than any phone camera, far less than a decompression bomb.
DEFAULT_MAX_PIXELS = 40_000_000
#: Files one batch request may carry.
MAX_BATCH_FILES = 32
#: Environment variable carrying the settings to uvicorn worker processes (``--workers N``).
SETTINGS_ENV = "DIGITREC_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServerSettings:
    """Configuration of one server.

    Parameters
    ----------
    model : str, optional
        Model name or bundle path (``None``: the shipped default).
    max_bytes : int, default=10 MiB
        Largest image accepted, in bytes; a request body may hold at most this
        much (``MAX_BATCH_FILES`` times this for the batch endpoint) plus
        multipart overhead.
    max_pixels : int, default=40 million
        Largest image accepted, in pixels (decompression bombs stop here).
    token : str, optional
        Bearer token required on ``/v1/*`` (default: ``$DIGITREC_TOKEN``, unset means open).
    cors_origins : tuple of str, default=()
        Origins allowed by CORS; empty means no CORS headers at all.
    model_threads : int, default=1
        onnxruntime intra-op threads per worker: one worker per core scales
        better than one worker with several threads.
    pairs : str, optional, default="auto"
        The pair reader asked about touching digits (`digitrec.recognizer.Recognizer.load`'s
        ``pairs``): a name or bundle path, ``"auto"`` for the shipped one, None for none.
    inference_threads : int, default=1
        Threads per worker that run recognition off the event loop. Recognition
        is CPU-bound and a worker runs on one core: more threads only switch and
        share the GIL (64 clients on 2 workers: 557 req/s with one thread, 474
        with four); use ``--workers`` for more cores.
    """

    model: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    token: str | None = field(default_factory=lambda: os.environ.get("DIGITREC_TOKEN") or None)
    cors_origins: tuple[str, ...] = ()
    model_threads: int = 1
    inference_threads: int = 1
    pairs: str | None = "auto"

    @property
    def max_body_bytes(self) -> int:
        """Largest body of a single-image request (the image plus multipart headers)."""
        return self.max_bytes + 64 * 1024

    @property
    def max_batch_body_bytes(self) -> int:
        """Largest body of a batch request."""
        return MAX_BATCH_FILES * self.max_body_bytes

    def to_env(self) -> str:
        """These settings as JSON, for `SETTINGS_ENV` (the token stays in ``DIGITREC_TOKEN``)."""
        data = asdict(self)
        data.pop("token")
        return json.dumps(data)

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings written by `to_env` into `SETTINGS_ENV`, or the defaults."""
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            return cls()
        data = json.loads(raw)
        data["cors_origins"] = tuple(data.get("cors_origins", ()))
        return cls(**data)
