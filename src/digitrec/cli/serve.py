"""``digitrec serve``: the drawing pad and the HTTP API."""

from __future__ import annotations

import ipaddress
import os

import click

from digitrec.cli._options import model_option, pairs_option

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@model_option
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1024),
    default=None,
    help="Largest image accepted, in bytes (default: 10 MiB); larger requests get 413.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Largest image accepted, in pixels (default: 40 million); larger ones get 422 (decompression bomb).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes; one per CPU core serves the most requests.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Allow browser pages from ORIGIN to call the API (repeatable; no CORS by default).",
)
@click.option("--quiet", "-q", is_flag=True, help="No startup line and no access log.")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@pairs_option
def command(
    host: str,
    port: int,
    model: str | None,
    max_bytes: int | None,
    max_pixels: int | None,
    workers: int,
    cors_origins: tuple[str, ...],
    quiet: bool,
    access_log: bool,
    pairs: str | None,
) -> None:
    """Serve the drawing pad at / and the HTTP API under /v1.

    Set DIGITREC_TOKEN to require 'Authorization: Bearer TOKEN' on /v1/*.
    The API is described at /docs (works offline).

    \b
    Examples:
      digitrec serve                         # http://127.0.0.1:8000
      digitrec serve --workers 2 --port 9000
      curl -F file=@digit.png http://127.0.0.1:8000/v1/recognize
      curl --data-binary @digit.png -H 'Content-Type: image/png' http://127.0.0.1:8000/v1/recognize
    """
    from digitrec.errors import UsageError, require
    from digitrec.server.app import create_app, freeze_startup_objects, limit_native_threads, load_recognizer
    from digitrec.server.settings import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, SETTINGS_ENV, ServerSettings

    uvicorn = require("uvicorn", "serve")
    settings = ServerSettings(
        model=model,
        max_bytes=max_bytes or DEFAULT_MAX_BYTES,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        cors_origins=tuple(cors_origins),
        pairs=pairs,
    )
    limit_native_threads(settings.model_threads)
    # Load once here so a bad --model fails now, with one line, not inside each worker.
    recognizer = load_recognizer(settings)
    if not quiet:
        guarded = "token required on /v1" if settings.token else "no token"
        click.echo(
            f"digitrec: serving model {recognizer.name!r} on http://{_url_host(host)}:{port}/ "
            f"({workers} worker{'s' if workers > 1 else ''}, {guarded}); Ctrl+C stops",
            err=True,
        )
        if not _is_loopback(host) and not settings.token:
            click.echo("digitrec: warning: listening beyond this machine without DIGITREC_TOKEN", err=True)
    common = dict(
        host=host,
        port=port,
        access_log=access_log and not quiet,
        log_level="warning" if quiet else "info",
        http=_fastest("httptools", "h11"),
        loop=_fastest("uvloop", "asyncio"),
        timeout_graceful_shutdown=5,
    )
    if workers == 1:
        app = create_app(settings, recognizer=recognizer)
        freeze_startup_objects()
        uvicorn.run(app, **common)
        return
    # Worker processes import the app themselves and read these settings from the environment;
    # the supervisor does not need its own copy of the model.
    del recognizer
    os.environ[SETTINGS_ENV] = settings.to_env()
    from digitrec.server.workers import check_port_free, reuse_port_supported, run_workers

    if not reuse_port_supported():
        uvicorn.run("digitrec.server:create_app_from_env", factory=True, workers=workers, **common)
        return
    try:
        check_port_free(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from exc
    options = {k: v for k, v in common.items() if k not in ("host", "port")}
    status = run_workers(host, port, workers, options)
    if status:
        raise UsageError(f"a server worker stopped with status {status}; see the messages above")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _fastest(module: str, fallback: str) -> str:
    """uvicorn's C-accelerated HTTP parser / event loop when installed (uvicorn[standard])."""
    import importlib.util

    return module if importlib.util.find_spec(module) is not None else fallback
