"""`python -m core drawings list|export|import|evaluate|finetune`: the bodies of the subcommands.

DrawingsError and FineTuneError become one-line refusals (exit 2); each action prints its results and
returns the exit status.
"""
from __future__ import annotations

import json
from pathlib import Path

from core.cli.common import Parser, UsageError
from core.drawings.database import DrawingStore
from core.drawings.values import DrawingsError, InvalidDrawingError, validate_author, validate_label


def _store() -> DrawingStore:
    return DrawingStore()


def _counts_line(counts: dict[int, int]) -> str:
    return "  ".join(f"{digit}: {n}" for digit, n in counts.items())


def list_drawings(args) -> int:
    label = None if args.label is None else validate_label(args.label)
    author = None if args.author is None else (validate_author(args.author) or "")
    store = _store()
    drawings = store.list(label, author, limit=args.limit)
    total, counts = store.count(label, author), store.counts(author)
    if args.json:
        print(json.dumps({"path": str(store.path), "total": total, "counts": counts, "drawings": [
            {"id": d.id, "label": d.label, "author": d.author, "created": d.created, "model": d.model,
             "predicted": d.predicted, "confidence": d.confidence, "canvas": d.has_canvas} for d in drawings]}))
        return 0
    print(f"{total} drawing{'s' * (total != 1)} in {store.path}")
    print(f"per digit: {_counts_line(counts)}")
    if drawings:
        print(f"{'id':>6}  label  {'author':<12} {'created':<19}  model said")
        for d in drawings:
            said = f"{d.predicted} ({100 * d.confidence:.0f}%) by {d.model}" if d.predicted is not None \
                and d.confidence is not None else "-"
            print(f"{d.id:>6}  {d.label:>5}  {(d.author or '-'):<12} {d.created:<19}  {said}")
    if total > len(drawings):
        print(f"... {total - len(drawings)} more (--limit)")
    return 0


def export_drawings(args) -> int:
    out = Path(args.out).expanduser()
    suffix = out.suffix.lower()
    if suffix not in (".zip", ".npz"):
        raise InvalidDrawingError(f"--out must end in .zip (PNGs + labels.csv) or .npz (x_test, y_test): {out.name}")
    if args.canvases and suffix != ".zip":
        raise InvalidDrawingError("--canvases only applies to a .zip export")
    store = _store()
    n = store.count()
    if suffix == ".zip":
        store.export_zip(out, canvases=args.canvases)
    else:
        store.export_npz(out)
    print(f"exported {n} drawing{'s' * (n != 1)} from {store.path} to {out} ({out.stat().st_size / 1e3:.1f} kB)")
    return 0


def import_drawings(args) -> int:
    path = Path(args.zip).expanduser()
    if not path.is_file():
        raise InvalidDrawingError(f"no such zip file: {args.zip}")
    store = _store()
    report = store.import_zip(path)
    for problem in report.problems:
        print(f"refused {problem}")
    print(f"{report.summary()} into {store.path}")
    return 0 if report.ok else 1


def _load(name: str):
    from core.store import ModelStore

    store = ModelStore()
    meta = store.read_meta(name)  # StoreError (exit 2) before anything is loaded
    if meta.dataset != "mnist":
        raise InvalidDrawingError(f"{name} reads {meta.dataset}, not digits: choose a model trained on MNIST")
    return store.load(name), meta


def evaluate_drawings(args) -> int:
    from core.drawings import evaluate_on_drawings

    store = _store()
    if store.count() == 0:
        raise DrawingsError(f"no drawings kept yet in {store.path}: keep some on the Draw page, or import a zip")
    model, meta = _load(args.model)
    result = evaluate_on_drawings(model, store)
    if args.json:
        print(json.dumps({"model": args.model, "drawings": len(result.labels), "mnist_test_accuracy":
                          meta.test_accuracy, **result.summary()}))
        return 0
    mnist = f" (MNIST test: {meta.test_accuracy:.4f})" if meta.test_accuracy is not None else ""
    print(f"model {args.model} on {len(result.labels)} drawings: accuracy {result.accuracy:.4f}{mnist}")
    print("confusion (rows: your label, columns: predicted)")
    print("     " + "".join(f"{d:>5}" for d in range(10)))
    for digit, row in enumerate(result.confusion):
        print(f"{digit:>5}" + "".join(f"{n:>5}" for n in row))
    return 0


def finetune_drawings(args) -> int:
    """A run that starts from --model and trains on MNIST plus the drawings (core.fit.finetune), in this process."""
    import logging

    from core.fit.finetune import FineTuneSettings, check, figure_lines, plan
    from core.fit.progress import ProgressRecorder
    from core.store import ModelStore, validate_name

    settings = FineTuneSettings(epochs=args.epochs, held_out=args.held_out, drawing_weight=args.weight,
                                mnist_samples=args.mnist_samples, learning_rate=args.lr, seed=args.seed).check()
    if args.name is not None:
        validate_name(args.name)
    drawings, models = _store(), ModelStore()
    trained_on, held = plan(drawings.count(), settings.held_out)  # too few drawings: before the model is read
    config = settings.config(args.model, models.read_meta(args.model), name=args.name)
    check(config, models, drawings)
    from core.fit.training import train

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices from evaluating several sets
    print(f"fine-tuning {args.model} on {trained_on} drawings x{settings.drawing_weight} and "
          f"{settings.mnist_samples:,} MNIST digits; {held} drawings held out for testing", flush=True)

    class EpochLines(ProgressRecorder):
        def epoch_ended(self, epoch, logs, learning_rate):
            super().epoch_ended(epoch, logs, learning_rate)
            print(f"epoch {epoch + 1}/{settings.epochs}  loss {logs['loss']:.4f}  acc {logs['accuracy']:.4f}",
                  flush=True)

    result = train(config, EpochLines("finetune", config), lambda: False, models, drawings=drawings)
    print("\n".join(figure_lines(result.before, result.after, "MNIST")))
    print(f"saved {result.model_name} to {models.root} ({result.train_seconds:.1f} s)")
    return 0


ACTIONS = {"list": list_drawings, "export": export_drawings, "import": import_drawings,
           "evaluate": evaluate_drawings, "finetune": finetune_drawings}


def add_parser(sub) -> None:
    drawings = sub.add_parser("drawings", help="your kept drawings ($DIGIT_STUDIO_DRAWINGS): list, export, "
                                               "import, evaluate a model, fine-tune")
    actions = drawings.add_subparsers(dest="action", required=True, parser_class=Parser)
    listing = actions.add_parser("list", help="counts per digit and the newest drawings")
    listing.add_argument("--label", help="only this digit")
    listing.add_argument("--author", help="only drawings by this name ('' for those kept without one)")
    listing.add_argument("--limit", type=int, default=20, help="drawings to show (default 20)")
    listing.add_argument("--json", action="store_true")
    dump = actions.add_parser("export", help="write a .zip (28x28 PNGs + labels.csv) or .npz (x_test, y_test)")
    dump.add_argument("--out", required=True, help="file ending in .zip or .npz")
    dump.add_argument("--canvases", action="store_true", help="also put the original canvases in the zip")
    load = actions.add_parser("import", help="keep the drawings of a zip laid out as export writes it")
    load.add_argument("zip")
    score = actions.add_parser("evaluate", help="a model's accuracy and confusion matrix on the drawings")
    score.add_argument("--model", default="default")
    score.add_argument("--json", action="store_true")
    tune = actions.add_parser("finetune", help="train a model further on MNIST plus the drawings; saves a new one")
    tune.add_argument("--model", default="default")
    tune.add_argument("--epochs", type=int, default=3)
    tune.add_argument("--held-out", type=float, default=0.25, help="share of the drawings kept for testing")
    tune.add_argument("--weight", type=int, default=5, help="times each drawing is shown per epoch")
    tune.add_argument("--mnist-samples", type=int, default=10_000, help="MNIST training digits mixed in")
    tune.add_argument("--lr", type=float, default=3e-4)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--name", help="the new model's name (default <model>-tuned)")


def run(args) -> int:
    from core.drawings import DrawingsError
    from core.fit.finetune import FineTuneError

    try:
        return ACTIONS[args.action](args)
    except (DrawingsError, FineTuneError) as exc:  # bad values, too few drawings, a damaged database file
        raise UsageError(str(exc)) from None
