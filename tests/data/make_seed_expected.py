"""Extract the values the seed tutorial prints into ``seed_expected.json``.

The seed is the text of the original notebook page
(``../shared/seed/handwritten_digits_sklearn_tutorial.txt`` beside the repository).
This script reads each printed value out of it, exactly as printed, so the tests
compare ``digitrec tutorial`` with the seed itself rather than with numbers
typed in by hand. Run it again only if the seed text changes:

    python tests/data/make_seed_expected.py [SEED_TEXT]

Python 2's ``<type 'numpy.ndarray'>`` is recorded as printed and also as the
``<class 'numpy.ndarray'>`` Python 3 prints for the same type.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = HERE.parents[1].parent / "shared" / "seed" / "handwritten_digits_sklearn_tutorial.txt"
OUT = HERE / "seed_expected.json"


def _after(lines: list[str], marker: str, start: int = 0) -> int:
    """Index of the first line after ``start`` equal to ``marker`` (stripped)."""
    for i in range(start, len(lines)):
        if lines[i].strip() == marker:
            return i
    raise SystemExit(f"marker {marker!r} not found in the seed text")


def _block(lines: list[str], start: int, closing: str) -> list[str]:
    """Lines from ``start`` up to and including the first that ends with ``closing``."""
    out = []
    for line in lines[start:]:
        out.append(line.rstrip())
        if line.rstrip().endswith(closing):
            return out
    raise SystemExit(f"unterminated block starting at line {start + 1}")


def _array_values(block: list[str]) -> list:
    """The list inside a printed ``array([...])``."""
    text = " ".join(line.strip() for line in block)
    return ast.literal_eval(text[len("array(") : -1])


def extract(seed: Path) -> dict:
    lines = seed.read_text(encoding="utf-8").splitlines()

    i = _after(lines, "Out[2]:")
    dir_digits_line = lines[i + 1].strip()

    i = _after(lines, "print type(digits.target)")
    types_py2 = [lines[i + 1].strip(), lines[i + 2].strip()]

    i = _after(lines, "Out[4]:")
    images_shape_line = lines[i + 1].strip()

    i = _after(lines, "print digits.images[0]")
    first_image = _block(lines, i + 1, "]]")

    i = _after(lines, "print digits.target")
    target_shape_line, target_line = lines[i + 1].strip(), lines[i + 2].strip()

    i = _after(lines, "Out[10]:")
    x_shape_line = lines[i + 1].strip()

    i = _after(lines, "Out[11]:")
    x0 = _block(lines, i + 1, ")")

    loss_lines = [line.strip() for line in lines if re.fullmatch(r"Iteration \d+, loss = \d+\.\d{8}", line.strip())]
    stop_line = next(line.strip() for line in lines if line.startswith("Training loss did not improve"))

    i = _after(lines, "Out[20]:")
    predictions = _block(lines, i + 1, ")")
    i = _after(lines, "Out[21]:")
    labels = _block(lines, i + 1, ")")

    i = _after(lines, "Out[22]:")
    accuracy_line = lines[i + 1].strip()

    return {
        "source": f"shared/seed/{seed.name}",
        "dir_digits": ast.literal_eval(dir_digits_line),
        "types_py2": types_py2,
        "types": [t.replace("<type ", "<class ") for t in types_py2],
        "images_shape_line": images_shape_line,
        "images_shape": list(ast.literal_eval(images_shape_line)),
        "first_image_lines": first_image,
        "target_shape_line": target_shape_line,
        "target_line": target_line,
        "x_shape_line": x_shape_line,
        "x_shape": list(ast.literal_eval(x_shape_line)),
        "x0_lines": x0,
        "x0": _array_values(x0),
        "loss_lines": loss_lines,
        "losses": [float(line.rsplit("= ", 1)[1]) for line in loss_lines],
        "n_iter": len(loss_lines),
        "stop_line": stop_line,
        "predictions_lines": predictions,
        "predictions": _array_values(predictions),
        "labels_lines": labels,
        "labels": _array_values(labels),
        "accuracy_line": accuracy_line,
        "accuracy": float(accuracy_line),
    }


def main(argv: list[str]) -> None:
    seed = Path(argv[1]) if len(argv) > 1 else DEFAULT_SEED
    expected = extract(seed)
    OUT.write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({expected['n_iter']} loss lines, accuracy {expected['accuracy_line']})")


if __name__ == "__main__":
    main(sys.argv)
