"""``digitrec predict``: human lines, --json objects, bad files, stdin, --digits, --threshold, --show."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from digitrec.cli import cli


def glyph_row(n: int) -> Image.Image:
    image = Image.new("RGB", (20 + n * 110, 120), (236, 234, 228))
    draw = ImageDraw.Draw(image)
    for i in range(n):
        x = 10 + i * 110
        draw.ellipse([x + 8, 20, x + 72, 100], outline=(20, 20, 30), width=9)
    return image


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "two.png"
    glyph_row(2).save(good)
    photo = tmp_path / "three.jpg"
    glyph_row(3).save(photo, quality=90)
    bad = tmp_path / "notes.png"
    bad.write_text("shopping list: milk, eggs")
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 80), 250).save(blank)
    return {"good": good, "photo": photo, "bad": bad, "blank": blank, "missing": tmp_path / "gone.png"}


def run(*args, input=None):
    return CliRunner().invoke(cli, ["predict", *map(str, args)], input=input)


def test_human_output_one_line_per_file(tiny_bundle, files):
    result = run(files["good"], files["photo"], "--model", tiny_bundle)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{files['good']}: ") and len(lines[0].split(": ")[1].split()[0]) == 2
    assert lines[1].startswith(f"{files['photo']}: ")
    confidences = lines[1].split("(")[1].rstrip(")").split()
    assert len(confidences) == 3 and all(0 <= float(c) <= 1 for c in confidences)


def test_json_one_object_per_input_and_errors_do_not_stop_the_others(tiny_bundle, files):
    result = run(files["bad"], files["good"], files["missing"], files["blank"], "--json", "-m", tiny_bundle)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["path"] for row in rows] == [str(files[k]) for k in ("bad", "good", "missing", "blank")]
    assert rows[0]["error"]["code"] == "unsupported_image"
    assert "save it as PNG or JPEG" in rows[0]["error"]["message"]
    assert rows[2]["error"]["code"] == "invalid_image"
    assert set(rows[1]) == {"path", "text", "digits", "model"} and len(rows[1]["digits"]) == 2
    assert rows[1]["model"] == "tiny"
    assert rows[3] == {"path": str(files["blank"]), "text": "", "digits": [], "model": "tiny"}


def test_a_bad_file_gives_one_error_line_and_exit_1(tiny_bundle, files):
    result = run(files["bad"], files["good"], "-m", tiny_bundle)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{files['good']}: ")
    errors = result.stderr.strip().splitlines()
    assert errors == [f"digitrec: error: {files['bad']} is not an image Pillow can read; save it as PNG or JPEG"]
    assert "Traceback" not in result.output


def test_a_bug_on_one_file_is_that_file_s_error_line(tiny_bundle, files, monkeypatch):
    from digitrec.recognizer import Recognizer

    real = Recognizer.recognize

    def buggy(self, image, *, digits=None):
        if str(image) == str(files["photo"]):
            raise ZeroDivisionError("integer division or modulo by zero")
        return real(self, image, digits=digits)

    monkeypatch.setattr(Recognizer, "recognize", buggy)
    result = run(files["photo"], files["good"], "-m", tiny_bundle, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["error"]["code"] == "internal_error" and "ZeroDivisionError" in rows[0]["error"]["message"]
    assert rows[1]["path"] == str(files["good"]) and rows[1]["digits"]


def test_an_unforeseen_failure_is_one_line_and_exit_70(monkeypatch, capsys):
    from digitrec.cli import DEBUG_ENV, main

    def broken(*args, **kwargs):
        raise RuntimeError("something digitrec did not foresee")

    monkeypatch.setattr("digitrec.recognizer.Recognizer.load", broken)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["predict", "x.png"])
    assert exited.value.code == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: something digitrec did not foresee" in err
    assert err.startswith("digitrec: error: ") and DEBUG_ENV in err
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        main(["predict", "x.png"])


def test_stdin_digits_and_threshold(tiny_bundle, files):
    data = files["photo"].read_bytes()
    result = run("-", "-m", tiny_bundle, "--json", "--digits", "2", "--threshold", "1.0", input=data)
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["path"] == "-" and len(row["digits"]) == 2
    assert row["text"] == "??" and all(d["uncertain"] for d in row["digits"])


def test_blank_image_says_no_digit(tiny_bundle, files):
    result = run(files["blank"], "-m", tiny_bundle)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{files['blank']}: (no digit found)"


def test_show_writes_a_picture_of_what_the_model_saw(tiny_bundle, files, tmp_path):
    show = tmp_path / "why"
    result = run(files["good"], files["photo"], files["bad"], "-m", tiny_bundle, "--show", show)
    assert result.exit_code == 1  # the bad file still fails, the others are shown
    written = sorted(p.name for p in show.iterdir())
    assert written == ["three.png", "two.png"]
    picture = Image.open(show / "three.png")
    picture.load()
    assert picture.width > Image.open(files["photo"]).width  # the crops sit beside the image


def test_unknown_model_and_bad_options_are_one_line_errors(files):
    result = run(files["good"], "--model", "no-such-model")
    assert result.exit_code == 1
    assert result.stderr.startswith("digitrec: error: no model named")
    assert run(files["good"], "--threshold", "2").exit_code == 2
    assert run(files["good"], "--digits", "0").exit_code == 2


def test_help_shows_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "digitrec predict photo.jpg" in result.output
