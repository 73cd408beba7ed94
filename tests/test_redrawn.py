"""Training digits re-drawn with other pens (`digitrec.redrawn`) and the pad renderer behind them."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.errors import UsageError
from digitrec.preprocess import _stroke_width
from digitrec.redrawn import PEN_FACTORS, digits_from_numbers, pen_factor, redraw_digits, render_digits
from digitrec.synth import render_pen


def _alpha(image) -> np.ndarray:
    assert image.mode == "RGBA"
    return np.asarray(image, np.float32)[..., 3] / 255


def test_render_pen_changes_the_stroke_width(mnist_like):
    ink = mnist_like[0].reshape(28, 28)
    widths = {}
    for factor in (0.25, 1.0, 2.0):
        # The same generator state for each: same size and place, only the pen differs.
        alpha = _alpha(render_pen(ink, np.random.default_rng(5), factor))
        widths[factor] = _stroke_width(alpha > 0.5)
    assert widths[0.25] < 0.6 * widths[1.0] < widths[1.0] < widths[2.0]
    with pytest.raises(UsageError, match="factor"):
        render_pen(ink, np.random.default_rng(0), 0)


def test_pen_factors_cover_fine_pens_and_markers():
    assert sum(share for share, _, _ in PEN_FACTORS) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    factors = np.array([pen_factor(rng) for _ in range(2000)])
    lows, highs = min(low for _, low, _ in PEN_FACTORS), max(high for _, _, high in PEN_FACTORS)
    assert lows <= factors.min() and factors.max() <= highs
    # Each range gets about its share.
    for share, low, high in PEN_FACTORS:
        got = np.mean((factors >= low) & (factors <= high))
        assert abs(got - share) < 0.05


def test_redraw_digits_replaces_a_seeded_share_and_keeps_the_rest(mnist_like):
    X = mnist_like[:40]
    out, n = redraw_digits(X, 0.5, random_state=1)
    assert out.shape == X.shape and out.dtype == np.float32
    changed = np.flatnonzero(np.abs(out - X).sum(axis=1) > 1e-6)
    # Half the rows were chosen; a drawing that does not read back as one piece keeps its original.
    assert n == len(changed) and 15 <= n <= 20
    assert 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, redraw_digits(X, 0.5, random_state=1)[0])
    assert not np.array_equal(out, redraw_digits(X, 0.5, random_state=2)[0])
    np.testing.assert_array_equal(redraw_digits(X, 0.0)[0], X)
    # Scaled input comes back on its own scale.
    scaled, _ = redraw_digits(X * 255, 0.5, input_max=255.0, random_state=1)
    np.testing.assert_allclose(scaled / 255, out, atol=1e-5)


def test_redraw_digits_rejects_bad_input():
    with pytest.raises(UsageError, match="784"):
        redraw_digits(np.zeros((3, 64)), 0.5)
    with pytest.raises(UsageError, match="share"):
        redraw_digits(np.zeros((3, 784)), 1.5)


def test_worker_processes_give_the_same_samples(mnist_like, monkeypatch):
    import digitrec.negatives as negatives
    import digitrec.redrawn as redrawn

    # Small chunks, so two processes really share the work.
    monkeypatch.setattr(redrawn, "CHUNK", 6)
    monkeypatch.setattr(negatives, "CHUNK", 4)
    X = mnist_like[:30]
    seen: list[tuple] = []
    one, n_one = redraw_digits(X, 0.6, random_state=3, n_jobs=1, progress=lambda *a, **k: seen.append(a))
    two, n_two = redraw_digits(X, 0.6, random_state=3, n_jobs=2)
    np.testing.assert_array_equal(one, two)
    assert n_one == n_two
    assert seen[0] == ("Re-drawing digits", 0, 18) and seen[-1] == ("Re-drawing digits", 18, 18)
    np.testing.assert_array_equal(
        negatives.make_negatives(X, 16, random_state=5, n_jobs=1),
        negatives.make_negatives(X, 16, random_state=5, n_jobs=2),
    )


def test_digits_from_numbers_replaces_digits_by_their_own_crops(mnist_like, monkeypatch):
    import digitrec.redrawn as redrawn

    monkeypatch.setattr(redrawn, "CHUNK", 9)  # several chunks of whole numbers
    X = mnist_like[:45]
    out, n = digits_from_numbers(X, 0.6, random_state=4)
    assert out.shape == X.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    changed = np.flatnonzero(np.abs(out - X).sum(axis=1) > 1e-6)
    assert n == len(changed) and 0.5 * 27 <= n <= 27  # most numbers are cut into as many digits as written
    # Each replaced row is its own digit (piece k of a number is digit k), not a neighbour's.
    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1])

    own = [corr(out[r], X[r]) for r in changed]
    other = [corr(out[r], X[changed[(i + 1) % len(changed)]]) for i, r in enumerate(changed)]
    assert np.median(own) > 0.6 and np.mean(np.array(own) > np.array(other)) >= 0.8
    np.testing.assert_array_equal(out, digits_from_numbers(X, 0.6, random_state=4, n_jobs=2)[0])
    assert not np.array_equal(out, digits_from_numbers(X, 0.6, random_state=5)[0])
    np.testing.assert_array_equal(digits_from_numbers(X, 0.0)[0], X)
    with pytest.raises(UsageError, match="784"):
        digits_from_numbers(np.zeros((3, 64)), 0.5)
    with pytest.raises(UsageError, match="share"):
        digits_from_numbers(np.zeros((3, 784)), -0.1)


def test_render_digits_replaces_digits_by_their_photographed_selves(mnist_like, monkeypatch):
    import digitrec.redrawn as redrawn
    import digitrec.synth as synth

    monkeypatch.setattr(redrawn, "CHUNK", 8)  # several chunks
    styles: list[str] = []
    render = synth.render_digit
    monkeypatch.setattr(synth, "render_digit", lambda ink, style, rng: styles.append(style) or render(ink, style, rng))
    X = mnist_like[:32]
    out, n = render_digits(X, 0.75, random_state=2)
    assert len(styles) == 24 and len(set(styles)) >= 5  # styles drawn at random from all of STYLES
    assert set(styles) <= set(synth.STYLES)
    assert out.shape == X.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    changed = np.flatnonzero(np.abs(out - X).sum(axis=1) > 1e-6)
    assert n == len(changed) and 18 <= n <= 24  # an image that does not read back as one piece keeps its original
    # A replaced row is its own digit, not another row's.
    own = [float(np.corrcoef(out[r], X[r])[0, 1]) for r in changed]
    other = [float(np.corrcoef(out[r], X[changed[(i + 1) % n]])[0, 1]) for i, r in enumerate(changed)]
    assert np.median(own) > 0.6 and np.mean(np.array(own) > np.array(other)) >= 0.8
    np.testing.assert_array_equal(out, render_digits(X, 0.75, random_state=2, n_jobs=2)[0])
    np.testing.assert_array_equal(render_digits(X, 0.0)[0], X)
    with pytest.raises(UsageError, match="784"):
        render_digits(np.zeros((3, 64)), 0.5)
