"""The HTTP API: every endpoint, every bad request, the token, CORS, and a real uvicorn."""

from __future__ import annotations

import asyncio
import dataclasses
import concurrent.futures
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server needs the [serve] extra")

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from digitrec.errors import SegmentationError  # noqa: E402
from digitrec.recognizer import Recognizer  # noqa: E402
from digitrec.server import ServerSettings, create_app  # noqa: E402
from digitrec.server.dependencies import get_recognizer  # noqa: E402

MAX_BYTES = 200_000
MAX_PIXELS = 2_000_000


# --------------------------------------------------------------------------- images


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def bars_png(count: int = 1, *, transparent: bool = False) -> bytes:
    """``count`` vertical strokes side by side: black ink on white, or on a transparent canvas."""
    width = 140 * count
    if transparent:
        image = Image.new("RGBA", (width, 280), (0, 0, 0, 0))
        ink = (0, 0, 0, 255)
    else:
        image = Image.new("L", (width, 280), 255)
        ink = 0
    draw = ImageDraw.Draw(image)
    for i in range(count):
        x = 70 + 140 * i
        draw.line([(x, 50), (x, 230)], fill=ink, width=18)
    return png_bytes(image)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width x height`` pixels (10 gigapixels), with 1 pixel of data."""
    data = png_bytes(Image.new("L", (1, 1), 255))
    ihdr_start = 8 + 8  # signature, then the IHDR chunk's length and type
    fields = struct.pack(">II", width, height) + data[ihdr_start + 8 : ihdr_start + 13]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + fields) & 0xFFFFFFFF)
    return data[:ihdr_start] + fields + crc + data[ihdr_start + 17 :]


ONE = bars_png(1)
TWO = bars_png(2)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def recognizer(tiny_bundle: Path) -> Recognizer:
    return Recognizer.load(str(tiny_bundle), threads=1, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def settings(tiny_bundle: Path) -> ServerSettings:
    return ServerSettings(model=str(tiny_bundle), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, token=None)


@pytest.fixture(scope="module")
def client(settings: ServerSettings):
    # The lifespan loads the bundle named in the settings, as `digitrec serve` does.
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def assert_still_serving(client) -> None:
    response = client.post("/v1/recognize", content=ONE, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["text"] != ""


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 20, "the message should say what was wrong and what to do"
    return error


# --------------------------------------------------------------------------- endpoints


def test_recognize_multipart_answers_the_predict_json_object(client, recognizer):
    response = client.post("/v1/recognize", files={"file": ("one.png", ONE, "image/png")})
    assert response.status_code == 200
    assert response.json() == recognizer.recognize(ONE).to_dict(path="one.png")
    assert set(response.json()) == {"path", "text", "digits", "model"}
    digit = response.json()["digits"][0]
    assert set(digit) == {"digit", "confidence", "uncertain", "top", "box"}
    assert len(digit["top"]) == 3


def test_recognize_raw_image_body(client, recognizer):
    response = client.post("/v1/recognize", content=ONE, headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    assert response.json() == recognizer.recognize(ONE).to_dict(path=None)
    assert response.json()["model"] == "tiny"


def test_transparent_canvas_png_is_read_like_ink_on_paper(client):
    on_paper = client.post("/v1/recognize", content=bars_png(2), headers={"Content-Type": "image/png"}).json()
    on_canvas = client.post(
        "/v1/recognize", content=bars_png(2, transparent=True), headers={"Content-Type": "image/png"}
    ).json()
    assert len(on_canvas["digits"]) == len(on_paper["digits"]) == 2
    assert [d["box"] for d in on_canvas["digits"]] == [d["box"] for d in on_paper["digits"]]


def test_include_samples_returns_what_the_model_saw(client):
    response = client.post("/v1/recognize?include=samples", content=TWO, headers={"Content-Type": "image/png"})
    body = response.json()
    assert response.status_code == 200
    assert len(body["samples"]) == len(body["digits"]) == 2
    assert all(len(sample) == 64 for sample in body["samples"])  # the tiny model reads optdigits 8x8
    assert max(max(sample) for sample in body["samples"]) > 1  # ink counted 0..16


def test_digits_parameter_reaches_segmentation(client):
    two = client.post("/v1/recognize?digits=2", content=TWO, headers={"Content-Type": "image/png"})
    assert len(two.json()["digits"]) == 2
    assert_error(
        client.post("/v1/recognize?digits=0", content=TWO, headers={"Content-Type": "image/png"}),
        422,
        "invalid_argument",
    )
    assert_error(
        client.post("/v1/recognize?digits=two", content=TWO, headers={"Content-Type": "image/png"}),
        422,
        "invalid_argument",
    )


def test_batch_answers_each_file_in_order_and_goes_on_after_a_bad_one(client, recognizer):
    files = [
        ("files", ("one.png", ONE, "image/png")),
        ("files", ("notes.txt", b"not an image at all", "text/plain")),
        ("files", ("two.png", TWO, "image/png")),
    ]
    response = client.post("/v1/recognize/batch", files=files)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["path"] for r in results] == ["one.png", "notes.txt", "two.png"]
    assert results[0] == recognizer.recognize(ONE).to_dict(path="one.png")
    assert results[1]["error"]["code"] == "unsupported_image"
    assert "notes.txt" in results[1]["error"]["message"]
    assert len(results[2]["digits"]) == 2


def test_batch_bad_requests(client):
    assert_error(
        client.post("/v1/recognize/batch", files={"file": ("one.png", ONE, "image/png")}), 422, "invalid_argument"
    )
    assert_error(
        client.post("/v1/recognize/batch", content=ONE, headers={"Content-Type": "image/png"}),
        422,
        "invalid_argument",
    )
    too_many = [("files", (f"{i}.png", ONE, "image/png")) for i in range(33)]
    assert_error(client.post("/v1/recognize/batch", files=too_many), 422, "invalid_argument")
    assert_still_serving(client)


def test_models_lists_the_active_model(client):
    body = client.get("/v1/models").json()
    assert body["active"] == "tiny"
    active = [m for m in body["models"] if m["active"]]
    assert len(active) == 1
    assert active[0]["input_format"] == "optdigits"
    assert active[0]["recipe"] == "test-mlp"
    assert "accuracy" in active[0]["metrics"]


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "model": "tiny"}


def test_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert client.get(f"/docs-assets/{asset}").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/recognize"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/png" in body
    assert {"/v1/recognize/batch", "/v1/models", "/healthz"} <= set(spec["paths"])


def test_pad_page_and_its_assets_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/pad.js", "/static/pad.css"):
        assert asset in page.text
        response = client.get(asset)
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text, f"{asset} loads something remote"
    assert "http://" not in page.text and "https://" not in page.text


def test_dependency_override_swaps_the_recognizer(settings):
    class Refuses:
        name = "refuses"

        def recognize(self, image, *, digits=None):
            raise SegmentationError("cannot split this into 3 digits; leave out ?digits=")

    app = create_app(settings, recognizer=object())
    app.dependency_overrides[get_recognizer] = lambda: Refuses()
    with TestClient(app) as client:
        assert_error(
            client.post("/v1/recognize", content=ONE, headers={"Content-Type": "image/png"}), 422, "cannot_segment"
        )
        assert client.get("/healthz").json()["model"] == "refuses"


def test_a_bug_is_a_json_500_and_in_a_batch_only_that_file_fails(settings, recognizer):
    class Buggy:
        name = "buggy"

        def recognize(self, image, *, digits=None):
            if (image.getvalue() if hasattr(image, "getvalue") else image) == TWO:
                raise ZeroDivisionError("integer division or modulo by zero")
            return recognizer.recognize(image, digits=digits)

    app = create_app(settings, recognizer=object())
    app.dependency_overrides[get_recognizer] = lambda: Buggy()
    # Starlette answers the handler's response, then re-raises for the server's log.
    with TestClient(app, raise_server_exceptions=False) as client:
        error = assert_error(
            client.post("/v1/recognize", content=TWO, headers={"Content-Type": "image/png"}), 500, "internal_error"
        )
        assert "ZeroDivisionError" in error["message"] and "report" in error["message"]
        files = [("files", ("one.png", ONE, "image/png")), ("files", ("two.png", TWO, "image/png"))]
        results = client.post("/v1/recognize/batch", files=files).json()["results"]
        assert results[0] == recognizer.recognize(ONE).to_dict(path="one.png")
        assert results[1]["error"]["code"] == "internal_error" and "two.png" in results[1]["error"]["message"]
        assert client.post("/v1/recognize", content=ONE, headers={"Content-Type": "image/png"}).status_code == 200


def test_recognition_runs_off_the_event_loop(settings):
    class Answer:
        def to_dict(self, path=None, *, include_samples=False):
            return {"path": path, "text": "", "digits": [], "model": "slow"}

    class Slow:
        name = "slow"

        def recognize(self, image, *, digits=None):
            time.sleep(1.0)  # blocking: on the event loop it would stall every other request
            return Answer()

    app = create_app(dataclasses.replace(settings, inference_threads=4), recognizer=Slow())
    png = {"content": ONE, "headers": {"Content-Type": "image/png"}}

    async def scenario() -> tuple[float, float]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                started = time.perf_counter()
                slow = asyncio.ensure_future(asyncio.gather(*(client.post("/v1/recognize", **png) for _ in range(4))))
                await asyncio.sleep(0.05)
                health = await client.get("/healthz")
                health_at = time.perf_counter() - started
                responses = await slow
                assert health.status_code == 200
                assert all(r.status_code == 200 for r in responses)
                return health_at, time.perf_counter() - started

    # A thread of its own: Playwright's sync API may hold a running loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        health_at, total = pool.submit(asyncio.run, scenario()).result()
    # Blocking would put /healthz after at least one 1 s recognition and the four in a row (4 s).
    assert health_at < 0.8, "/healthz waited for a recognition: inference is blocking the event loop"
    assert total < 3.0, "four 1 s recognitions should overlap on four recognition threads, not queue one by one"


class _Recording:
    """Reads an image (any object) as itself; records how the images came: alone or in batches."""

    name = "recording"

    def __init__(self, hold=None, broken=()):
        self.calls, self.hold, self.broken = [], hold, set(broken)

    def recognize(self, image, *, digits=None):
        self.calls.append(1)
        if self.hold is not None:
            self.hold.wait(5)
        if image in self.broken:
            raise RuntimeError(f"bug on {image}")
        if image == "bad":
            raise SegmentationError(f"cannot split {image}")
        return (image, digits)

    def recognize_batch(self, images, *, digits=None):
        self.calls.append(len(images))
        if self.broken & set(images):
            raise RuntimeError("bug somewhere in the batch")
        return [SegmentationError("x") if i == "bad" else (i, d) for i, d in zip(images, digits)]


def _run_batcher(scenario):
    from digitrec.server.batcher import Batcher

    async def main():
        batcher = Batcher(threads=1)
        try:
            return await scenario(batcher)
        finally:
            batcher.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright may hold a loop in this thread
        return pool.submit(asyncio.run, main()).result()


def test_images_waiting_are_read_together_in_one_batch():
    import threading

    hold = threading.Event()
    rec = _Recording(hold)

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.recognize(rec, "first"))
        while not rec.calls:  # the thread is busy with the first image ...
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.recognize(rec, f"img{i}", digits=i)) for i in range(6)]
        await asyncio.sleep(0.05)  # ... while six more wait
        hold.set()
        return await first, await asyncio.gather(*rest, return_exceptions=True)

    first, rest = _run_batcher(scenario)
    assert first == ("first", None)
    assert rest == [(f"img{i}", i) for i in range(6)]
    assert rec.calls == [1, 6], "the six waiting images should have been read in one batch"


def test_a_large_photo_is_read_alone_so_small_images_do_not_wait_for_it():
    import threading

    from digitrec.server.batcher import MAX_BATCH_BYTES

    hold = threading.Event()
    rec = _Recording(hold)
    photo = b"\xff" * MAX_BATCH_BYTES

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.recognize(rec, b"first"))
        while not rec.calls:
            await asyncio.sleep(0.01)
        images = [b"canvas1", b"canvas2", photo, photo, b"canvas3"]
        rest = [asyncio.ensure_future(batcher.recognize(rec, image)) for image in images]
        await asyncio.sleep(0.05)
        hold.set()
        await first
        return await asyncio.gather(*rest)

    answers = _run_batcher(scenario)
    assert [a[0] for a in answers] == [b"canvas1", b"canvas2", photo, photo, b"canvas3"]
    # The two canvases together, then each photo alone, then the last canvas.
    assert rec.calls == [1, 2, 1, 1, 1]


def test_a_batch_with_a_bad_image_answers_every_other_image():
    import threading

    hold = threading.Event()
    rec = _Recording(hold, broken={"buggy"})

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.recognize(rec, "first"))
        while not rec.calls:
            await asyncio.sleep(0.01)
        names = ["a", "buggy", "bad", "b"]
        rest = [asyncio.ensure_future(batcher.recognize(rec, name)) for name in names]
        await asyncio.sleep(0.05)
        hold.set()
        await first
        return await asyncio.gather(*rest, return_exceptions=True)

    a, buggy, bad, b = _run_batcher(scenario)
    assert a == ("a", None) and b == ("b", None)
    assert isinstance(buggy, RuntimeError) and "buggy" in str(buggy)  # found alone, after the batch failed
    assert isinstance(bad, SegmentationError)


def test_providers_need_no_thread_pool():
    import inspect

    from digitrec.server.dependencies import get_settings

    # A plain ``def`` provider would cost a hop to FastAPI's thread pool on every request
    # (measured: 12-15% of one worker's requests per second).
    assert inspect.iscoroutinefunction(get_recognizer) and inspect.iscoroutinefunction(get_settings)


# --------------------------------------------------------------------------- bad requests


BAD_REQUESTS = {
    "too large by Content-Length": (
        dict(content=os.urandom(MAX_BYTES + 100_000), headers={"Content-Type": "image/png"}),
        413,
        "image_too_large",
    ),
    "too large multipart file": (
        dict(files={"file": ("big.png", os.urandom(MAX_BYTES + 100_000), "image/png")}),
        413,
        "image_too_large",
    ),
    "image over max-bytes inside the body limit": (
        dict(content=os.urandom(MAX_BYTES + 1000), headers={"Content-Type": "image/png"}),
        413,
        "image_too_large",
    ),
    "not an image": (
        dict(content=b"GIF-ish? no, plain text", headers={"Content-Type": "image/png"}),
        415,
        "unsupported_image",
    ),
    "not an image, multipart": (
        dict(files={"file": ("notes.txt", b"hello, world", "text/plain")}),
        415,
        "unsupported_image",
    ),
    "unsupported Content-Type": (
        dict(content=b"{}", headers={"Content-Type": "application/json"}),
        415,
        "unsupported_image",
    ),
    "no Content-Type": (dict(content=ONE, headers={"Content-Type": ""}), 415, "unsupported_image"),
    "truncated PNG": (
        dict(content=ONE[: len(ONE) // 2], headers={"Content-Type": "image/png"}),
        422,
        "truncated_image",
    ),
    "decompression bomb header": (
        dict(content=bomb_png(), headers={"Content-Type": "image/png"}),
        422,
        "decompression_bomb",
    ),
    "over max-pixels": (
        dict(content=png_bytes(Image.new("L", (2000, 1500), 255)), headers={"Content-Type": "image/png"}),
        422,
        "decompression_bomb",
    ),
    "empty body": (dict(content=b"", headers={"Content-Type": "image/png"}), 422, "invalid_image"),
    "wrong field name": (dict(files={"image": ("one.png", ONE, "image/png")}), 422, "invalid_argument"),
    "file field sent as text": (dict(data={"file": "one.png"}, files={"other": ("x", b"x")}), 422, "invalid_argument"),
    "unknown include value": (
        dict(content=ONE, headers={"Content-Type": "image/png"}, params={"include": "everything"}),
        422,
        "invalid_argument",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_a_json_error_and_the_server_goes_on(client, case):
    kwargs, status, code = BAD_REQUESTS[case]
    assert_error(client.post("/v1/recognize", **kwargs), status, code)
    assert_still_serving(client)


def test_body_streamed_without_length_is_cut_at_the_limit(client):
    def chunks():
        for _ in range(40):
            yield os.urandom(10_000)

    # A generator body goes out chunked, so only the counting while reading can stop it.
    assert_error(
        client.post("/v1/recognize", content=chunks(), headers={"Content-Type": "image/png"}), 413, "image_too_large"
    )
    assert_still_serving(client)


def test_unknown_path_and_wrong_method_are_json_errors(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.get("/v1/recognize"), 405, "method_not_allowed")
    assert_still_serving(client)


# --------------------------------------------------------------------------- token and CORS


def test_token_guards_the_api_only(settings, monkeypatch):
    monkeypatch.setenv("DIGITREC_TOKEN", "s3cret-token")
    guarded = ServerSettings(model=settings.model, max_bytes=MAX_BYTES)
    assert guarded.token == "s3cret-token"
    with TestClient(create_app(guarded)) as client:
        missing = client.post("/v1/recognize", content=ONE, headers={"Content-Type": "image/png"})
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/v1/models", headers={"Authorization": "Bearer s3cret-tokeX"})
        assert_error(wrong, 401, "unauthorized")
        ok = client.post(
            "/v1/recognize",
            content=ONE,
            headers={"Content-Type": "image/png", "Authorization": "Bearer s3cret-token"},
        )
        assert ok.status_code == 200
        # The page, its assets, the docs and the health check stay open.
        for path in ("/", "/static/pad.js", "/healthz", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 200, path


def test_no_token_when_unset(settings, monkeypatch):
    monkeypatch.delenv("DIGITREC_TOKEN", raising=False)
    assert ServerSettings().token is None


def test_cors_is_off_by_default(client):
    response = client.post(
        "/v1/recognize", content=ONE, headers={"Content-Type": "image/png", "Origin": "http://elsewhere.test"}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/v1/recognize",
        headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_when_configured(settings):
    allowed = ServerSettings(model=settings.model, token=None, cors_origins=("http://pad.test",))
    with TestClient(create_app(allowed)) as client:
        ok = client.get("/v1/models", headers={"Origin": "http://pad.test"})
        assert ok.headers["access-control-allow-origin"] == "http://pad.test"
        other = client.get("/v1/models", headers={"Origin": "http://elsewhere.test"})
        assert "access-control-allow-origin" not in other.headers


def test_settings_travel_to_workers(monkeypatch):
    original = ServerSettings(model="/some/bundle", max_bytes=12345, cors_origins=("http://a.test",), token="t")
    monkeypatch.setenv("DIGITREC_SERVE_SETTINGS", original.to_env())
    monkeypatch.setenv("DIGITREC_TOKEN", "t")
    assert '"token"' not in original.to_env(), "the token travels only in DIGITREC_TOKEN"
    assert ServerSettings.from_env() == original
    for pairs in (None, "/some/pairs"):
        monkeypatch.setenv("DIGITREC_SERVE_SETTINGS", ServerSettings(pairs=pairs).to_env())
        assert ServerSettings.from_env().pairs == pairs


def test_the_server_loads_the_pair_reader_it_is_told_to():
    from digitrec.bundle import available_models
    from digitrec.server.app import load_recognizer

    assert load_recognizer(ServerSettings(pairs=None)).pairs is None
    if "pairs" in available_models():
        assert load_recognizer(ServerSettings()).pairs.name == "pairs"


def test_a_worker_freezes_the_objects_made_at_startup(settings, monkeypatch):
    import gc

    from digitrec.server import create_app_from_env

    monkeypatch.setenv("DIGITREC_SERVE_SETTINGS", settings.to_env())
    gc.unfreeze()
    try:
        app = create_app_from_env()
        # The modules and the model loaded by then are left out of the full passes.
        assert app is not None and gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


# --------------------------------------------------------------------------- the command and a real uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_with_a_missing_model_fails_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "digitrec", "serve", "--model", str(tmp_path / "nope"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitrec: error:"), result.stderr


@pytest.fixture(scope="module")
def live_server(tiny_bundle: Path, running_server):
    args = ["--model", str(tiny_bundle), "--max-bytes", str(MAX_BYTES), "--max-pixels", str(MAX_PIXELS), "--quiet"]
    with running_server(args) as url:
        yield url


@pytest.mark.slow
def test_real_server_survives_every_bad_request(live_server):
    with httpx.Client(base_url=live_server, timeout=20) as client:
        for case, (kwargs, status, code) in BAD_REQUESTS.items():
            response = client.post("/v1/recognize", **kwargs)
            assert response.status_code == status, (case, response.text)
            assert response.json()["error"]["code"] == code, case
            assert_still_serving(client)

        def chunks():
            for _ in range(40):
                yield os.urandom(10_000)

        response = client.post("/v1/recognize", content=chunks(), headers={"Content-Type": "image/png"})
        assert response.status_code == 413
        assert_still_serving(client)


def _read_response(sock: socket.socket) -> str:
    """Read one whole HTTP response: the head and body may arrive in separate packets."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode("latin-1")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


@pytest.mark.slow
def test_real_server_refuses_a_declared_length_without_reading_the_body(live_server):
    # Declare 50 MB and send nothing more: the answer must come from the header alone.
    port = int(live_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        head = _read_response(sock)
    assert head.startswith("HTTP/1.1 413"), head
    assert "image_too_large" in head
    with httpx.Client(base_url=live_server, timeout=20) as client:
        assert_still_serving(client)


@pytest.mark.slow
def test_two_workers_get_the_settings(tiny_bundle, running_server):
    """``--workers 2`` hands the model and the limits to uvicorn's worker processes."""
    args = ["--model", str(tiny_bundle), "--workers", "2", "--max-bytes", "50000", "--quiet"]
    with running_server(args, env={"DIGITREC_TOKEN": "worker-token"}) as base:
        auth = {"Authorization": "Bearer worker-token"}
        with httpx.Client(base_url=base, timeout=20) as client:
            for _ in range(4):  # several requests, so both workers are likely to answer some
                assert client.get("/v1/models", headers=auth).json()["active"] == "tiny"
                assert client.get("/v1/models").status_code == 401
                too_big = client.post(
                    "/v1/recognize", content=os.urandom(200_000), headers={**auth, "Content-Type": "image/png"}
                )
                assert too_big.status_code == 413
                assert "50,000" in too_big.json()["error"]["message"]
