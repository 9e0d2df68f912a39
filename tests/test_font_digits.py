"""The handwriting-font test set (data/font-digits.npz): what it holds, and that it is what its script makes."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from core.data import font_digits
from core.data.strokes import FORMS

SCRIPT = Path(__file__).resolve().parent.parent / "data" / "make_font_digits.py"


@pytest.fixture(scope="module")
def font_set():
    return font_digits.load()


@pytest.fixture(scope="module")
def script():
    """data/make_font_digits.py as a module (a script, not a package): its table of fonts and its settings."""
    spec = importlib.util.spec_from_file_location("make_font_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_set_holds_every_digit_of_every_font_of_the_script(font_set, script):
    fonts = [path.stem for _, path in script.FONTS]
    assert len(font_set.labels) == len(fonts) * 10 * script.COPIES >= 1000
    assert font_set.x.shape == (len(font_set.labels), 28, 28, 1) and font_set.x.dtype == np.float32
    assert sorted(set(font_set.fonts.tolist())) == sorted(fonts)
    for font in fonts:   # each font's digits 0-9, each drawn COPIES times
        assert np.bincount(font_set.labels[font_set.fonts == font], minlength=10).tolist() == [script.COPIES] * 10
    assert set(font_set.forms.tolist()) == set(FORMS)


def test_the_drawings_are_network_inputs_as_the_draw_page_makes_them(font_set):
    """canvas_to_mnist's output: ink scaled to 1, the digit fitted to MNIST's 20-pixel box, centred by mass."""
    images = font_set.x[..., 0]
    assert images.min() >= 0 and np.allclose(images.max(axis=(1, 2)), 1.0, atol=1 / 255)
    rows, cols = np.arange(28), np.arange(28)
    for image in images[::7]:
        ink_rows, ink_cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        assert 18 <= max(ink_rows[-1] - ink_rows[0], ink_cols[-1] - ink_cols[0]) + 1 <= 22
        centre = (image.sum(axis=1) @ rows / image.sum(), image.sum(axis=0) @ cols / image.sum())
        assert np.hypot(centre[0] - 14, centre[1] - 14) < 1.5


def test_a_damaged_set_is_refused_with_how_to_remake_it(tmp_path):
    np.savez_compressed(tmp_path / "no-fonts.npz", x=np.zeros((3, 28, 28), np.uint8), y=np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="lacks font, form.*make font-digits"):
        font_digits.load(tmp_path / "no-fonts.npz")
    np.savez_compressed(tmp_path / "wrong-shape.npz", x=np.zeros((3, 20, 20), np.uint8), y=np.zeros(3, np.uint8),
                        font=np.array(["a"] * 3), form=np.array(["b"] * 3))
    with pytest.raises(ValueError, match=r"uint8\(3, 20, 20\).*make font-digits"):
        font_digits.load(tmp_path / "wrong-shape.npz")
