"""The realistic image renderer: seeded, the declared modes and sizes, polarity, numbers, non-digits."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from digitrec import synth
from digitrec.errors import UsageError


def _digits_28(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits upscaled into MNIST's layout: 20x20 box in 28x28, white ink on black."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        small = Image.fromarray((X[i].reshape(8, 8) * (255 / 16)).astype(np.uint8))
        out[i, 4:24, 4:24] = np.asarray(small.resize((20, 20), Image.Resampling.BICUBIC))
    return out, y[:n]


@pytest.fixture(scope="module")
def digits28():
    return _digits_28()


def _ink_and_background(image: Image.Image) -> tuple[float, float]:
    """Mean grey of the darkest-contrast part (ink) and of the page, whatever the mode."""
    image = ImageOps.exif_transpose(image)
    grey = np.asarray(image.convert("L"), np.float32)
    background = float(np.median(grey))
    far = np.abs(grey - background)
    ink = float(grey[far >= np.percentile(far, 99.5)].mean())
    return ink, background


def test_same_seed_same_pixels(digits28):
    X, _ = digits28
    for style in synth.STYLES:
        a = synth.render_digit(X[0], style, np.random.default_rng(7))
        b = synth.render_digit(X[0], style, np.random.default_rng(7))
        c = synth.render_digit(X[0], style, np.random.default_rng(8))
        assert np.array_equal(np.asarray(a), np.asarray(b)), style
        assert a.size != c.size or not np.array_equal(np.asarray(a), np.asarray(c)), style


def test_canvas_is_rgba_with_ink_in_alpha(digits28):
    X, _ = digits28
    image = synth.render_digit(X[3], "canvas", np.random.default_rng(0))
    assert image.mode == "RGBA" and image.size == (280, 280)
    rgba = np.asarray(image)
    alpha = rgba[..., 3]
    assert (alpha == 0).mean() > 0.5  # mostly transparent
    assert (alpha == 255).sum() > 500  # solid strokes
    assert rgba[alpha == 0, :3].max() == 0  # nothing but transparency off the stroke


@pytest.mark.parametrize("style", ["paper", "rotated", "scan"])
def test_paper_like_styles_are_dark_ink_on_light(digits28, style):
    X, _ = digits28
    rng = np.random.default_rng(1)
    for i in range(3):
        image = synth.render_digit(X[i], style, rng)
        assert image.mode == ("L" if style == "scan" else "RGB")
        ink, background = _ink_and_background(image)
        assert background > 110 and ink < background - 60, (style, ink, background)
        if style != "scan":
            assert max(image.size) <= 640


def test_chalk_is_light_on_dark(digits28):
    X, _ = digits28
    rng = np.random.default_rng(2)
    for i in range(3):
        image = synth.render_digit(X[i], "chalk", rng)
        assert image.mode == "RGB" and max(image.size) <= 640
        ink, background = _ink_and_background(image)
        assert background < 90 and ink > background + 60, (ink, background)


def test_scan_is_large_grey_and_photos_are_real_jpegs(digits28):
    X, _ = digits28
    rng = np.random.default_rng(3)
    scan = synth.render_digit(X[0], "scan", rng)
    assert scan.mode == "L" and min(scan.size) >= 900
    paper = synth.render_digit(X[0], "paper", rng)
    assert paper.format == "JPEG"


def test_rotated_uses_exif_orientation_on_some_images(digits28):
    X, _ = digits28
    rng = np.random.default_rng(4)
    tagged = 0
    for i in range(12):
        image = synth.render_digit(X[i % len(X)], "rotated", rng)
        orientation = image.getexif().get(0x0112)
        if orientation:
            tagged += 1
            assert orientation in (3, 6, 8)
            upright = ImageOps.exif_transpose(image)
            if orientation in (6, 8):
                assert upright.size == image.size[::-1]
            # The tag survives encoding, as a phone's JPEG would carry it.
            data, suffix = synth.encode(image)
            assert suffix == ".jpg" and Image.open(io.BytesIO(data)).getexif().get(0x0112) == orientation
    assert 0 < tagged < 12


def _stroke_width(image: Image.Image) -> float:
    """Ink area over ink skeleton length, roughly: area / (ink rows + cols) is enough to compare."""
    from scipy import ndimage

    image = ImageOps.exif_transpose(image)
    if image.mode == "RGBA":
        ink = np.asarray(image)[..., 3] > 128
    else:
        grey = np.asarray(image.convert("L"), np.float32)
        ink = grey < np.median(grey) - 50
    inside = ndimage.distance_transform_edt(ink)
    return 2.0 * float(inside[ink].mean()) / (max(image.size) / 280.0)


def test_thick_and_thin_change_the_stroke_width(digits28):
    X, _ = digits28
    widths = {}
    for style in ("thick", "thin"):
        rng = np.random.default_rng(5)
        widths[style] = np.median([_stroke_width(synth.render_digit(X[i], style, rng)) for i in range(6)])
    assert widths["thick"] > 2.0 * widths["thin"], widths


def test_number_string_and_width(digits28):
    X, y = digits28
    rng = np.random.default_rng(6)
    for style in ("canvas", "paper"):
        image, text = synth.render_number(list(X[:4]), list(y[:4]), style, rng)
        assert text == "".join(str(d) for d in y[:4])
        grey = np.asarray(image)[..., 3] if image.mode == "RGBA" else 255 - np.asarray(image.convert("L"))
        from scipy import ndimage

        # Compare with the local page brightness: a vignette's dark corner is not ink.
        ink = grey.astype(np.float32) - ndimage.uniform_filter(grey.astype(np.float32), 61) > 50
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        assert cols[-1] - cols[0] > 2 * (rows[-1] - rows[0])  # four digits side by side
    with pytest.raises(UsageError):
        synth.render_number(list(X[:3]), list(y[:2]), "paper", rng)


def test_number_digits_sit_left_to_right():
    # Two distinct marks: a tall bar and a square; the bar must stay on the left.
    bar = np.zeros((28, 28), np.uint8)
    bar[4:24, 12:16] = 255
    square = np.zeros((28, 28), np.uint8)
    square[8:20, 8:20] = 255
    image, text = synth.render_number([bar, square], [1, 0], "canvas", np.random.default_rng(0))
    alpha = np.asarray(image)[..., 3] > 128
    cols = np.flatnonzero(alpha.any(axis=0))
    left_half = alpha[:, cols[0] : (cols[0] + cols[-1]) // 2]
    assert text == "10"
    rows_left = np.flatnonzero(left_half.any(axis=1))
    rows_all = np.flatnonzero(alpha.any(axis=1))
    assert rows_left.size >= 0.9 * rows_all.size  # the tall bar is the left one


@pytest.mark.parametrize("kind", synth.NON_DIGIT_KINDS)
def test_non_digit_kinds(kind):
    rng = np.random.default_rng(9)
    for style in ("paper", "canvas", "chalk"):
        image = synth.render_non_digit(kind, rng, style)
        assert isinstance(image, Image.Image) and image.width >= 200
        if kind == "blank":
            if image.mode == "RGBA":
                assert np.asarray(image)[..., 3].max() == 0
            else:
                # Light may vary across the page, but nothing sharp is drawn on it.
                from scipy import ndimage

                grey = np.asarray(image.convert("L"), np.float32)
                assert np.abs(grey - ndimage.gaussian_filter(grey, 4)).max() < 45
        elif kind in ("letter", "symbol", "scribble"):
            if image.mode == "RGBA":
                assert (np.asarray(image)[..., 3] > 128).sum() > 100
            else:
                ink, background = _ink_and_background(image)
                assert abs(ink - background) > 50
    with pytest.raises(UsageError):
        synth.render_non_digit("dragon", rng)


def test_fonts_are_found_or_default_used():
    ink = synth._glyph_ink("K", np.random.default_rng(0))
    assert ink.shape[0] >= 28 and ink.max() > 0.5
    # No font files at all: Pillow's own font still draws the letter.
    fallback = synth._glyph_ink("K", np.random.default_rng(0), fonts=())
    assert fallback.max() > 0.5
    for path in synth.font_paths():
        assert path.endswith(".ttf")


def test_make_set_is_per_style_and_stable(digits28):
    X, y = digits28
    items = list(synth.make_set(X, y, styles=["canvas", "scan"], per_style=3, seed=11))
    assert [s for _, _, s in items] == ["canvas"] * 3 + ["scan"] * 3
    assert all(label in {str(v) for v in y} for _, label, _ in items)
    # A style's images do not depend on which other styles were asked for.
    alone = list(synth.make_set(X, y, styles=["scan"], per_style=3, seed=11))
    assert [np.asarray(a).tobytes() for a, _, _ in alone] == [np.asarray(a).tobytes() for a, _, _ in items[3:]]
    with pytest.raises(UsageError):
        list(synth.make_set(X, y, styles=["oil"], per_style=1))


def test_set_indices_trace_each_image_to_its_sample(digits28):
    X, _ = digits28
    # Labels that name their sample: the labels make_set yields are then its picks.
    ids = np.arange(len(X))
    items = list(synth.make_set(X, ids, styles=["canvas", "scan"], per_style=3, seed=11))
    traced = synth.set_indices(len(X), styles=["canvas", "scan"], per_style=3, seed=11)
    assert [label for _, label, _ in items] == [str(i) for i in traced]
    assert len(set(traced[:3])) == 3  # without replacement within a style
    assert synth.set_indices(len(X), styles=[], seed=11).size == 0


def test_number_and_non_digit_sets():
    X, y = _digits_28(20)
    numbers = list(synth.make_number_set(X, y, styles=["canvas"], per_style=5, lengths=(2, 3), seed=0))
    assert all(2 <= len(text) <= 3 and text.isdigit() for _, text, _ in numbers)
    others = list(synth.make_non_digit_set(kinds=["letter", "noise"], per_kind=2, styles=["canvas"], seed=0))
    assert [k for _, k, _ in others] == ["letter", "letter", "noise", "noise"]
    assert [s for _, _, s in others] == ["canvas", "canvas", "noise", "noise"]


def test_save_set_writes_files_and_manifest(tmp_path, digits28):
    X, y = digits28
    items = list(synth.make_set(X, y, styles=["paper", "canvas"], per_style=2, seed=0))
    manifest = synth.save_set(tmp_path / "out", items)
    rows = list(csv.DictReader(manifest.open()))
    assert [r["style"] for r in rows] == ["paper", "paper", "canvas", "canvas"]
    assert [r["file"][-4:] for r in rows] == [".jpg", ".jpg", ".png", ".png"]
    for row, (image, label, _) in zip(rows, items):
        assert row["label"] == label
        with Image.open(tmp_path / "out" / row["file"]) as saved:
            assert saved.size == image.size and saved.mode == image.mode
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_fixed_size(digits28):
    X, _ = digits28
    for style in synth.STYLES:
        image = synth.render_digit(X[1], style, np.random.default_rng(0), size=(640, 480))
        assert ImageOps.exif_transpose(image).size == (640, 480), style
    with pytest.raises(UsageError):
        synth.render_digit(X[1], "paper", np.random.default_rng(0), size=(10, 10))


def test_bad_digit_array():
    with pytest.raises(UsageError):
        synth.render_digit(np.zeros((2, 3, 4)), "paper", np.random.default_rng(0))
    with pytest.raises(UsageError):
        synth.render_digit(np.zeros((28, 28)), "watercolour", np.random.default_rng(0))


@pytest.mark.mnist
def test_mnist_digits_render_in_every_style(mnist_dir):
    import gzip

    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as handle:
        X = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:20]
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz") as handle:
        y = np.frombuffer(handle.read(), np.uint8, offset=8)[:20]
    items = list(synth.make_set(X, y, per_style=2, seed=0))
    assert len(items) == 2 * len(synth.STYLES)
    image, text = synth.render_number(list(X[:6]), list(y[:6]), "chalk", np.random.default_rng(0))
    assert text == "".join(map(str, y[:6])) and image.mode == "RGB"


def test_ruled_squared_and_form_pages_print_lines_under_the_ink(digits28):
    plain = synth.render_digit(digits28[0][0], "paper", np.random.default_rng(5))
    for page in ("ruled", "squared", "boxed", "comb"):
        image = synth.render_digit(digits28[0][0], "paper", np.random.default_rng(5), page=page)
        assert image.size == plain.size and image.format == "JPEG"
        grey = np.asarray(image.convert("L"), np.float32)
        # Printed lines: some whole rows (or columns) of the page darker than the paper
        # beside them, though far lighter than the ink.
        rows = np.median(grey, axis=1)
        dips = rows < np.median(rows) - 6
        assert dips.any() and dips.mean() < 0.3, page
        ink, background = _ink_and_background(image)
        assert ink < background - 60
    with pytest.raises(UsageError, match="paper"):
        synth.render_digit(digits28[0][0], "canvas", np.random.default_rng(0), page="ruled")
    with pytest.raises(UsageError, match="unknown page"):
        synth.render_number(list(digits28[0][:2]), [0, 1], "paper", np.random.default_rng(0), page="dotted")
