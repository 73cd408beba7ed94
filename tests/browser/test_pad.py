"""The drawing pad in a real Chromium: draw, read, undo, upload, errors, a phone screen."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

# Digits as pen strokes in a unit cell (x to the right, y down), drawn the way people write them.
_OVAL = [(0.5 + 0.32 * math.sin(t), 0.5 - 0.42 * math.cos(t)) for t in (i * 2 * math.pi / 28 for i in range(29))]
STROKES = {
    "1": [[(0.55, 0.08), (0.45, 0.92)]],
    "7": [[(0.12, 0.1), (0.85, 0.1), (0.62, 0.45), (0.4, 0.92)]],
    "0": [_OVAL],
}
DESKTOP = {"width": 1100, "height": 760}
PHONE = {"width": 390, "height": 844}


def needs_handwriting_model(server) -> None:
    if not server.reads_handwriting:
        pytest.skip("reading drawn digits needs the shipped MNIST model (src/digitrec/models/default)")


@pytest.fixture
def open_pad(browser, pad_server):
    """Open the pad in a fresh context; afterwards check it fetched nothing from elsewhere and threw nothing."""
    contexts = []
    requested: list[str] = []
    script_errors: list[str] = []

    def opener(**context_options):
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.goto(pad_server.url + "/")
        page.wait_for_function("document.querySelector('#model').textContent.includes(':') "
                               "&& !document.querySelector('#model').textContent.includes('…')")
        return page

    yield opener
    for context in contexts:
        context.close()
    foreign = [url for url in requested if not url.startswith((pad_server.url, "data:", "blob:"))]
    assert not foreign, f"the pad loaded assets from outside the server: {foreign}"
    assert not script_errors, f"the pad's script failed: {script_errors}"


def completed(page) -> int:
    return int(page.eval_on_selector("#result", "el => Number(el.dataset.completed || 0)"))


def settled_number(page, before: int) -> str:
    """Wait for an answer newer than ``before`` and for the pad to go quiet; the number shown."""
    page.wait_for_function(
        "n => Number(document.querySelector('#result').dataset.completed || 0) > n", arg=before, timeout=20_000
    )
    page.wait_for_timeout(400)  # past the debounce, in case a later drawing is still on its way
    page.wait_for_function("document.querySelector('#result').dataset.state !== 'busy'", timeout=20_000)
    return page.inner_text("#number").strip()


def pad_cells(page, count: int) -> list[tuple[float, float, float, float]]:
    """Screen rectangles (x, y, width, height) for ``count`` digits written side by side."""
    box = page.locator("#pad").bounding_box()
    height = box["height"] * 0.7
    width = height * 0.55
    top = box["y"] + (box["height"] - height) / 2
    return [
        (box["x"] + box["width"] * (i + 1) / (count + 1) - width / 2, top, width, height) for i in range(count)
    ]


def draw_with_mouse(page, text: str) -> None:
    for char, (x, y, w, h) in zip(text, pad_cells(page, len(text))):
        for stroke in STROKES[char]:
            points = [(x + u * w, y + v * h) for u, v in stroke]
            page.mouse.move(*points[0])
            page.mouse.down()
            for point in points[1:]:
                page.mouse.move(*point, steps=6)
            page.mouse.up()


def draw_with_touch(page, text: str) -> None:
    """Touch strokes through the DevTools protocol: the page sees pointerType 'touch'."""
    cdp = page.context.new_cdp_session(page)
    for char, (x, y, w, h) in zip(text, pad_cells(page, len(text))):
        for stroke in STROKES[char]:
            points = [(x + u * w, y + v * h) for u, v in stroke]
            start = {"x": points[0][0], "y": points[0][1]}
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [start]})
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                for step in range(1, 7):
                    t = step / 6
                    point = {"x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t}
                    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def seven_png() -> bytes:
    """A 7 written with a thick marker on white paper, as a photo-free upload."""
    image = Image.new("RGB", (240, 300), "white")
    stroke = [(50, 50), (190, 50), (150, 140), (105, 260)]
    ImageDraw.Draw(image).line(stroke, fill=(20, 20, 30), width=22, joint="curve")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def canvas_has_ink(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector,
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)",
    )


# --------------------------------------------------------------------------- drawing


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_a_drawn_digit_is_read(open_pad, pad_server, artifacts, digit):
    needs_handwriting_model(pad_server)
    page = open_pad(viewport=DESKTOP)
    before = completed(page)
    draw_with_mouse(page, digit)
    number = settled_number(page, before)
    page.screenshot(path=str(artifacts / f"digit-{digit}.png"))
    assert number == digit
    bars = page.locator("#digits li .bar")
    assert bars.count() == 3, "each digit shows its three most likely readings"


def test_two_digits_side_by_side_make_a_number(open_pad, pad_server, artifacts):
    needs_handwriting_model(pad_server)
    page = open_pad(viewport=DESKTOP)
    before = completed(page)
    draw_with_mouse(page, "17")
    number = settled_number(page, before)
    page.screenshot(path=str(artifacts / "number-17.png"))
    assert number == "17"
    cards = page.locator("#digits li")
    assert cards.count() == 2
    # The small images the model saw, one per digit, at the model's own 28x28 size.
    for i in range(2):
        sample = f"#digits li:nth-child({i + 1}) canvas"
        assert page.eval_on_selector(sample, "c => [c.width, c.height]") == [28, 28]
        assert page.eval_on_selector(
            sample, "c => c.getContext('2d').getImageData(0, 0, 28, 28).data.some((v, j) => j % 4 === 0 && v > 128)"
        ), "the sample should show white ink"
    assert canvas_has_ink(page, "#overlay"), "the digit boxes should be drawn over the drawing"


def test_undo_and_clear(open_pad, pad_server):
    page = open_pad(viewport=DESKTOP)
    before = completed(page)
    draw_with_mouse(page, "17")
    settled_number(page, before)
    assert page.locator("#digits li").count() == 2
    before = completed(page)
    page.get_by_role("button", name="Undo").click()
    settled_number(page, before)
    assert page.locator("#digits li").count() == 1, "undo removes the last stroke (the 7)"
    if pad_server.reads_handwriting:
        assert page.inner_text("#number").strip() == "1"
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function("document.querySelectorAll('#digits li').length === 0")
    assert page.inner_text("#number").strip() == "–"
    assert not canvas_has_ink(page, "#pad")


# --------------------------------------------------------------------------- files


def test_a_picked_file_is_read(open_pad, pad_server, artifacts, tmp_path):
    page = open_pad(viewport=DESKTOP)
    path = tmp_path / "seven.png"
    path.write_bytes(seven_png())
    before = completed(page)
    page.set_input_files("#file", str(path))
    number = settled_number(page, before)
    page.screenshot(path=str(artifacts / "upload-seven.png"))
    assert page.locator("#digits li").count() == 1
    assert canvas_has_ink(page, "#pad"), "the picked image is shown on the pad"
    if pad_server.reads_handwriting:
        assert number == "7"


def test_a_dropped_file_is_read(open_pad, pad_server):
    page = open_pad(viewport=DESKTOP)
    before = completed(page)
    page.evaluate(
        """b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "seven.png", {type: "image/png"}));
            const wrap = document.getElementById("pad-wrap");
            wrap.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        base64.b64encode(seven_png()).decode(),
    )
    number = settled_number(page, before)
    assert page.locator("#digits li").count() == 1
    if pad_server.reads_handwriting:
        assert number == "7"


def test_a_non_image_shows_a_readable_error_and_the_pad_recovers(open_pad, artifacts, tmp_path):
    page = open_pad(viewport=DESKTOP)
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not the digits you are looking for\n")
    before = completed(page)
    page.set_input_files("#file", str(notes))
    settled_number(page, before)
    error = page.locator("#error")
    assert error.is_visible()
    assert error.get_attribute("role") == "alert"
    assert error.get_attribute("data-code") == "unsupported_image"
    assert "notes.txt" in error.inner_text() and "not an image" in error.inner_text()
    page.screenshot(path=str(artifacts / "error-not-an-image.png"))
    before = completed(page)
    draw_with_mouse(page, "1")
    settled_number(page, before)
    assert not error.is_visible(), "drawing again clears the error"
    assert page.locator("#digits li").count() == 1


# --------------------------------------------------------------------------- a phone


def test_phone_screen_with_touch(open_pad, pad_server, artifacts):
    page = open_pad(viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    box = page.locator("#pad").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["width"] >= PHONE["width"] * 0.85, "the pad uses the phone's width"
    assert page.eval_on_selector("#pad", "c => getComputedStyle(c).touchAction") == "none"
    for name in ("Undo", "Clear"):
        button = page.get_by_role("button", name=name).bounding_box()
        assert button["height"] >= 40, f"{name} is big enough to tap"
    before = completed(page)
    draw_with_touch(page, "7")
    number = settled_number(page, before)
    page.screenshot(path=str(artifacts / "phone-seven.png"), full_page=True)
    assert page.locator("#digits li").count() == 1
    if pad_server.reads_handwriting:
        assert number == "7"


# --------------------------------------------------------------------------- MNIST digits, traced


def traced_strokes(image: np.ndarray) -> list[list[tuple[float, float]]]:
    """Pen strokes covering a 28x28 MNIST digit, in a unit cell.

    The pad's pen is about two MNIST pixels wide on a 280-pixel-high canvas, so one
    horizontal stroke along each run of ink in every pair of rows covers the digit.
    """
    ink = image >= 128
    strokes = []
    for row in range(0, 28, 2):
        cols = np.flatnonzero(ink[row] | ink[min(row + 1, 27)])
        if not cols.size:
            continue
        for run in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1):
            y = (row + 1.0) / 28
            strokes.append([((run[0] + 0.5) / 28, y), ((run[-1] + 0.5) / 28, y)])
    return strokes


def draw_traced(page, strokes) -> None:
    box = page.locator("#pad").bounding_box()
    side = box["height"]  # a square cell the pad's full height, in the middle
    left = box["x"] + (box["width"] - side) / 2
    for stroke in strokes:
        points = [(left + u * side, box["y"] + v * side) for u, v in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()


def test_mnist_test_digits_traced_onto_the_pad(open_pad, pad_server, mnist_dir, artifacts):
    needs_handwriting_model(pad_server)
    from digitrec.datasets import read_idx

    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:6]
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:6]
    page = open_pad(viewport=DESKTOP)
    read = []
    for index, (image, label) in enumerate(zip(images, labels)):
        page.get_by_role("button", name="Clear").click()
        before = completed(page)
        draw_traced(page, traced_strokes(np.asarray(image)))
        read.append(settled_number(page, before))
        page.screenshot(path=str(artifacts / f"mnist-test-{index}-label-{int(label)}.png"))
    expected = [str(int(label)) for label in labels]
    right = sum(a == b for a, b in zip(read, expected))
    assert right >= 5, f"read {read} for MNIST test digits {expected}"


# --------------------------------------------------------------------------- the API docs


def test_api_docs_render_offline(browser, pad_server):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(pad_server.url + "/docs")
    page.get_by_text("/v1/recognize/batch", exact=True).wait_for(timeout=20_000)
    context.close()
    assert all(url.startswith(pad_server.url) for url in requested), requested
