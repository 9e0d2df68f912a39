"""Plain hints from a snapshot's layer figures (core.store.layer_stats): when the updates leave their usual
size, or ReLU units die. The usual size of an update is about a thousandth of the weights (Karpathy,
"CS231n: babysitting the learning process"); a ratio ten times off either way is worth a word."""
from __future__ import annotations

import math
from collections.abc import Sequence

from core.store.layer_stats import LayerStats

USUAL_RATIO = 1e-3
RATIO_FACTOR = 10.0      # a hint once the ratio is this many times above or below the usual
DEAD_SHARE = 0.5         # a hint once this share of a layer's units is dead


def hints(layers: Sequence[LayerStats] | None) -> list[str]:
    """At most one hint about the update size (the layer furthest off) and one per layer with many dead units."""
    found: list[str] = []
    broken = [s for s in layers or () if s.broken]
    if broken:
        worst = max(broken, key=lambda s: s.broken / max(1, s.count))
        found.append(f"{worst.broken:,} of the {worst.count:,} weights of layer {worst.name} are no longer numbers "
                     "(they grew past infinity): the run has diverged. Lower the learning rate and start again.")
        return found
    ratios = [(s.update_ratio, s.name) for s in layers or () if math.isfinite(s.update_ratio) and s.update_ratio > 0]
    if ratios:
        ratio, name = max(ratios, key=lambda r: abs(math.log10(r[0] / USUAL_RATIO)))
        times = ratio / USUAL_RATIO
        if times >= RATIO_FACTOR:
            found.append(f"The updates are {times:.0f}x larger than usual (layer {name}: each step moves its weights "
                         f"by {ratio:.1%} of their size): the learning rate may be too high.")
        elif times <= 1 / RATIO_FACTOR:
            found.append(f"The updates are {1 / times:.0f}x smaller than usual (layer {name}: {ratio:.1e} of its "
                         "weights' size per step): the learning rate may be too low, and learning slow.")
    for s in layers or ():
        if math.isfinite(s.dead) and s.dead >= DEAD_SHARE:
            found.append(f"{s.dead:.0%} of the ReLU units after layer {s.name} are dead: zero on every panel digit, "
                         "so they no longer learn. A learning rate too high often kills them.")
    return found
