"""Rebuild data/font-digits.npz: digits written in Debian's handwriting fonts, drawn on the Draw page's canvas.

    make font-digits        (installs the font packages as root, then runs this script)
    PYTHONPATH=. python data/make_font_digits.py [--packages]   (--packages: only list the Debian packages)

Each digit of each font is drawn as a user would on the 280-pixel canvas: at a random size (30-90% of the
canvas tall), place and small tilt, its strokes at least as wide as the canvas's thinnest pen (8 px) and in half
the drawings as wide as a pen of 8-28 px, in one of the three forms a canvas or an
upload produces (core.data.strokes.FORMS), and then goes through the app's own canvas_to_mnist. The set is a
test set: nothing trains on it. Deterministic for the fonts' versions (listed in data/README.md).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from core.data.font_digits import FONT_DIGITS_PATH
from core.data.preprocess import canvas_to_mnist
from core.data.strokes import FORMS, render_form, thin

SEED = 2023
CANVAS = 280
COPIES = 5                    # drawings of each digit in each font
HEIGHT_FRACTIONS = (0.3, 0.9)
MAX_TILT_DEGREES = 10.0
MIN_PEN = 8.0                 # the Draw page's thinnest pen, in pixels of the 280-pixel canvas
PEN_WIDTHS = (8.0, 28.0)      # half the drawings: a pen from this range where the font's strokes are thinner
THIN_PERCENTILE = 20          # a pen on the canvas draws every part of a digit equally wide: no hairlines
GLYPH_SIZE = 200              # font size at which a glyph's height is measured
TRUETYPE, OPENTYPE = Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype")

# (Debian package, font file): handwriting faces whose digits a person could draw with a pen. Left out:
# outlined or hatched faces (fonts-femkeklaver, fonts-cabinsketch) that no pen on a canvas makes.
FONTS = (
    ("fonts-breip", TRUETYPE / "breip/Breip.ttf"),
    ("fonts-dkg-handwriting", TRUETYPE / "fifthhorseman/dkg.ttf"),
    ("fonts-dkg-handwriting", TRUETYPE / "fifthhorseman/dkgBd.ttf"),
    ("fonts-dkg-handwriting", TRUETYPE / "fifthhorseman/dkgIt.ttf"),
    *(("fonts-bwht", OPENTYPE / f"bwht/BecauseWe{name}-Regular.otf")
      for name in ("Build", "Connect", "Create", "Learn", "Mentor", "Organize")),
    ("fonts-humor-sans", TRUETYPE / "humor-sans/Humor-Sans.ttf"),
    ("fonts-comic-neue", OPENTYPE / "comic-neue/ComicNeue-Regular.otf"),
    ("fonts-comic-neue", OPENTYPE / "comic-neue/ComicNeue-Italic.otf"),
    ("fonts-dancingscript", OPENTYPE / "dancingscript/DancingScript-Regular.otf"),
    ("fonts-kaushanscript", OPENTYPE / "kaushanscript/KaushanScript-Regular.otf"),
    ("fonts-klee", TRUETYPE / "klee/KleeOne-Regular.ttf"),
    ("fonts-kristi", TRUETYPE / "kristi/Kristi.ttf"),
    ("fonts-rufscript", TRUETYPE / "rufscript/Rufscript010.ttf"),
    ("fonts-tomsontalks", TRUETYPE / "tomsontalks/TomsonTalks.ttf"),
    ("fonts-yusei-magic", TRUETYPE / "yusei-magic/YuseiMagic-Regular.ttf"),
    ("fonts-sjfonts", TRUETYPE / "sjfonts/Delphine.ttf"),
    ("fonts-sjfonts", TRUETYPE / "sjfonts/SteveHand.ttf"),
    ("fonts-ecolier-court", TRUETYPE / "ecolier-court/Ecolier-court.ttf"),
    ("fonts-leckerli-one", TRUETYPE / "leckerli-one/LeckerliOne-Regular.ttf"),
)
PACKAGES = tuple(dict.fromkeys(package for package, _ in FONTS))


def glyph_ink(font: ImageFont.FreeTypeFont, digit: int, pen: int = 0) -> np.ndarray:
    """One digit rasterised white on black (uint8), cropped to its ink, widened by `pen` pixels of outline."""
    text = str(digit)
    left, top, right, bottom = font.getbbox(text, stroke_width=pen)
    image = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, font=font, fill=255, stroke_width=pen, stroke_fill=255)
    return np.asarray(image)


def thinnest_strokes(glyph: np.ndarray) -> float:
    """The width of a glyph's thinner strokes in pixels: twice the distance from its skeleton to the paper, at
    the skeleton's 20th percentile (a calligraphic font's hairlines, not its broad downstrokes)."""
    mask = glyph >= 128
    inside = ndimage.distance_transform_edt(mask)
    return float(2 * np.percentile(inside[thin(mask)], THIN_PERCENTILE)) if mask.any() else 0.0


def drawn_glyph(path: Path, digit: int, rng: np.random.Generator, thicker: bool) -> np.ndarray:
    """The digit at a random height on the canvas, its thinner strokes at least the canvas's thinnest pen wide, and
    (when `thicker`) as wide as a random pen from the canvas's usual range if the font's own are thinner."""
    reference = ImageFont.truetype(str(path), GLYPH_SIZE)
    height = rng.uniform(*HEIGHT_FRACTIONS) * CANVAS
    font = ImageFont.truetype(str(path), max(8, round(GLYPH_SIZE * height / glyph_ink(reference, digit).shape[0])))
    own = thinnest_strokes(glyph_ink(font, digit))
    wanted = max(MIN_PEN, rng.uniform(*PEN_WIDTHS) if thicker else 0.0)
    return glyph_ink(font, digit, pen=max(0, round((wanted - own) / 2)))


def on_canvas(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The glyph tilted and placed at random wholly inside a CANVAS x CANVAS ink map in [0, 1]."""
    tilted = Image.fromarray(glyph).rotate(rng.uniform(-MAX_TILT_DEGREES, MAX_TILT_DEGREES),
                                           Image.Resampling.BICUBIC, expand=True)
    tilted = tilted.crop(tilted.getbbox())
    if max(tilted.size) > CANVAS - 8:
        scale = (CANVAS - 8) / max(tilted.size)
        tilted = tilted.resize((max(1, round(tilted.width * scale)), max(1, round(tilted.height * scale))),
                               Image.Resampling.LANCZOS)
    ink = np.zeros((CANVAS, CANVAS), np.float32)
    top = int(rng.integers(4, CANVAS - 4 - tilted.height + 1))
    left = int(rng.integers(4, CANVAS - 4 - tilted.width + 1))
    ink[top : top + tilted.height, left : left + tilted.width] = np.asarray(tilted, np.float32) / 255
    return ink


def font_digits(fonts=FONTS, copies: int = COPIES, seed: int = SEED) -> dict[str, np.ndarray]:
    """Every digit of every font drawn `copies` times and preprocessed: the arrays of font-digits.npz."""
    rng = np.random.default_rng(seed)
    images, labels, names, forms = [], [], [], []
    for _, path in fonts:
        for digit in range(10):
            for copy in range(copies):
                form = FORMS[(digit + copy) % len(FORMS)]
                ink = on_canvas(drawn_glyph(path, digit, rng, thicker=copy % 2 == 1), rng)
                images.append(np.rint(canvas_to_mnist(render_form(ink, form, rng)).image * 255).astype(np.uint8))
                labels.append(digit)
                names.append(path.stem)
                forms.append(form)
    return {"x": np.stack(images), "y": np.asarray(labels, np.uint8), "font": np.asarray(names),
            "form": np.asarray(forms)}


def main(argv: list[str]) -> int:
    if argv == ["--packages"]:  # for the Makefile: the Debian packages to install
        print(" ".join(PACKAGES))
        return 0
    missing = [f"{path} ({package})" for package, path in FONTS if not path.exists()]
    if missing:
        print("missing fonts (make font-digits installs them as root):\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    arrays = font_digits()
    np.savez_compressed(FONT_DIGITS_PATH, **arrays)
    print(FONT_DIGITS_PATH, hashlib.sha256(FONT_DIGITS_PATH.read_bytes()).hexdigest(),
          {key: value.shape for key, value in arrays.items()}, f"{len(FONTS)} fonts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
