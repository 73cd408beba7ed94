"""The HTTP API and the drawing pad: ``digitrec serve``.

``create_app()`` builds the FastAPI application; its lifespan loads the model
bundle once, and every request uses that one `Recognizer`::

    GET  /                       the drawing pad (static/index.html, pad.js, pad.css)
    POST /v1/recognize           one image: multipart field ``file`` or a raw image/* body
    POST /v1/recognize/batch     several images: multipart fields ``files``
    GET  /v1/models              the loaded model and the shipped ones
    GET  /healthz                liveness and the model's name
    GET  /docs, /openapi.json    the API's description, served without any CDN

Importing this package imports FastAPI; ``digitrec.cli`` imports it only inside
``digitrec serve``.
"""

from __future__ import annotations

from digitrec.server.app import create_app, create_app_from_env
from digitrec.server.settings import ServerSettings

__all__ = ["create_app", "create_app_from_env", "ServerSettings"]
