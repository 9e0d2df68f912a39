"""What the gradients and weights of each layer were doing at one snapshot, as plain data (core.fit.layer_stats
measures them; core.store.snapshots keeps them with the snapshot and in the saved replay).

For each layer with a kernel (Dense, Conv2D): the gradient's L2 norm on a fixed batch, the weights' mean,
standard deviation and a histogram, the update-to-weight ratio of the last step, and, where a ReLU
follows, the share of its units that are dead (zero on every panel digit).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 30


@dataclass(frozen=True, eq=False)  # holds an array: compared by identity
class LayerStats:
    name: str
    count: int                     # weights in its kernel
    gradient_norm: float           # L2 norm of the kernel's gradient on the run's gradient batch (nan: not measured)
    mean: float
    std: float
    low: float                     # the histogram's range: the smallest and largest weight
    high: float
    histogram: np.ndarray          # int32 (BINS,): weights per bin, equal bins from low to high
    update_ratio: float            # |last step's change| / |weights| (nan: not known at this snapshot)
    dead: float                    # share of the ReLU units after it that are zero on every panel digit (nan: no ReLU)

    @classmethod
    def of(cls, name: str, weights: np.ndarray, gradient_norm: float = float("nan"),
           update_ratio: float = float("nan"), dead: float = float("nan"), bins: int = BINS) -> "LayerStats":
        """The figures of one kernel; the histogram spans its smallest to largest weight. Weights that are no longer
        numbers (a run that diverged) are left out of the histogram: `count - histogram.sum()` of them."""
        every = np.asarray(weights, dtype=np.float32).ravel()
        values = every[np.isfinite(every)]
        if not values.size:
            return cls(name, int(every.size), float(gradient_norm), float("nan"), float("nan"), float("nan"),
                       float("nan"), np.zeros(bins, np.int32), float(update_ratio), float(dead))
        low, high = float(values.min()), float(values.max())
        counts, _ = np.histogram(values, bins=bins, range=(low, high if high > low else low + 1e-12))
        return cls(name, int(every.size), float(gradient_norm), float(values.mean()), float(values.std()), low, high,
                   counts.astype(np.int32), float(update_ratio), float(dead))

    @property
    def broken(self) -> int:
        """Weights that are no longer numbers (infinite or NaN)."""
        return self.count - int(self.histogram.sum())

    @property
    def edges(self) -> np.ndarray:
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return np.zeros(len(self.histogram) + 1)
        return np.linspace(self.low, self.high, len(self.histogram) + 1)


NUMBERS = ("count", "gradient_norm", "mean", "std", "low", "high", "update_ratio", "dead")


def to_arrays(rows: list[tuple[LayerStats, ...] | None]) -> dict[str, np.ndarray]:
    """Snapshots' layer figures as arrays for a replay file (only snapshots that have them, all with the same
    layers): layer_names (L,), layer_at (k,) snapshot indices, layer_numbers (k, L, 8), layer_histograms
    (k, L, BINS). Empty when none has them."""
    at = [i for i, row in enumerate(rows) if row]
    if not at:
        return {}
    names = [s.name for s in rows[at[0]]]
    at = [i for i in at if [s.name for s in rows[i]] == names]
    numbers = np.array([[[getattr(s, n) for n in NUMBERS] for s in rows[i]] for i in at], np.float64)
    histograms = np.stack([np.stack([s.histogram for s in rows[i]]) for i in at]).astype(np.int32)
    return {"layer_names": np.array(names), "layer_at": np.array(at, np.int32), "layer_numbers": numbers,
            "layer_histograms": histograms}


def from_arrays(a: dict[str, np.ndarray], snapshots: int) -> list[tuple[LayerStats, ...] | None]:
    """The inverse of to_arrays: per snapshot, its layers' figures or None."""
    rows: list[tuple[LayerStats, ...] | None] = [None] * snapshots
    if "layer_at" not in a:
        return rows
    names = [str(n) for n in a["layer_names"]]
    numbers, histograms = a["layer_numbers"], a["layer_histograms"]
    if numbers.shape[:2] != (len(a["layer_at"]), len(names)) or histograms.shape[:2] != numbers.shape[:2]:
        raise ValueError("its layer figures do not match")
    for row, i in enumerate(a["layer_at"]):
        rows[int(i)] = tuple(
            LayerStats(name, int(n[0]), *(float(v) for v in n[1:6]), histograms[row, j].astype(np.int32),
                       float(n[6]), float(n[7]))
            for j, (name, n) in enumerate(zip(names, numbers[row])))
    return rows
