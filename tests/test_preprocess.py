"""core.data.preprocess: drawings in every form become MNIST-style 28x28 inputs."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from core.data.preprocess import (
    MAX_UPLOAD_SIDE,
    BlankImageError,
    ImageError,
    Preprocessed,
    TooSmallError,
    canvas_to_mnist,
    header_size,
    load_image_bytes,
    to_ink,
)

from page_support import huge_png

CANVAS = 280
MNIST_PATH = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"


# --- drawings -----------------------------------------------------------------


def draw_digit(shape: str, left: int, top: int, size: int, width: int) -> np.ndarray:
    """A 280x280 uint8 ink mask (255 = ink) of a '7', '0' or '1' in a size x size box."""
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(mask)
    right, bottom = left + size, top + size
    if shape == "7":
        draw.line([(left, top), (right, top), (left + size * 0.35, bottom)], fill=255, width=width, joint="curve")
    elif shape == "0":
        draw.ellipse([left + size * 0.15, top, right - size * 0.15, bottom], outline=255, width=width)
    elif shape == "1":
        draw.line([(left + size * 0.5, top), (left + size * 0.5, bottom)], fill=255, width=width)
    else:
        raise ValueError(shape)
    return np.asarray(mask)


def black_on_transparent(mask: np.ndarray) -> np.ndarray:
    """Canvas with no background: black strokes, alpha = ink."""
    rgba = np.zeros(mask.shape + (4,), np.uint8)
    rgba[..., 3] = mask
    return rgba


def white_on_black(mask: np.ndarray) -> np.ndarray:
    """Opaque black canvas with white strokes."""
    rgba = np.full(mask.shape + (4,), 255, np.uint8)
    rgba[..., :3] = mask[..., None]
    return rgba


def dark_on_white_paper(mask: np.ndarray) -> np.ndarray:
    """RGB photo-like: dark grey ink (30) on off-white paper (245)."""
    gray = 245 - (mask.astype(np.float32) / 255) * (245 - 30)
    return np.repeat(gray.round().astype(np.uint8)[..., None], 3, axis=2)


def grayscale_white_on_black(mask: np.ndarray) -> np.ndarray:
    return mask.copy()


FORMS = {
    "black-on-transparent": black_on_transparent,
    "white-on-black": white_on_black,
    "dark-on-white": dark_on_white_paper,
    "grayscale": grayscale_white_on_black,
}
DRAWINGS = [  # (shape, left, top, size, stroke width): sizes, places and widths vary
    ("7", 40, 30, 200, 18),
    ("0", 10, 150, 110, 9),
    ("1", 180, 20, 90, 12),
    ("7", 200, 200, 60, 6),
]


def ink_bbox(image: np.ndarray, level: float) -> tuple[int, int]:
    """Height and width of the box holding every pixel above `level`."""
    rows = np.flatnonzero((image > level).any(axis=1))
    cols = np.flatnonzero((image > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# --- the MNIST convention ------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("drawing", DRAWINGS, ids=lambda d: f"{d[0]}@{d[1]},{d[2]}x{d[3]}w{d[4]}")
def test_every_form_gives_an_mnist_style_image(form, drawing):
    result = canvas_to_mnist(FORMS[form](draw_digit(*drawing)))

    assert isinstance(result, Preprocessed)
    image = result.image
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() == pytest.approx(1.0)
    height, width = ink_bbox(image, 0)
    assert max(height, width) <= 20
    assert max(ink_bbox(image, 0.1)) >= 19
    assert np.allclose(ndimage.center_of_mass(image), (14, 14), atol=1.0)
    scaled = result.steps["scaled"]
    assert image.sum() == pytest.approx(scaled.sum() / scaled.max(), rel=1e-4)  # no ink fell off the field


def test_steps_are_ordered_and_consistent():
    mask = draw_digit("7", 40, 30, 200, 18)
    result = canvas_to_mnist(black_on_transparent(mask))

    assert list(result.steps) == ["ink", "cropped", "scaled", "centred"]
    assert result.steps["ink"].shape == mask.shape
    assert np.array_equal(result.steps["ink"] > 0.5, mask > 127)
    cropped_h, cropped_w = result.steps["cropped"].shape
    assert abs(cropped_h - (mask > 0).any(axis=1).sum()) <= 1
    assert abs(cropped_w - (mask > 0).any(axis=0).sum()) <= 1
    scaled_h, scaled_w = result.steps["scaled"].shape
    assert max(scaled_h, scaled_w) == 20
    assert scaled_w / scaled_h == pytest.approx(cropped_w / cropped_h, abs=0.06)
    assert result.steps["centred"] is result.image
    for step in result.steps.values():
        assert step.ndim == 2 and step.min() >= 0 and step.max() <= 1


def test_size_and_position_do_not_matter_but_shape_does():
    big_middle = canvas_to_mnist(white_on_black(draw_digit("7", 40, 40, 200, 24))).image
    small_corner = canvas_to_mnist(white_on_black(draw_digit("7", 5, 205, 60, 7))).image
    zero = canvas_to_mnist(white_on_black(draw_digit("0", 40, 40, 200, 24))).image
    one = canvas_to_mnist(white_on_black(draw_digit("1", 40, 40, 200, 24))).image

    assert np.abs(big_middle - small_corner).mean() < 0.05
    assert correlation(big_middle, small_corner) > 0.95
    assert np.abs(one - zero).mean() > 10 * np.abs(big_middle - small_corner).mean()
    assert correlation(one, zero) < 0.3
    assert correlation(big_middle, zero) < 0.6


@pytest.mark.parametrize("drawing", DRAWINGS[:2])
def test_all_polarities_give_the_same_result(drawing):
    mask = draw_digit(*drawing)
    results = [canvas_to_mnist(make(mask)).image for make in FORMS.values()]
    white_strokes_no_background = black_on_transparent(mask)
    white_strokes_no_background[..., :3] = 255
    results.append(canvas_to_mnist(white_strokes_no_background).image)
    light_ink_on_grey = np.where(mask > 0, 230, 60).astype(np.uint8)
    results.append(canvas_to_mnist(light_ink_on_grey).image)

    for other in results[1:]:
        assert np.abs(other - results[0]).max() < 0.02


def test_pil_images_are_accepted_like_arrays():
    rgba = black_on_transparent(draw_digit("0", 10, 150, 110, 9))
    from_array = canvas_to_mnist(rgba).image
    for pil in (Image.fromarray(rgba), Image.fromarray(dark_on_white_paper(draw_digit("0", 10, 150, 110, 9)))):
        assert np.abs(canvas_to_mnist(pil).image - from_array).max() < 0.02


def best_shifted_correlation(image: np.ndarray, reference: np.ndarray) -> float:
    """Correlation after the best shift of at most one pixel (rounding of the centre of mass)."""
    return max(
        correlation(np.roll(image, (dy, dx), axis=(0, 1)), reference) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


@pytest.mark.parametrize("resample", [Image.Resampling.NEAREST, Image.Resampling.BILINEAR])
def test_real_mnist_digits_survive_a_round_trip(resample):
    """Oracle: an MNIST digit drawn 10x larger, off-centre, in any form, comes back as itself."""
    with np.load(MNIST_PATH) as data:
        digits = data["x_test"][:12]
    shifted = []
    for index, digit in enumerate(digits):
        rows = np.flatnonzero(digit.any(axis=1))
        cols = np.flatnonzero(digit.any(axis=0))
        box = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        big = Image.fromarray(box).resize((box.shape[1] * 10, box.shape[0] * 10), resample)
        mask = np.zeros((CANVAS, CANVAS), np.uint8)
        top, left = (6 * index) % 70, 5 + 5 * index
        mask[top : top + big.height, left : left + big.width] = np.asarray(big)
        form = list(FORMS.values())[index % len(FORMS)]

        result = canvas_to_mnist(form(mask)).image

        if resample == Image.Resampling.NEAREST:  # same bounding box as the original: same image
            assert correlation(result, digit) > 0.95, f"digit {index}"
        else:  # soft edges trim the box by a fraction of a pixel, which can move the rounding
            assert correlation(result, digit) > 0.6, f"digit {index}"
            shifted.append(best_shifted_correlation(result, digit))
    if shifted:
        assert min(shifted) > 0.85 and np.mean(shifted) > 0.95


# --- blank drawings -------------------------------------------------------------

UNIFORM = {
    "transparent": np.zeros((CANVAS, CANVAS, 4), np.uint8),
    "transparent-with-colour": np.dstack([np.full((CANVAS, CANVAS, 3), 200, np.uint8), np.zeros((CANVAS, CANVAS), np.uint8)]),
    "white-rgba": np.full((CANVAS, CANVAS, 4), 255, np.uint8),
    "black-opaque-rgba": white_on_black(np.zeros((CANVAS, CANVAS), np.uint8)),
    "white-rgb": np.full((CANVAS, CANVAS, 3), 255, np.uint8),
    "red-rgb": np.broadcast_to(np.array([200, 30, 90], np.uint8), (CANVAS, CANVAS, 3)).copy(),
    "mid-grey": np.full((CANVAS, CANVAS), 128, np.uint8),
    "black-gray": np.zeros((CANVAS, CANVAS), np.uint8),
}


@pytest.mark.parametrize("name", UNIFORM)
def test_uniform_images_are_blank(name):
    with pytest.raises(BlankImageError, match="Nothing drawn"):
        canvas_to_mnist(UNIFORM[name])


def test_stray_pixels_are_blank():
    faint = np.zeros((CANVAS, CANVAS), np.uint8)
    faint[10, 10] = faint[100, 200] = faint[250, 40] = 30
    faint[50:60, 50:60] = 25  # a faint smudge, well below ink level
    with pytest.raises(BlankImageError):
        canvas_to_mnist(faint)

    specks = black_on_transparent(np.zeros((CANVAS, CANVAS), np.uint8))
    specks[10, 10, 3] = specks[200, 200, 3] = specks[270, 5, 3] = 255
    with pytest.raises(BlankImageError):
        canvas_to_mnist(specks)



# --- marks too small to be a digit ------------------------------------------------


def pen_dot(diameter: int, centre=(140, 140)) -> np.ndarray:
    """One click of the pen on the canvas: a white disc on opaque black."""
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    y, x = centre
    ImageDraw.Draw(mask).ellipse([x - diameter / 2, y - diameter / 2, x + diameter / 2, y + diameter / 2], fill=255)
    return white_on_black(np.asarray(mask))


@pytest.mark.parametrize("mark", [
    pen_dot(4),                                   # a tiny dot
    pen_dot(20),                                  # one click with the default 20 px pen
    white_on_black(draw_digit("7", 100, 100, 14, 3)),  # a whole digit, 14 px on a 280 px canvas
    dark_on_white_paper(draw_digit("1", 100, 100, 18, 4)),
], ids=["dot-4px", "pen-click-20px", "seven-14px", "one-18px-on-paper"])
def test_a_mark_far_too_small_to_be_a_digit_is_refused(mark):
    with pytest.raises(TooSmallError, match="too small to read as a digit") as refused:
        canvas_to_mnist(mark)
    assert isinstance(refused.value, BlankImageError), "callers that refuse blanks refuse it too"
    height, width = refused.value.mark
    assert max(height, width) < 0.08 * CANVAS and refused.value.picture == (CANVAS, CANVAS)
    assert f"{width} x {height} pixels in a 280 x 280 picture" in str(refused.value)


def test_small_but_real_digits_and_thin_strokes_are_still_read():
    # just above the limit (8% of 280 = 22.4 px) in one direction is enough: a "1" is thin, not small
    assert canvas_to_mnist(white_on_black(draw_digit("7", 100, 100, 24, 4))).image.max() == pytest.approx(1.0)
    assert canvas_to_mnist(white_on_black(draw_digit("1", 100, 60, 120, 3))).image.max() == pytest.approx(1.0)
    wide_dash = np.zeros((CANVAS, CANVAS), np.uint8)
    wide_dash[138:142, 60:220] = 255
    assert canvas_to_mnist(wide_dash).image.max() == pytest.approx(1.0)
    # an MNIST digit at its own size is a whole picture, not a dot
    with np.load(MNIST_PATH) as data:
        assert canvas_to_mnist(data["x_test"][0]).image.max() == pytest.approx(1.0)


def test_paper_noise_and_dust_do_not_move_the_digit():
    mask = draw_digit("7", 40, 30, 200, 18)
    clean = canvas_to_mnist(dark_on_white_paper(mask))
    noisy = dark_on_white_paper(mask).astype(np.int16)
    noisy += np.random.default_rng(0).integers(-6, 7, size=noisy.shape[:2])[..., None].astype(np.int16)
    noisy[5, 5] = noisy[270, 270] = 225  # two faint specks far from the digit
    noisy[250:253, 10:13] = 40  # and a small dark speck of dust

    result = canvas_to_mnist(np.clip(noisy, 0, 255).astype(np.uint8))

    assert result.steps["cropped"].shape == clean.steps["cropped"].shape
    assert np.abs(result.image - clean.image).mean() < 0.02


# --- inputs it refuses ----------------------------------------------------------


@pytest.mark.parametrize("shape", [(280,), (10, 10, 5), (2, 10, 10, 3), (0, 10)])
def test_to_ink_rejects_non_images(shape):
    with pytest.raises(ImageError):
        to_ink(np.zeros(shape, np.uint8))


def test_to_ink_accepts_float_images():
    mask = draw_digit("0", 10, 150, 110, 9)
    assert np.allclose(to_ink(mask.astype(np.float32) / 255), mask / 255, atol=1e-6)
    assert np.allclose(to_ink(mask.astype(np.float64)), mask / 255, atol=1e-6)


def encode(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def test_load_image_bytes_reads_png_and_jpeg():
    paper = dark_on_white_paper(draw_digit("7", 40, 30, 200, 18))

    png = load_image_bytes(encode(paper, "PNG"))
    assert png.shape == (CANVAS, CANVAS, 4) and png.dtype == np.uint8
    assert np.array_equal(png[..., :3], paper) and (png[..., 3] == 255).all()
    jpeg = load_image_bytes(encode(paper, "JPEG"))
    assert jpeg.shape == (CANVAS, CANVAS, 4)
    assert np.abs(jpeg[..., :3].astype(int) - paper).mean() < 3

    direct = canvas_to_mnist(paper).image
    assert np.abs(canvas_to_mnist(jpeg).image - direct).mean() < 0.02
    transparent = load_image_bytes(encode(black_on_transparent(draw_digit("7", 40, 30, 200, 18)), "PNG"))
    assert np.abs(canvas_to_mnist(transparent).image - direct).max() < 0.02


def test_load_image_bytes_rejects_bad_input():
    with pytest.raises(ImageError, match="not an image"):
        load_image_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ImageError, match="empty"):
        load_image_bytes(b"")
    png = encode(np.zeros((64, 64), np.uint8), "PNG")
    with pytest.raises(ImageError, match="limit"):
        load_image_bytes(png, max_bytes=len(png) - 1)
    with pytest.raises(ImageError, match="per side"):
        load_image_bytes(encode(np.zeros((2, 6000), np.uint8), "PNG"))
    with pytest.raises(ImageError):
        load_image_bytes(png[: len(png) // 2])  # truncated


def test_a_20000_pixel_png_is_refused_for_its_size_before_decoding():
    png = huge_png(20000, 20000)
    assert len(png) < 5 * 2**20, "small enough to pass the upload limit: only its pixel size gives it away"
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(png))  # what PIL alone says of it
    with pytest.raises(ImageError, match=f"20000x20000 pixels; it must be at most {MAX_UPLOAD_SIDE} pixels per side"):
        load_image_bytes(png)


@pytest.mark.parametrize("fmt, options", [
    ("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("GIF", {}), ("BMP", {}),
    ("WEBP", {}), ("WEBP", {"lossless": True}),
])
def test_header_size_matches_what_pil_reads(fmt, options):
    buffer = io.BytesIO()
    Image.new("RGB", (123, 45), (250, 250, 250)).save(buffer, format=fmt, **options)
    assert header_size(buffer.getvalue()) == (123, 45)
    assert header_size(b"not an image at all") is None


def test_decompression_bomb_in_an_unparsed_header_is_refused_for_its_size(monkeypatch):
    buffer = io.BytesIO()
    Image.new("L", (100, 100)).save(buffer, format="TIFF")  # a header header_size does not read
    assert header_size(buffer.getvalue()) is None
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match="too large to open safely"):
        load_image_bytes(buffer.getvalue())


def test_a_blank_upload_decodes_and_is_then_blank_not_too_small():
    paper = load_image_bytes(encode(np.full((600, 800, 3), 240, np.uint8), "JPEG"))
    with pytest.raises(BlankImageError) as blank:
        canvas_to_mnist(paper)
    assert not isinstance(blank.value, TooSmallError)
