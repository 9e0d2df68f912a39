"""Snapshots of a run as it learns, as plain data: the panel of test images, what the network said about them
at a moment, its first-layer filters, the confusion matrix after each epoch. The user's drawing that
snapshots also predict is core.fit.probe.

TensorFlow-free and picklable: the training process takes snapshots (core.fit.watching) and sends them
like any other recorder event; the server keeps them (ProgressRecorder) and a saved model keeps a
thinned copy as `<name>.replay.npz` (Replay.to_bytes / Replay.from_bytes).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from core.store import layer_stats
from core.store.layer_stats import LayerStats
from core.store.run_events import RunEvent

REPLAY_BUDGET = 300_000   # bytes: a saved replay is thinned until its file is at most this
MAX_SAVED = 200           # snapshots kept in a saved replay at most
MAX_SAVED_FILTERS = 12    # of which this many keep their filters (an MLP's are 12 KB each); replay shows the latest
MAX_LIVE = 600            # snapshots a recorder keeps in memory (older ones thinned, epoch ends kept)


@dataclass(frozen=True, eq=False)  # compared (and hashed) by identity: it holds arrays
class Panel:
    """The fixed images one run is watched on, chosen once per run (seeded)."""

    images: np.ndarray        # uint8 (n, 28, 28), white ink on black as the network reads them
    labels: np.ndarray        # int (n,), the true classes
    hard: np.ndarray          # bool (n,), chosen as hard ones (easily confused with another class)
    class_names: tuple[str, ...]
    dataset: str
    source: str = "test"      # where the images come from
    filter_kind: str = ""     # "conv" (kernels) or "dense" (unit weights as pictures); "" if none
    confusion_source: str = ""  # "validation" or "test": where the per-epoch confusion is counted

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, eq=False)  # compared by identity: it holds arrays
class Snapshot:
    """What the network said at one moment of its run, with the weights of that moment."""

    seq: int                      # 0, 1, 2, ... in the order taken
    step: int                     # batches trained when it was taken (0: before training)
    epoch: int                    # 0-based epoch it was taken in (epochs completed, at an epoch's end)
    batch: int                    # batches trained in that epoch
    seconds: float                # training seconds since fit began
    probabilities: np.ndarray     # float16 (n, classes), one row per panel image
    filters: np.ndarray | None = None      # uint8 (k, h, w), 128 = a weight of 0, 0/255 = -/+ the largest
    confusion: np.ndarray | None = None    # int32 (classes, classes), at an epoch's end: [true][predicted]
    confusion_count: int = 0
    probe_version: int = 0                 # which drawing the probe answers are for (0: none)
    probe_image: np.ndarray | None = None  # uint8 (28, 28)
    probe: np.ndarray | None = None        # float32 (classes,): the drawing's probabilities
    layers: tuple[LayerStats, ...] | None = None  # each weighted layer's gradient and weight figures

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidences(self) -> np.ndarray:
        return self.probabilities.astype(np.float32).max(axis=1)

    def correct(self, panel: Panel) -> np.ndarray:
        return self.predictions == panel.labels

    def label(self, batches_per_epoch: int = 0) -> str:
        """'before training', 'epoch 2, batch 40' or 'end of epoch 3'."""
        if self.step == 0:
            return "before training"
        if self.confusion is not None:
            return f"end of epoch {self.epoch + 1}"
        return f"epoch {self.epoch + 1}, batch {self.batch}"


def quantise_filters(images: np.ndarray) -> np.ndarray:
    """float (k, h, w) -> uint8 with 128 at zero and the largest magnitude at 0 or 255 (one scale for all).
    A weight that is not a number (a diverged run's; its layer figures say so) is drawn as zero."""
    images = np.asarray(images, dtype=np.float32)
    finite = np.isfinite(images)
    if not finite.all():
        images = np.where(finite, images, 0.0).astype(np.float32)
    scale = float(np.abs(images).max()) or 1.0
    return np.clip(np.round(128 + 127 * images / scale), 0, 255).astype(np.uint8)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (any trailing channel of 1 dropped) -> uint8."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim and images.shape[-1] == 1:
        images = images[..., 0]
    return np.clip(np.round(images * 255), 0, 255).astype(np.uint8)


def thin(snapshots: list[Snapshot], keep: int) -> list[Snapshot]:
    """At most `keep` snapshots spread evenly over the run; the first, the last and the epoch ends come first."""
    if len(snapshots) <= keep:
        return list(snapshots)
    must = [i for i, s in enumerate(snapshots) if s.confusion is not None]
    must = sorted({0, len(snapshots) - 1, *must[-max(0, keep - 2):]})
    room = max(0, keep - len(must))
    rest = [i for i in range(len(snapshots)) if i not in set(must)]
    picked = [rest[int(round(j))] for j in np.linspace(0, len(rest) - 1, room)] if room and rest else []
    return [snapshots[i] for i in sorted(set(must) | set(picked))][:max(keep, len(must))]


# --- a run's snapshots as one file ------------------------------------------------------------------

@dataclass(frozen=True)
class Replay:
    """A run's panel and (thinned) snapshots, as saved with its model."""

    panel: Panel
    snapshots: tuple[Snapshot, ...] = field(default_factory=tuple)
    batches_per_epoch: int = 0
    events: tuple[RunEvent, ...] = ()   # what was changed while it trained (core.store.run_events)

    def to_bytes(self, budget: int = REPLAY_BUDGET, keep: int = MAX_SAVED) -> bytes:
        """A compressed .npz of at most `budget` bytes (snapshots thinned until it fits); no pickles inside."""
        keep = min(keep, len(self.snapshots))
        while True:
            data = _npz_bytes(self.panel, thin(list(self.snapshots), keep), self.batches_per_epoch, self.events)
            if len(data) <= budget or keep <= 2:
                return data
            keep = max(2, int(keep * min(0.8, budget / len(data))))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Replay":
        """Read a replay file; ValueError if it is not one."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except Exception as exc:  # zip or npy errors of a damaged file
            raise ValueError(f"not a replay file ({type(exc).__name__})") from None
        try:
            return _from_arrays(arrays)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"a damaged replay file ({type(exc).__name__}: {exc})") from None


def _npz_bytes(panel: Panel, snapshots: list[Snapshot], batches_per_epoch: int,
               events: tuple[RunEvent, ...] = ()) -> bytes:
    n = len(snapshots)
    classes = len(panel.class_names)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(1),
        "panel_images": panel.images, "panel_labels": np.asarray(panel.labels, np.int16),
        "panel_hard": np.asarray(panel.hard, bool), "class_names": np.array(panel.class_names),
        "info": np.array([panel.dataset, panel.source, panel.filter_kind, panel.confusion_source]),
        "batches_per_epoch": np.array(batches_per_epoch),
        "index": np.array([[s.seq, s.step, s.epoch, s.batch, s.confusion_count, s.probe_version]
                           for s in snapshots], np.int64).reshape(n, 6),
        "seconds": np.array([s.seconds for s in snapshots], np.float32),
        "probabilities": (np.stack([s.probabilities for s in snapshots]).astype(np.float16) if n
                          else np.zeros((0, len(panel), classes), np.float16)),
    }
    with_filters = [i for i, s in enumerate(snapshots) if s.filters is not None]
    if len(with_filters) > MAX_SAVED_FILTERS:
        with_filters = sorted({with_filters[int(round(j))]
                               for j in np.linspace(0, len(with_filters) - 1, MAX_SAVED_FILTERS)})
    if with_filters:
        arrays["filters_at"] = np.array(with_filters, np.int32)
        arrays["filters"] = np.stack([snapshots[i].filters for i in with_filters])
    with_confusion = [i for i, s in enumerate(snapshots) if s.confusion is not None]
    if with_confusion:
        arrays["confusion_at"] = np.array(with_confusion, np.int32)
        arrays["confusion"] = np.stack([snapshots[i].confusion for i in with_confusion]).astype(np.int32)
    with_probe = [i for i, s in enumerate(snapshots) if s.probe is not None and s.probe_image is not None]
    if with_probe:
        arrays["probe_at"] = np.array(with_probe, np.int32)
        arrays["probe"] = np.stack([snapshots[i].probe for i in with_probe]).astype(np.float32)
        arrays["probe_images"] = np.stack([snapshots[i].probe_image for i in with_probe])
    arrays.update(layer_stats.to_arrays([s.layers for s in snapshots]))
    if events:
        arrays["event_kinds"] = np.array([e.kind for e in events])
        arrays["event_numbers"] = np.array([[e.step, e.x, e.value] for e in events], np.float64)
        arrays["event_texts"] = np.array([e.text for e in events])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _from_arrays(a: dict[str, np.ndarray]) -> Replay:
    dataset, source, filter_kind, confusion_source = (str(x) for x in a["info"])
    panel = Panel(images=a["panel_images"].astype(np.uint8), labels=a["panel_labels"].astype(np.int64),
                  hard=a["panel_hard"].astype(bool), class_names=tuple(str(c) for c in a["class_names"]),
                  dataset=dataset, source=source, filter_kind=filter_kind, confusion_source=confusion_source)
    index, probabilities = a["index"], a["probabilities"]
    if len(index) != len(probabilities) or probabilities.shape[1:] != (len(panel), len(panel.class_names)):
        raise ValueError("its arrays do not match")
    extras: list[dict] = [{} for _ in range(len(index))]
    for name, keys in (("filters", ("filters",)), ("confusion", ("confusion",)),
                       ("probe", ("probe", "probe_images"))):
        if f"{name}_at" not in a:
            continue
        for row, i in enumerate(a[f"{name}_at"]):
            for key in keys:
                extras[int(i)][{"probe_images": "probe_image"}.get(key, key)] = a[key][row]
    layers = layer_stats.from_arrays(a, len(index))
    snapshots = tuple(
        Snapshot(seq=int(r[0]), step=int(r[1]), epoch=int(r[2]), batch=int(r[3]), seconds=float(s),
                 probabilities=p, confusion_count=int(r[4]), probe_version=int(r[5]), layers=row, **extra)
        for r, s, p, row, extra in zip(index, a["seconds"], probabilities, layers, extras))
    events = ()
    if "event_kinds" in a:
        events = tuple(RunEvent(str(kind), int(n[0]), float(n[1]), float(n[2]), str(text))
                       for kind, n, text in zip(a["event_kinds"], a["event_numbers"], a["event_texts"]))
    return Replay(panel, snapshots, int(a["batches_per_epoch"]), events)
