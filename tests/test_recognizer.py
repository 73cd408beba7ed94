"""The Recognizer: its answer's contract, thresholds, calibration, inputs, and the shipped model."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitrec.bundle import load_bundle, save_bundle
from digitrec.errors import InvalidImageError, SegmentationError, UnsupportedImageError, UsageError
from digitrec.recognizer import DigitResult, Recognition, Recognizer, error_result, stray_marks, trusted

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "src" / "digitrec" / "models" / "default"
needs_default = pytest.mark.skipif(
    not (DEFAULT_MODEL / "card.json").exists(),
    reason="the shipped default model (src/digitrec/models/default) has not been trained yet",
)


def glyphs(n: int, size: int = 80) -> Image.Image:
    """n digit-like glyphs in a row, dark ink on light paper (alternating a ring and a '7')."""
    image = Image.new("L", (20 + n * (size + 30), size + 40), 235)
    draw = ImageDraw.Draw(image)
    for i in range(n):
        x = 10 + i * (size + 30)
        if i % 2 == 0:
            draw.ellipse([x + 8, 20, x + size - 8, 20 + size], outline=25, width=9)
        else:
            draw.line([(x + 10, 22), (x + size - 10, 22)], fill=25, width=9)
            draw.line([(x + size - 10, 22), (x + 25, 20 + size)], fill=25, width=9)
    return image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def rec(tiny_bundle) -> Recognizer:
    return Recognizer.load(tiny_bundle)


def _rebundle(tiny_bundle: Path, path: Path, **card_changes) -> Path:
    card = json.loads((tiny_bundle / "card.json").read_text())
    for key in ("schema", "weights"):
        card.pop(key)
    card.update(card_changes)
    card = {k: v for k, v in card.items() if v is not None}
    return save_bundle(path, weights=(tiny_bundle / "model.skops").read_bytes(), weights_format="skops", card=card)


def test_recognition_follows_the_json_contract(rec):
    result = rec.recognize(png(glyphs(3)))
    assert isinstance(result, Recognition) and result.model == "tiny"
    assert len(result.digits) == 3 and len(result.text) == 3
    assert result.samples.shape == (3, 64)
    out = result.to_dict("three.png")
    assert list(out) == ["path", "text", "digits", "model"]
    assert out["path"] == "three.png" and out["model"] == "tiny"
    json.dumps(out)  # plain JSON types only
    xs = [d["box"][0] for d in out["digits"]]
    assert xs == sorted(xs)
    for d, digit in zip(out["digits"], result.digits):
        assert set(d) == {"digit", "confidence", "uncertain", "top", "box"}
        assert len(d["top"]) == 3 and d["top"][0][0] == d["digit"]
        probs = [p for _, p in d["top"]]
        assert probs == sorted(probs, reverse=True) and d["confidence"] == pytest.approx(probs[0])
        x0, y0, x1, y1 = d["box"]
        assert 0 <= x0 < x1 <= 350 and 0 <= y0 < y1 <= 120
        assert d["uncertain"] == (digit.confidence < rec.threshold)
    assert result.text == "".join("?" if d.uncertain else str(d.digit) for d in result.digits)
    assert "samples" in result.to_dict(include_samples=True)


def test_every_input_kind_gives_the_same_answer(rec, tmp_path):
    image = glyphs(2)
    path = tmp_path / "two.png"
    image.save(path)
    reference = rec.recognize(path).to_dict()
    with open(path, "rb") as handle:
        from_file = rec.recognize(handle).to_dict()
    for source in (str(path), png(image), image, np.asarray(image)):
        assert rec.recognize(source).to_dict() == reference
    assert from_file == reference


def test_blank_image_reads_as_no_digit(rec):
    blank = rec.recognize(png(Image.new("RGB", (200, 120), (240, 238, 230))))
    assert blank.text == "" and blank.digits == []
    assert blank.to_dict("blank.png") == {"path": "blank.png", "text": "", "digits": [], "model": "tiny"}
    canvas = rec.recognize(png(Image.new("RGBA", (280, 280), (0, 0, 0, 0))))
    assert canvas.text == "" and canvas.digits == []


@pytest.mark.parametrize("mode", ["L", "RGB", "LA", "RGBA", "P", "I;16"])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (11, 11), (40, 6)])
def test_images_of_a_few_pixels_are_read_with_boxes_inside_them(rec, mode, size):
    # Under ~125 pixels the working scale once came out as 0: a canvas crashed
    # (ZeroDivisionError) and every other image answered boxes of (0, 0, 0, 0).
    w, h = size
    grey = np.full((h, w), 235, np.uint8)
    grey[h // 4 : h - h // 4, max(0, w // 2 - 1) : w // 2 + 1] = 20  # a short bar of ink, a "1"
    alpha = (255 - grey).astype(np.uint8)
    if mode in ("LA", "RGBA"):
        image = Image.new(mode, size, 0)
        image.putalpha(Image.fromarray(alpha))
    elif mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(grey).convert(mode)
    result = rec.recognize(png(image))
    for digit in result.digits:
        x0, y0, x1, y1 = digit.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (digit.box, size)
    if min(size) >= 6:
        assert len(result.digits) == 1  # the bar is found, whatever it is read as


def test_a_number_is_read_by_the_model_once(tiny_bundle, monkeypatch):
    """Segmentation's last look at the digits is the answer: no batch of samples goes to the model twice."""
    rec = Recognizer.load(tiny_bundle)
    batches = []
    predict = rec.bundle.predict_proba

    def counting(samples):
        batches.append(np.array(samples, copy=True))
        return predict(samples)

    monkeypatch.setattr(rec.bundle, "predict_proba", counting)
    result = rec.recognize(glyphs(3))
    assert len(result.digits) == 3 and batches
    assert any(np.array_equal(batch, result.samples) for batch in batches)
    assert all(not np.array_equal(a, b) for i, a in enumerate(batches) for b in batches[i + 1 :])


def test_recognize_batch_answers_as_recognize_does_and_goes_on_after_a_bad_image(tiny_bundle, monkeypatch):
    rec = Recognizer.load(tiny_bundle)
    images = [png(glyphs(1)), png(glyphs(3)), b"not an image", glyphs(2), png(Image.new("L", (90, 60), 250))]
    expected = [rec.recognize(image).to_dict() for image in images[:2]] + [None] + [
        rec.recognize(image).to_dict() for image in images[3:]
    ]
    calls = []
    predict = rec.bundle.predict_proba
    monkeypatch.setattr(rec.bundle, "predict_proba", lambda samples: calls.append(len(samples)) or predict(samples))
    answers = rec.recognize_batch(images)
    assert len(answers) == len(images)
    assert isinstance(answers[2], UnsupportedImageError)
    for answer, want in zip(answers, expected):
        if want is not None:
            assert answer.to_dict() == want
    # Digits segmentation did not already judge go to the model together, once.
    assert calls.count(max(calls)) == 1 and max(calls) >= 3


def test_recognize_batch_takes_a_digit_count_per_image(rec):
    one, three = glyphs(1), glyphs(3)
    answers = rec.recognize_batch([three, three, one], digits=[2, None, 1])
    assert [len(a.digits) for a in answers] == [2, 3, 1]
    assert [len(a.digits) for a in rec.recognize_batch([three, three], digits=2)] == [2, 2]
    with pytest.raises(UsageError, match="2 images but 3"):
        rec.recognize_batch([one, one], digits=[1, 1, 1])
    assert isinstance(rec.recognize_batch([Image.new("L", (50, 50), 255)], digits=1)[0], SegmentationError)
    assert rec.recognize_batch([]) == []


def test_digits_n_gives_exactly_n_or_says_why(rec):
    assert len(rec.recognize(glyphs(3), digits=3).digits) == 3
    assert len(rec.recognize(glyphs(3), digits=2).digits) == 2
    with pytest.raises(SegmentationError):
        rec.recognize(Image.new("L", (50, 50), 255), digits=1)


def test_a_known_count_keeps_the_free_reading_when_it_has_that_many(rec, monkeypatch):
    import digitrec.recognizer as module

    free = rec.recognize(glyphs(3))
    assert rec.recognize(glyphs(3), digits=3).to_dict() == free.to_dict()
    counts = []
    original = module.prepare
    monkeypatch.setattr(module, "prepare", lambda *a, **k: counts.append(k["digits"]) or original(*a, **k))
    rec.recognize(glyphs(3), digits=3)
    assert counts == [None]  # one reading, the free one
    counts.clear()
    assert len(rec.recognize(glyphs(3), digits=2).digits) == 2
    assert counts == [None, 2]  # three found: read again, made to give two
    # A file is read once and handed to both readings.
    counts.clear()
    stream = io.BytesIO(png(glyphs(3)))
    stream.name = "three.png"
    assert len(rec.recognize(stream, digits=2).digits) == 2 and counts == [None, 2]
    with pytest.raises(SegmentationError, match="blank"):
        rec.recognize(io.BytesIO(png(Image.new("L", (50, 50), 255))), digits=1)


@pytest.mark.parametrize("bad", [0, -2, 2.5, "3", True])
def test_a_bad_digit_count_is_refused_before_reading(rec, bad):
    with pytest.raises(UsageError, match="whole number"):
        rec.recognize(b"not even an image", digits=bad)


def test_threshold_marks_uncertain_digits_with_a_question_mark(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    everything_uncertain = Recognizer(bundle, threshold=1.0).recognize(glyphs(2))
    assert everything_uncertain.text == "??"
    assert all(d.uncertain for d in everything_uncertain.digits)
    nothing_uncertain = Recognizer(bundle, threshold=0.0).recognize(glyphs(2))
    assert "?" not in nothing_uncertain.text
    assert Recognizer(bundle).threshold == 0.5  # the card's
    with pytest.raises(UsageError):
        Recognizer(bundle, threshold=1.5)


def test_card_threshold_and_default(tiny_bundle, tmp_path):
    assert Recognizer.load(_rebundle(tiny_bundle, tmp_path / "strict", threshold=0.9)).threshold == 0.9
    assert Recognizer.load(_rebundle(tiny_bundle, tmp_path / "none", threshold=None)).threshold == 0.5
    assert Recognizer.load(_rebundle(tiny_bundle, tmp_path / "strict"), threshold=0.2).threshold == 0.2


def test_temperature_is_applied_only_when_the_card_asks(tiny_bundle, tmp_path):
    image = glyphs(2)
    plain = Recognizer.load(tiny_bundle).recognize(image)
    recorded = Recognizer.load(_rebundle(tiny_bundle, tmp_path / "rec", temperature=3.0)).recognize(image)
    applied = Recognizer.load(
        _rebundle(tiny_bundle, tmp_path / "app", temperature=3.0, apply_temperature=True)
    ).recognize(image)
    assert [d.confidence for d in recorded.digits] == [d.confidence for d in plain.digits]
    for hot, cold in zip(applied.digits, plain.digits):
        assert hot.digit == cold.digit  # scaling never changes the ranking
        if cold.confidence < 0.999:
            assert hot.confidence < cold.confidence


def test_reject_output_makes_a_digit_uncertain(tiny_bundle, monkeypatch):
    bundle = load_bundle(_rebundle(tiny_bundle, Path(tiny_bundle).parent / "reject", reject_class=True))
    rec = Recognizer(bundle, threshold=0.3)
    row = np.array([0.0, 0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.55])
    monkeypatch.setattr(bundle, "predict_proba", lambda X: np.tile(row, (len(X), 1)))
    result = rec.recognize(glyphs(1))
    (digit,) = result.digits
    assert digit.digit == 3 and digit.confidence == pytest.approx(0.4)
    assert digit.uncertain and result.text == "?"  # 0.4 passes the threshold, but "not a digit" won
    assert [d for d, _ in digit.top] == [3, 9, 0]


def test_trusted_distrusts_a_row_mostly_unsure():
    assert trusted([]) == [] and trusted([True]) == [True] and trusted([False]) == [False]
    assert trusted([True, True, False]) == [True, True, False]  # one unsure digit of a number
    assert trusted([True, False]) == [False, False]  # half unsure: no number
    assert trusted([False, True, False]) == [False, False, False]


def test_trusted_distrusts_every_digit_cut_from_a_blob_when_one_is_unsure():
    # A "W" cut into "V", "1" and "/": one guess at how to cut one piece of ink.
    assert trusted([False, True, True], [0, 0, 0]) == [False, False, False]
    # Separate blobs keep their own say: a number with one doubtful digit.
    assert trusted([False, True, True], [0, 1, 2]) == [False, True, True]
    assert trusted([True, True, False, True], [0, 1, 1, 2]) == [True, False, False, True]
    assert trusted([True, True], [0, 0]) == [True, True]  # touching digits, both sure
    assert trusted([False, True, True], []) == [False, True, True]  # no blobs known
    with pytest.raises(ValueError):
        trusted([True, True], [0])


def test_a_row_mostly_unsure_is_all_uncertain(tiny_bundle, monkeypatch):
    """A letter broken into three strokes, one of which reads as a sure "1", gives "???", not "??1"."""
    bundle = load_bundle(tiny_bundle)
    rec = Recognizer(bundle, threshold=0.5)
    sure_one, unsure = np.eye(10)[1], np.full(10, 0.1)

    def answers(X):
        # The first sample read is a sure 1, the others unsure: per batch, so the
        # recogniser's final reading has exactly one sure digit whatever it judged before.
        return np.stack([sure_one] + [unsure] * (len(X) - 1))

    monkeypatch.setattr(bundle, "predict_proba", answers)
    three = rec.recognize(glyphs(3), digits=3)
    assert len(three.digits) == 3 and three.text == "???"
    assert three.digits[0].confidence == pytest.approx(1.0) and three.digits[0].digit == 1
    assert not any(d.rejected for d in three.digits)

    def two_sure(X):
        return np.stack([sure_one] * (len(X) - 1) + [unsure])

    monkeypatch.setattr(bundle, "predict_proba", two_sure)
    assert rec.recognize(glyphs(3), digits=3).text == "11?"  # a number with one doubtful digit keeps the others


def _piece(box: tuple[int, int, int, int], confidence: float = 0.99, rejected: bool = False) -> DigitResult:
    return DigitResult(digit=1, confidence=confidence, uncertain=False, top=[], box=box, rejected=rejected)


def test_stray_marks_leaves_out_small_unsure_pieces_at_the_ends_of_a_row():
    nine, dot = _piece((0, 0, 60, 100)), _piece((70, 85, 82, 97), confidence=0.2)
    assert stray_marks([nine, dot], 0.5) == [0]  # "9."
    assert stray_marks([dot, nine], 0.5) == [1]  # a speck before it
    blot = _piece((170, 90, 180, 100), rejected=True)
    assert stray_marks([dot, nine, _piece((100, 0, 160, 100)), blot], 0.5) == [1, 2]  # both ends
    assert stray_marks([nine], 0.5) == [0] and stray_marks([], 0.5) == []
    speck = _piece((90, 90, 96, 96), confidence=0.1)
    assert stray_marks([dot, speck], 0.5) == [0, 1]  # marks are small beside a digit, not beside each other
    assert stray_marks([nine, dot, speck], 0.5) == [0, 1, 2]  # a speck beside a speck: dust, no number
    assert stray_marks([_piece((0, 0, 60, 100), confidence=0.3), dot], 0.5) == [0, 1]  # beside no sure digit


def test_stray_marks_keeps_what_may_be_meant():
    nine, two = _piece((0, 0, 60, 100)), _piece((80, 0, 140, 100))
    point = _piece((65, 88, 75, 98), confidence=0.1)
    assert stray_marks([nine, point, two], 0.5) == [0, 1, 2]  # "9.2": a mark between digits
    assert stray_marks([nine, _piece((70, 85, 82, 97), confidence=0.9)], 0.5) == [0, 1]  # a small digit read surely
    assert stray_marks([nine, _piece((70, 60, 100, 97), confidence=0.2)], 0.5) == [0, 1]  # longer than a quarter
    assert stray_marks([nine, _piece((55, 85, 67, 97), confidence=0.2)], 0.5) == [0, 1]  # shares columns
    dash = _piece((0, 45, 30, 55), rejected=True)  # "-9": a minus is no speck
    assert stray_marks([dash, _piece((40, 0, 100, 100))], 0.5) == [0, 1]


@needs_default
def test_a_full_stop_after_a_digit_is_left_out_unless_the_count_is_given():
    image, alone = Image.new("L", (220, 120), 235), Image.new("L", (220, 120), 235)
    image.paste(glyphs(1), (0, 0))
    alone.paste(glyphs(1), (0, 0))
    ImageDraw.Draw(image).ellipse([130, 100, 142, 112], fill=25)
    rec = Recognizer.load()
    before = rec.recognize(alone)
    read = rec.recognize(png(image))
    assert read.text == before.text == "0" and len(read.samples) == len(read.crops) == 1
    assert read.digits[0].box == before.digits[0].box
    assert len(rec.recognize(png(image), digits=2).digits) == 2


def test_errors_are_digitrec_errors_with_json_objects(rec, tmp_path):
    with pytest.raises(UnsupportedImageError) as info:
        rec.recognize(b"definitely not an image")
    out = error_result("x.txt", info.value)
    assert out == {"path": "x.txt", "error": {"code": "unsupported_image", "message": info.value.message}}
    with pytest.raises(InvalidImageError):
        rec.recognize(tmp_path / "missing.png")
    small = Recognizer(rec.bundle, max_bytes=100)
    with pytest.raises(InvalidImageError, match="limit"):
        small.recognize(png(glyphs(2)))
    with pytest.raises(UsageError):
        Recognizer.load(rec.bundle.path, max_files=3)


def test_info_describes_the_model(rec):
    info = rec.info()
    for key in ("name", "recipe", "input_format", "threshold", "metrics", "created"):
        assert key in info
    assert info["name"] == "tiny" and info["input_format"] == "optdigits" and info["threshold"] == 0.5
    json.dumps(info)


def test_digit_result_to_dict_is_plain_json():
    d = DigitResult(digit=np.int64(7), confidence=np.float32(0.75), uncertain=np.bool_(False),
                    top=[(7, 0.75), (1, 0.2), (9, 0.05)], box=(1, 2, 3, 4))
    assert json.loads(json.dumps(d.to_dict())) == {
        "digit": 7, "confidence": 0.75, "uncertain": False, "top": [[7, 0.75], [1, 0.2], [9, 0.05]], "box": [1, 2, 3, 4]
    }


# --------------------------------------------------------------------------- ONNX: no torch


def test_onnx_bundle_recognises_without_importing_torch(onnx_bundle, tmp_path):
    image = tmp_path / "two.png"
    glyphs(2).save(image)
    code = (
        "import sys, json\n"
        "from digitrec.recognizer import Recognizer\n"
        f"r = Recognizer.load({str(onnx_bundle)!r}).recognize({str(image)!r})\n"
        "print(json.dumps({'text': r.text, 'torch': 'torch' in sys.modules, 'sklearn': 'sklearn' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out["text"]) == 2
    assert out["torch"] is False
    assert out["sklearn"] is False


# --------------------------------------------------------------------------- the shipped model


def _mnist_test(mnist_dir, n):
    import gzip

    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)[:n]
    return images, labels


def _as_paper(d: np.ndarray) -> Image.Image:
    page = Image.new("L", (240, 200), 228)
    page.paste(Image.fromarray(255 - d).resize((140, 140), Image.Resampling.BILINEAR), (50, 30))
    return page.convert("RGB")


def _as_canvas(d: np.ndarray) -> Image.Image:
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    canvas.putalpha(Image.fromarray(d).resize((280, 280), Image.Resampling.BILINEAR))
    return canvas


def _as_chalk(d: np.ndarray) -> Image.Image:
    return Image.fromarray((35 + d * 0.8).astype(np.uint8)).resize((200, 200), Image.Resampling.BILINEAR)


@needs_default
@pytest.mark.mnist
@pytest.mark.parametrize("render", [_as_paper, _as_canvas, _as_chalk])
def test_default_model_reads_mnist_digits_as_pictures(mnist_dir, render):
    images, labels = _mnist_test(mnist_dir, 60)
    rec = Recognizer.load()
    correct = sum(rec.recognize(png(render(d))).text == str(y) for d, y in zip(images, labels))
    assert correct >= 57  # the model scores ~99% on MNIST itself


@needs_default
@pytest.mark.mnist
def test_default_model_reads_a_number_left_to_right(mnist_dir):
    images, labels = _mnist_test(mnist_dir, 12)
    rec = Recognizer.load()
    for start in (0, 4, 8):
        row = np.concatenate([np.pad(images[i], ((0, 0), (2, 2))) for i in range(start, start + 4)], axis=1)
        picture = Image.fromarray(255 - row).resize((row.shape[1] * 5, 140), Image.Resampling.BILINEAR)
        result = rec.recognize(png(picture))
        assert result.text == "".join(str(labels[i]) for i in range(start, start + 4))
        assert len(rec.recognize(png(picture), digits=4).digits) == 4
