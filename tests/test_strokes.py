"""core.data.strokes: MNIST digits redrawn as mouse strokes, in every user form."""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from core.data.preprocess import canvas_to_mnist
from core.data.strokes import (
    FORMS,
    SPUR_LENGTH,
    prune_spurs,
    redraw_as_strokes,
    render_form,
    robustness_set,
    skeleton_graph,
    thin,
)

MNIST_PATH = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"


@pytest.fixture(scope="module")
def mnist_test():
    with np.load(MNIST_PATH) as data:
        return data["x_test"][:300], data["y_test"][:300]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# --- thinning -------------------------------------------------------------------


@pytest.mark.parametrize("transpose", [False, True], ids=["horizontal", "vertical"])
def test_thinning_a_thick_bar_leaves_a_one_pixel_line(transpose):
    bar = np.zeros((40, 90), bool)
    bar[12:24, 10:80] = True  # 12 px thick, 70 px long
    bar = bar.T if transpose else bar

    skeleton = thin(bar)
    across = skeleton.sum(axis=0 if not transpose else 1)  # skeleton pixels per position along the bar

    assert not (skeleton & ~bar).any()
    assert ndimage.label(skeleton, structure=np.ones((3, 3)))[1] == 1
    assert (across[20:70] == 1).all()  # exactly one pixel wide away from the ends
    assert np.count_nonzero(across) >= 55  # and still most of the bar's length


def test_thinning_keeps_a_ring_closed():
    rows, cols = np.mgrid[:60, :60]
    radius = np.hypot(rows - 30, cols - 30)
    ring = (radius >= 14) & (radius <= 22)

    skeleton = thin(ring)

    assert ndimage.label(skeleton, structure=np.ones((3, 3)))[1] == 1
    assert ndimage.label(~skeleton)[1] == 2  # the hole survives: inside and outside stay apart
    on_ring = radius[skeleton]
    assert on_ring.min() > 15 and on_ring.max() < 21
    assert skeleton.sum() < 0.25 * ring.sum()


def test_short_spurs_are_pruned_and_real_branches_kept():
    skeleton = np.zeros((40, 50), bool)
    skeleton[30, 5:45] = True  # the stroke
    skeleton[30 - SPUR_LENGTH : 30, 15] = True  # a spur as long as the limit
    skeleton[8:30, 35] = True  # a real branch

    points, edges = prune_spurs(*skeleton_graph(skeleton))

    kept = np.zeros_like(skeleton)
    kept[tuple(points.astype(int).T)] = True
    expected = skeleton.copy()
    expected[30 - SPUR_LENGTH : 30, 15] = False
    assert np.array_equal(kept, expected)
    assert len(edges) == expected.sum() - 1  # still one tree: n points, n - 1 edges
    assert edges.max() < len(points)


# --- redrawing ------------------------------------------------------------------


def test_redrawn_digits_stay_inside_the_canvas(mnist_test):
    x, _ = mnist_test
    heights = []
    for index in range(40):
        ink = redraw_as_strokes(x[index], np.random.default_rng(index))
        assert ink.shape == (280, 280) and ink.dtype == np.float32
        assert ink.min() >= 0 and ink.max() == 1
        assert ink[0].max() == ink[-1].max() == ink[:, 0].max() == ink[:, -1].max() == 0
        rows = np.flatnonzero(ink.max(axis=1) > 0.5)
        heights.append((rows[-1] - rows[0] + 1) / 280)
    assert 0.28 <= min(heights) and max(heights) <= 0.92
    assert max(heights) - min(heights) > 0.3  # sizes really vary


def test_brush_is_round_thick_and_random():
    one = np.zeros((28, 28), np.uint8)
    one[4:24, 13:16] = 255  # an upright "1"
    widths = []
    for seed in range(12):
        ink = redraw_as_strokes(one, np.random.default_rng(seed))
        rows = np.flatnonzero(ink.max(axis=1) > 0.5)
        middle = ink[(rows[0] + rows[-1]) // 2]
        widths.append(np.count_nonzero(middle > 0.5))
        soft = (ink > 0) & (ink < 1)
        assert soft.any()  # anti-aliased edges
    assert min(widths) >= 7 and max(widths) <= 30
    assert max(widths) - min(widths) >= 6


def test_redrawing_needs_ink():
    with pytest.raises(ValueError):
        redraw_as_strokes(np.zeros((28, 28), np.uint8), np.random.default_rng(0))


# --- forms ----------------------------------------------------------------------


def test_forms_are_what_users_produce():
    ink = np.zeros((280, 280), np.float32)
    ink[100:180, 130:150] = 1.0
    ink[100:180, 129] = 0.5

    white = render_form(ink, "white-on-black")
    assert white.shape == (280, 280, 4) and white.dtype == np.uint8
    assert (white[..., 3] == 255).all() and white[0, 0, :3].max() == 0
    assert (white[140, 140, :3] == 255).all() and white[140, 129, 0] in (127, 128)

    transparent = render_form(ink, "black-on-transparent")
    assert transparent.shape == (280, 280, 4) and transparent.dtype == np.uint8
    assert transparent[..., :3].max() == 0
    assert transparent[0, 0, 3] == 0 and transparent[140, 140, 3] == 255

    paper = render_form(ink, "dark-on-white", np.random.default_rng(0))
    assert paper.shape == (280, 280, 3) and paper.dtype == np.uint8
    assert abs(float(np.median(paper)) - 245) <= 2 and paper[..., 0].std() > 0
    assert abs(int(paper[140, 140, 0]) - 30) <= 8

    with pytest.raises(ValueError, match="Unknown form"):
        render_form(ink, "sepia")


def test_robustness_set_is_deterministic_per_seed(mnist_test):
    x, y = mnist_test
    images, labels, forms = robustness_set(x, y, 6, seed=3)
    again, labels_again, _ = robustness_set(x, y, 6, seed=3)
    other, _, _ = robustness_set(x, y, 6, seed=4)

    assert forms == list(FORMS) * 2
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    assert np.array_equal(labels, labels_again)
    assert not any(np.array_equal(a, b) for a, b in zip(images, other))
    for image, form in zip(images, forms):
        assert image.dtype == np.uint8
        assert image.shape == ((280, 280, 3) if form == "dark-on-white" else (280, 280, 4))


def test_redrawn_digits_keep_their_shape(mnist_test):
    """End to end: after preprocessing, a redrawn digit looks like its own original, not like other digits."""
    x, y = mnist_test
    originals = np.stack([canvas_to_mnist(digit).image for digit in x])
    images, picks, _ = robustness_set(x, np.arange(len(x)), 30, seed=0)  # labels = indices of the originals

    own, others = [], []
    for image, pick in zip(images, picks):
        redrawn = canvas_to_mnist(image).image
        own.append(correlation(redrawn, originals[pick]))
        different_class = np.flatnonzero(y != y[pick])[:20]
        others.append(np.mean([correlation(redrawn, originals[j]) for j in different_class]))
    own, others = np.array(own), np.array(others)

    assert own.mean() > 0.6
    assert own.mean() > others.mean() + 0.3
    assert np.mean(own > others) >= 0.9
