"""The users' labelled drawings: kept in SQLite, tested on, exported and imported, used for fine-tuning.

One file, `$DIGIT_STUDIO_DRAWINGS` or else `drawings.sqlite3` beside the saved models
(core.store.ModelStore().root), in WAL mode with a busy timeout: many visitors (threads or
processes) keep drawings at once without losing one, each write one short transaction.
synchronous=NORMAL: a committed drawing survives its process being killed (kill -9 loses at
most the drawing being written and never corrupts the file); only an OS crash or power cut
can take back the last few commits, and never corrupts either. FULL would fsync on every
kept drawing to cover that too; benchmarks/drawings.py measures both.

    store = DrawingStore()                      # touches nothing until first used
    store.add(7, prepared.image, canvas_rgba, author="ada", model="default", predicted=1, confidence=0.62)
    x, y = store.arrays()                       # uint8 (N, 28, 28), uint8 (N,): MNIST's layout

Never imports streamlit or TensorFlow. Every failure is a DrawingsError with a message to show as it is.
"""
from __future__ import annotations

from core.drawings.database import APPLICATION_ID, FILE_NAME, DrawingStore, default_path
from core.drawings.files import ImportProblem, ImportReport
from core.drawings.values import (
    DRAWINGS_ENV,
    DamagedDatabaseError,
    Drawing,
    DrawingsError,
    InvalidDrawingError,
    validate_author,
    validate_label,
)

__all__ = ["APPLICATION_ID", "DRAWINGS_ENV", "FILE_NAME", "DamagedDatabaseError", "Drawing", "DrawingStore",
           "DrawingsError", "ImportProblem", "ImportReport", "InvalidDrawingError", "default_path",
           "evaluate_on_drawings", "validate_author", "validate_label"]


def evaluate_on_drawings(model, store: DrawingStore, *, label=None, author=None):
    """A model's core.nets.evaluation.Evaluation on the kept drawings (row i = the i-th of store.arrays(), id order).

    For the pictures behind each row (the Mistakes page), take x, y, ids = store.arrays(ids=True) and call
    core.nets.evaluation.evaluate(model, core.data.datasets.normalise(x), y) on those very arrays.
    """
    from core.data.datasets import normalise
    from core.nets.evaluation import evaluate

    x, y = store.arrays(label, author)
    if not len(y):
        raise DrawingsError(f"No drawings to test on in {store.path}: keep some on the Draw page, or import a zip.")
    return evaluate(model, normalise(x), y)
