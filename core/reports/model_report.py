"""One model's report: settings, curves, confusion matrix, a sample of its mistakes and its replay's frames, in
one self-contained HTML file (`python -m core report NAME --out run.html`, and a download on Models and Compare).

The figures are the model's own metadata (the same accuracy the app lists); the mistakes come from testing the
model once more on its dataset's test set, the frames from its saved replay, where it has one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.data import datasets
from core.reports import page, pictures
from core.sweeps.compare import flat_settings, value_text

if TYPE_CHECKING:
    from core.store import ModelMeta, ModelStore

MISTAKES = 24
FRAMES = 6
FRAME_IMAGES = 16
RIGHT_RGB, WRONG_RGB = (0, 158, 115), (213, 94, 0)


def model_report(store: "ModelStore", name: str, mistakes: int = MISTAKES, evaluation=None) -> str:
    """The HTML of `name`'s report; StoreError if the model cannot be read. `evaluation` (its test-set
    Evaluation) saves testing it again where the caller has it."""
    meta = store.read_meta(name)
    spec = datasets.get(meta.dataset)
    body = [f"<h1>{page.escape(name)}</h1>", f"<p class=\"meta\">{page.escape(_about(meta, spec.title))}</p>"]
    if meta.test_accuracy is not None:
        body.append(f"<p><strong>Test accuracy {meta.test_accuracy:.2%}</strong> on the {page.escape(spec.title)} "
                    f"test set ({spec.test_size:,} images).</p>")
    body += sweep_section(meta)
    body += ["<h2>Settings</h2>", page.table(["setting", "value"], [(k.replace("_", " "), value_text(v))
                                                                    for k, v in flat_settings(meta.config).items()])]
    if meta.history:
        body += ["<h2>Curves</h2>", page.figure(pictures.uri(pictures.history_png(meta.history, name)),
                                                "loss and accuracy per epoch")]
    if meta.test_metrics and meta.test_metrics.confusion:
        body += ["<h2>Confusion matrix</h2>", "<p>Rows: the true class. Columns: what the model said. "
                 "Off the diagonal: mistakes.</p>", page.confusion(meta.test_metrics.confusion, spec.class_names)]
    if mistakes:
        body += mistakes_section(store, name, spec, mistakes, evaluation)
    body += replay_section(store, name)
    return page.document(f"{name}: Digit Studio run report", body)


def _about(meta: "ModelMeta", dataset_title: str) -> str:
    parts = [meta.arch, dataset_title]
    if meta.parameters:
        parts.append(f"{meta.parameters:,} parameters")
    if meta.train_seconds is not None:
        parts.append(f"{meta.train_seconds:.1f} s of training")
    if meta.author:
        parts.append(f"trained by {meta.author}")
    if meta.created:
        parts.append(meta.created)
    if meta.stopped_early:
        parts.append("stopped before its last epoch")
    return " · ".join(parts)


def sweep_section(meta: "ModelMeta") -> list[str]:
    mark = meta.extra.get("sweep")
    if not isinstance(mark, dict):
        return []
    tried = "; ".join(f"{k.replace('_', ' ')}: {', '.join(value_text(v) for v in values)}"
                      for k, values in (mark.get("values") or {}).items())
    own = ", ".join(f"{k.replace('_', ' ')} {value_text(v)}" for k, v in (mark.get("params") or {}).items())
    text = [f"<p>Run {page.escape(mark.get('run'))} of sweep {page.escape(mark.get('id'))} "
            f"({page.escape(mark.get('search'))} search over {page.escape(tried)}): this run tried "
            f"{page.escape(own)}.</p>"]
    if mark.get("pruned"):
        text.append(f"<p class=\"pruned\">{page.escape(mark.get('pruned_reason') or 'Pruned.')}</p>")
    return text


def mistakes_section(store, name: str, spec, count: int, evaluation=None) -> list[str]:
    """The model's most confident mistakes on the test set, each with what it said."""
    dataset = datasets.load(spec.name)
    if evaluation is None:
        from core.nets.evaluation import evaluate

        x_test, y_test = dataset.test_arrays()
        evaluation = evaluate(store.load(name), x_test, y_test)
    wrong = evaluation.mistakes()
    if not wrong:
        return ["<h2>Mistakes</h2>", "<p>None: every test image was read right.</p>"]
    cells = []
    for mistake in wrong[:count]:
        image = pictures.image_uri(dataset.x_test[mistake.index], scale=2)
        cells.append(f"<div class=\"digit\"><img src=\"{image}\" alt=\"test image {mistake.index}\" width=\"56\">"
                     f"{page.escape(spec.class_names[mistake.true])} → <span class=\"wrong\">"
                     f"{page.escape(spec.class_names[mistake.predicted])}</span> {mistake.confidence:.0%}</div>")
    return ["<h2>Mistakes</h2>", f"<p>The {min(count, len(wrong))} it was surest of among its {len(wrong):,} "
            "mistakes: the true class → what it said, and how sure it was.</p>",
            f"<div class=\"digits\">{''.join(cells)}</div>"]


def replay_section(store, name: str) -> list[str]:
    """A few frames of the run's replay: the watched test images, each framed green (right) or orange (wrong)."""
    try:
        replay = store.load_replay(name)
    except Exception:  # a damaged replay: the report goes without its frames
        return []
    if replay is None or not replay.snapshots:
        return []
    snapshots = list(replay.snapshots)
    picks = sorted({round(i) for i in np.linspace(0, len(snapshots) - 1, min(FRAMES, len(snapshots)))})
    panel = replay.panel
    shown = min(FRAME_IMAGES, len(panel))
    body = ["<h2>As it learned</h2>", f"<p>The first {shown} of the {len(panel)} test images it was watched on "
            "while it trained: green frame right, orange frame wrong.</p>"]
    for i in picks:
        snapshot = snapshots[i]
        right = snapshot.correct(panel)
        picture = pictures.image_uri(frame_picture(panel.images[:shown], right[:shown]), scale=2)
        body.append(f"<p>{page.escape(snapshot.label(replay.batches_per_epoch))}: {int(right.sum())} of the "
                    f"{len(right)} watched images right<br><img src=\"{picture}\" alt=\"replay frame {i}\"></p>")
    return body


def frame_picture(images: np.ndarray, right: np.ndarray, per_row: int = 8) -> np.ndarray:
    """Digits in a grid, each in a 2-pixel frame coloured by right or wrong (RGB uint8)."""
    n = len(images)
    rows = -(-n // per_row)
    cell = 32
    out = np.full((rows * cell, per_row * cell, 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, per_row)
        y, x = r * cell, c * cell
        out[y:y + cell, x:x + cell] = RIGHT_RGB if right[k] else WRONG_RGB
        out[y + 2:y + 30, x + 2:x + 30] = np.repeat(images[k][..., None], 3, axis=2)
    return out


def report_name(name: str) -> str:
    return f"{name}-report.html"

