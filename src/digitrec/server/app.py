"""``create_app()``: the FastAPI application, its lifespan and its pages."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, HTMLResponse

from digitrec.errors import require
from digitrec.server.batcher import Batcher
from digitrec.server.errors import install_error_handlers
from digitrec.server.middleware import BodyLimitMiddleware, TokenMiddleware
from digitrec.server.routers import health, models, recognize
from digitrec.server.settings import ServerSettings

__all__ = ["create_app", "create_app_from_env", "load_recognizer", "limit_native_threads", "freeze_startup_objects"]

STATIC = Path(__file__).resolve().parent / "static"


def load_recognizer(settings: ServerSettings) -> Any:
    """Load the model named by ``settings`` once, the way every worker does."""
    from digitrec.recognizer import Recognizer

    return Recognizer.load(
        settings.model,
        threads=settings.model_threads,
        max_bytes=settings.max_bytes,
        max_pixels=settings.max_pixels,
        pairs=settings.pairs,
    )


def limit_native_threads(threads: int) -> None:
    """Cap this process's BLAS/OpenMP pools: with one worker per core, more threads only fight.

    Called by ``digitrec serve`` and its workers, never by `create_app` itself, so a
    test process that builds an app keeps its own settings.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; without it the pools keep their defaults
        return
    threadpool_limits(limits=threads)


def freeze_startup_objects() -> None:
    """Leave everything made so far (modules, the app, the model) out of the garbage collector's full passes.

    A full collection walks every object the collector tracks: about 80,000 once the
    server has started, a pause of 25-50 ms here during which the worker answers
    nothing, the slowest bursts of the load test. What exists at startup lives as
    long as the process, so those passes found nothing to free. Called by
    ``digitrec serve`` and its workers once the model is loaded, never by
    `create_app`, like `limit_native_threads`.
    """
    gc.collect()
    gc.freeze()


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI 5 (OpenAPI 3.1) from the ``swagger-ui-bundle-v2`` package: ``/docs`` works offline."""
    bundle = require("swagger_ui_bundle", "serve")
    app.mount("/docs-assets", StaticFiles(directory=bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="digitrec API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def create_app(settings: ServerSettings | None = None, *, recognizer: Any = None) -> FastAPI:
    """Build the app.

    Parameters
    ----------
    settings : ServerSettings, optional
        Model, limits, token, CORS (default: `ServerSettings()`, which reads ``DIGITREC_TOKEN``).
    recognizer : Recognizer, optional
        An already loaded recognizer; by default the lifespan loads ``settings.model``.

    Returns
    -------
    FastAPI
    """
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The model is loaded once per process, before the first request.
        app.state.recognizer = recognizer if recognizer is not None else load_recognizer(settings)
        # Recognition threads that read the images waiting together (see `Batcher`).
        app.state.batcher = Batcher(settings.inference_threads)
        try:
            yield
        finally:
            app.state.batcher.close()

    app = FastAPI(
        title="digitrec",
        summary="Read handwritten digits and numbers from images.",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(recognize.router)
    app.include_router(models.router)
    app.include_router(health.router)
    _mount_docs(app)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def pad() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    # Middleware added last runs first: CORS answers preflights before the token is asked for.
    batch_path = recognize.router.prefix + "/recognize/batch"
    app.add_middleware(
        BodyLimitMiddleware,
        limit_for=lambda path: settings.max_batch_body_bytes if path == batch_path else settings.max_body_bytes,
        max_bytes=settings.max_bytes,
    )
    if settings.token:
        app.add_middleware(TokenMiddleware, token=settings.token)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def create_app_from_env() -> FastAPI:
    """The app for uvicorn's ``factory=True`` workers: settings come from the environment."""
    settings = ServerSettings.from_env()
    limit_native_threads(settings.model_threads)
    app = create_app(settings, recognizer=load_recognizer(settings))
    freeze_startup_objects()
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitrec")
    except PackageNotFoundError:
        return "0"
