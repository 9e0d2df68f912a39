"""Training digits redrawn as mouse strokes and put through the app's own preprocessing: extra training
data that teaches a network to read canvas drawings (thick, uniform, round-capped strokes at any size)
and not only MNIST's pen strokes.

Each copy is a training digit thinned to its skeleton and re-stroked by core.data.strokes (random pen width,
size, place, slant and form), then turned back into a 28x28 input by core.data.preprocess.canvas_to_mnist,
exactly as a drawing on the Draw page is. Only training-set digits are redrawn, never validation or test.
"""
from __future__ import annotations

import numpy as np

from core.data.preprocess import canvas_to_mnist
from core.data.strokes import FORMS, redraw_as_strokes, render_form

SECONDS_PER_COPY = 0.004   # on one core of the 2-core development machine: for the "about N s" shown first
COPY_CANVAS = 280   # the Draw page's canvas: at 140 pixels copies were faster to make but read 0.2-0.3 points worse


def stroke_copies(digits: np.ndarray, labels: np.ndarray, n: int, seed: int = 0,
                  progress=None) -> tuple[np.ndarray, np.ndarray]:
    """n digits from (digits uint8 (N, 28, 28), labels) redrawn as strokes: each digit is used n // N or
    n // N + 1 times, chosen at random (a digit used twice gets two different drawings).

    Returns (x float32 (n, 28, 28, 1) in [0, 1], y); deterministic for a seed. `progress(done, n)`, if
    given, is called every 100 digits (and may raise to stop).
    """
    rng = np.random.default_rng([seed, 1])
    n = max(n, 0)
    whole, rest = divmod(n, len(digits))     # more copies than digits: each digit as evenly as can be
    picks = np.concatenate([*(rng.permutation(len(digits)) for _ in range(whole)),
                            rng.choice(len(digits), size=rest, replace=False)])
    x = np.zeros((len(picks), 28, 28, 1), np.float32)
    for i, digit in enumerate(digits[picks]):
        canvas = render_form(redraw_as_strokes(digit, rng, COPY_CANVAS), FORMS[i % len(FORMS)], rng)
        try:
            x[i, ..., 0] = canvas_to_mnist(canvas).image
        except ValueError:   # an MNIST digit with no ink to redraw (or to find again): the copy stays blank
            pass
        if progress is not None and (i + 1) % 100 == 0:
            progress(i + 1, len(picks))
    return x, np.asarray(labels)[picks]


def preparing_text(n: int) -> str:
    """What a run does before its first batch when it makes n copies, for the Train page and the command line."""
    return (f"Drawing {n:,} training digits as mouse strokes (about {max(1, round(n * SECONDS_PER_COPY)):,} s), "
            "then building the network…")
