"""Part of section 18: does a network trained with augmentation, or with stroke-drawn copies, resist attacks better?

The same small network (cnn-fast) is trained, seeded and short, three ways that differ in one setting each
(nothing added, augmentation on, stroke-drawn copies added), for each of a few seeds; then each model's
robustness curve (core.explain.robustness_curve, FGSM and PGD) on the same test images. Seeds pair the
models: the plain and the augmented model of seed 1 start from the same weights and see the same digits.
`answer` turns the measured curves into plain sentences.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from benchmarks.common import fmt, median

PLAIN, AUGMENTED, STROKES = "plain", "augmentation", "stroke-drawn copies"
METHODS = (("fgsm", 1, "FGSM"), ("pgd", 10, "PGD, 10 steps"))
EPS = (0.0, 0.02, 0.05, 0.1, 0.2)
CLEAR = 0.01  # a median gap below one point (or seeds that disagree on its sign) is no clear difference


@dataclass(frozen=True)
class Plan:
    """How much each comparison trains and attacks; quick mode is a smoke run."""

    arch: str = "cnn-fast"
    limit: int = 20000
    epochs: int = 2
    seeds: tuple[int, ...] = (0, 1, 2)
    stroke_copies: int = 6000
    images: int = 500

    @classmethod
    def for_mode(cls, quick: bool) -> "Plan":
        return cls(limit=2000, epochs=1, seeds=(0,), stroke_copies=300, images=100) if quick else cls()

    def configs(self, seed: int) -> dict:
        from core.fit.config import TrainConfig

        base = TrainConfig.for_preset(self.arch, limit=self.limit, epochs=self.epochs, seed=seed)
        return {PLAIN: base, AUGMENTED: base.replace(augment=True),
                STROKES: base.replace(stroke_copies=self.stroke_copies)}


def measure(plan: Plan) -> dict:
    """{(variant, method): {seed: accuracy per ε}}, plus each model's training and attack seconds."""
    from benchmarks.training import measured_fit
    from core import explain
    from core.data import datasets

    mnist = datasets.load("mnist")
    images, labels = mnist.x_test[:plan.images], mnist.y_test[:plan.images]
    curves: dict = {}
    seconds: dict = {}
    for seed in plan.seeds:
        for variant, config in plan.configs(seed).items():
            start = time.perf_counter()
            run = measured_fit(config)
            seconds.setdefault((variant, "train"), []).append(time.perf_counter() - start)
            for method, steps, _ in METHODS:
                start = time.perf_counter()
                curve = explain.robustness_curve(run.model, images, labels, EPS, method, steps=steps)
                seconds.setdefault((variant, method), []).append(time.perf_counter() - start)
                curves.setdefault((variant, method), {})[seed] = curve.accuracy
    return {"curves": curves, "seconds": seconds, "plan": plan}


def _points(value: float) -> str:
    return f"{100 * value:+.1f} points"


def answer(curves: dict, eps: tuple[float, ...], variant: str, method: str, how: str) -> str:
    """One sentence: does `variant` resist `method` better than the plain model, by how much, at which ε.

    Per seed, the gap at each ε is the variant's accuracy minus the plain model's (same seed); the ε shown is
    where the median gap is largest. It counts as a difference only when it is at least a point and every seed
    agrees on its sign."""
    plain, other = curves[(PLAIN, method)], curves[(variant, method)]
    seeds = sorted(set(plain) & set(other))
    gaps = np.array([[o - p for o, p in zip(other[s], plain[s])] for s in seeds])  # seeds x ε
    attacked = [i for i, e in enumerate(eps) if e > 0]
    where = max(attacked, key=lambda i: abs(float(np.median(gaps[:, i]))))
    gap = float(np.median(gaps[:, where]))
    mine = float(np.median([other[s][where] for s in seeds]))
    theirs = float(np.median([plain[s][where] for s in seeds]))
    clean = float(np.median(gaps[:, 0]))
    agree = bool(np.all(gaps[:, where] > 0) or np.all(gaps[:, where] < 0))
    seed_words = (f"in each of {len(seeds)} seeds (gaps {_points(gaps[:, where].min())} to "
                  f"{_points(gaps[:, where].max())})" if len(seeds) > 1 else "in the one seed run")
    kept = [float(np.median([c[s][where] / c[s][0] if c[s][0] else 0.0 for s in seeds])) for c in (other, plain)]
    paired = " (the median of the seeds' gaps)" if len(seeds) > 1 else ""
    at = (f"at ε = {eps[where]:g} it keeps {mine:.1%} of the test images against {theirs:.1%} without, "
          f"{_points(gap)}{paired} (of the digits each read right unattacked, {kept[0]:.0%} against {kept[1]:.0%} "
          "are still read right)")
    clean_words = f"; unattacked, the gap is {_points(clean)}"
    if abs(gap) < CLEAR or not agree:
        split = "" if agree else f", and the seeds disagree on which is better ({_points(gaps[:, where].min())} to " \
                                 f"{_points(gaps[:, where].max())})"
        return (f"**{how}: {variant} makes no clear difference.** The largest median gap is {_points(gap)} "
                f"(at ε = {eps[where]:g}){split}{clean_words}.")
    verdict = "resists better" if gap > 0 else "resists worse"
    return f"**{how}: with {variant} the network {verdict}** {seed_words}: {at}{clean_words}."


def table(curves: dict, eps: tuple[float, ...]) -> list[str]:
    """Median accuracy per ε over the seeds, with the lowest and highest seed in brackets when there are several."""
    rows = [f"| trained with | attack | {' | '.join(f'ε = {e:g}' for e in eps)} |", "|---|---|" + "---|" * len(eps)]
    for (variant, method), by_seed in curves.items():
        how = dict((m, h) for m, _, h in METHODS)[method]
        values = np.array(list(by_seed.values()))
        spread = lambda column: f" ({column.min():.1%}-{column.max():.1%})" if len(column) > 1 else ""  # noqa: E731
        cells = [f"{float(np.median(column)):.1%}{spread(column)}" for column in values.T]
        rows.append(f"| {variant} | {how} | " + " | ".join(cells) + " |")
    return rows


def section_text(measured: dict) -> str:
    plan: Plan = measured["plan"]
    curves, seconds = measured["curves"], measured["seconds"]
    train = {variant: median(s) for (variant, what), s in seconds.items() if what == "train"}
    answers = [answer(curves, EPS, variant, method, how) for method, _, how in METHODS
               for variant in (AUGMENTED, STROKES)]
    return "\n".join([
        f"**Does training with augmentation or with stroke-drawn copies resist attacks better?** The same network "
        f"(`{plan.arch}`, {plan.epochs} epoch{'s' * (plan.epochs > 1)}, a random {plan.limit:,} of the training "
        f"digits, drawn by the seed, less 10% for validation) trained three ways, for each of {len(plan.seeds)} "
        f"seed(s) ({', '.join(map(str, plan.seeds))}): nothing added; augmentation on (`augment`, core/data/augment.py: "
        f"random rotation, zoom, slant, shift and stroke thickness); {plan.stroke_copies:,} stroke-drawn copies "
        "added (`stroke_copies`: training digits redrawn as mouse strokes, so that model also sees "
        f"{plan.stroke_copies / (0.9 * plan.limit):.0%} more images per epoch). Everything else is the preset's "
        f"own and the same. Accuracy on the first {plan.images} test images under untargeted attacks, median over "
        "the seeds (lowest and highest seed in brackets); an image counts as fooled at ε if any attack up to that "
        "ε fooled it.", "",
        *[f"- {line}" for line in answers], "",
        *table(curves, EPS), "",
        "Seconds per model (median): training (stroke copies included) "
        + ", ".join(f"{v} {fmt(s)}" for v, s in train.items()) + "; curves "
        + ", ".join(f"{h} {fmt(median([x for (v, m), s in seconds.items() if m == method for x in s]))}"
                    for method, _, h in METHODS) + "."])
