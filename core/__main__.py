"""Command line: `python -m core archs | train | evaluate | predict | models | export | drawings`.

The same functions the pages call; bad arguments print one line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UsageError(Exception):
    """Bad arguments: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _json_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r}") from None


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig setting, from the settings table (core/config.py SETTINGS)."""
    from core.config import SETTINGS

    for name, setting in SETTINGS.items():
        flag = "--" + (setting.flag or name.replace("_", "-"))
        text = (setting.help or setting.label).replace("%", "%%")  # argparse formats help with %
        if setting.kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif setting.choices:
            parser.add_argument(flag, dest=name, help=f"{text} ({', '.join(setting.choices)})")
        else:
            parser.add_argument(flag, dest=name, type=setting.kind, help=text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Digit Studio: train and use MNIST digit networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("archs", help="list architectures with parameter counts and default settings")
    train = sub.add_parser("train", help="train a model and save it to the store")
    train.add_argument("--arch", help="the architecture (see archs); with --start-from, the stored model's own")
    _add_setting_flags(train)
    train.add_argument("--options", type=_json_value,
                       help='JSON options for custom-mlp/custom-cnn, e.g. \'{"hidden": [256, 128]}\'')
    train.add_argument("--executor", choices=["thread", "process", "ray"],
                       help="where it trains: this process (default, or $DIGIT_STUDIO_EXECUTOR), "
                            "a worker process, or a Ray cluster ($RAY_ADDRESS, else a local one)")
    evaluate = sub.add_parser("evaluate", help="test-set accuracy, per-class figures and confusion matrix")
    evaluate.add_argument("--model", default="default")
    evaluate.add_argument("--json", action="store_true")
    predict = sub.add_parser("predict", help="predict the digit in image files (one JSON line each)")
    predict.add_argument("--model", default="default")
    predict.add_argument("images", nargs="+")
    sub.add_parser("models", help="list saved models")
    from core.export import FORMATS  # no TensorFlow import

    export = sub.add_parser("export", help="export a saved model as keras, litert, onnx or saved-model")
    export.add_argument("name", help="a saved model's name, e.g. default")
    export.add_argument("--format", required=True, choices=list(FORMATS))
    export.add_argument("--out", required=True, help="file to write (a new folder for saved-model)")
    drawings = sub.add_parser("drawings", help="your kept drawings ($DIGIT_STUDIO_DRAWINGS): list, export, "
                                               "import, evaluate a model, fine-tune")
    actions = drawings.add_subparsers(dest="action", required=True, parser_class=_Parser)
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
    return parser


def cmd_archs(args) -> int:
    from core.config import TrainConfig
    from core.presets import PRESETS

    print(f"{'architecture':<12} {'params':>9}  {'optimizer':<8} {'lr':>7} {'batch':>5} {'epochs':>6}  source")
    for preset in PRESETS.values():
        c = TrainConfig.for_preset(preset.name)
        print(f"{preset.name:<12} {preset.parameters:>9,}  {c.optimizer:<8} "
              f"{c.learning_rate:>7g} {c.batch_size:>5} {c.epochs:>6}  {preset.source}")
    return 0


def cmd_train(args) -> int:
    from core.config import SETTINGS, TrainConfig
    from core.store import ModelStore

    from core import finetune

    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    store = ModelStore()
    store.list()  # a store path that is a file or unreadable is reported before training starts
    if args.start_from is not None:  # the stored model's architecture, options and dataset; fine-tune defaults
        base = store.read_meta(args.start_from)
        extra = {"arch": args.arch} if args.arch else {}
        if args.options is not None:
            extra["options"] = args.options
        config = finetune.config_for(args.start_from, base, **{"drawings_weight": 0, **extra, **given})
    elif args.arch is None:
        raise UsageError("the following arguments are required: --arch (or --start-from)")
    else:
        config = TrainConfig.for_preset(args.arch, options=args.options, **given)
    if config.name and store.exists(config.name):
        raise UsageError(f"a model named {config.name!r} already exists in {store.root}")
    try:
        finetune.check(config, store)  # a mismatched base model, too few drawings: before the run is queued
    except finetune.FineTuneError as exc:
        raise UsageError(str(exc)) from None
    from core.executors import executor_from_env, job_factory
    from core.jobs import JobRegistry, JobState

    # in this process by default: the command line is a process of its own, so a worker would only add its start-up
    job = JobRegistry(1, store, job_factory(args.executor or executor_from_env("thread"))).submit(config)
    if config.stroke_copies:
        from core.stroke_copies import preparing_text

        print(preparing_text(config.stroke_copies).replace("…", " ..."), flush=True)
    printed = 0
    try:
        while not job.wait(timeout=0.5):
            printed = _print_epochs(job.progress(), printed)
    except KeyboardInterrupt:
        return _interrupted(job)
    progress = job.progress()
    _print_epochs(progress, printed)
    if progress.state == JobState.FAILED:
        print(f"training failed: {progress.error}", file=sys.stderr)
        return 1
    result = progress.result
    if result is None:
        print("stopped before the first batch; nothing saved")
        return 0
    print(f"saved {result.model_name} to {store.root}: test accuracy {result.test_accuracy:.4f}, "
          f"{result.train_seconds:.1f} s")
    if result.before and result.after:
        from core.datasets import get

        print("\n".join(finetune.figure_lines(result.before, result.after, get(config.dataset).title)))
    return 0


def _interrupted(job) -> int:
    """Ctrl-C: stop after the current batch and save what was learned; a second Ctrl-C gives up at once."""
    job.stop()
    progress = None
    try:
        job.wait(timeout=120)
        progress = job.progress()
    except KeyboardInterrupt:
        pass
    result = progress.result if progress else None
    if result is None:
        why = f" ({progress.error})" if progress and progress.error else ""
        print(f"stopped; nothing saved{why}", file=sys.stderr)
    else:
        print(f"stopped; saved {result.model_name} (test accuracy {result.test_accuracy:.4f})", file=sys.stderr)
    return 130


def _print_epochs(progress, printed: int) -> int:
    for entry in progress.epoch_log[printed:]:
        val = f"  val_loss {entry['val_loss']:.4f}  val_acc {entry['val_accuracy']:.4f}" if "val_loss" in entry else ""
        print(f"epoch {entry['epoch']}/{progress.epochs}  loss {entry['loss']:.4f}  acc {entry['accuracy']:.4f}"
              f"{val}  lr {entry['learning_rate']:.2g}  {entry['elapsed']:.1f} s", flush=True)
    return len(progress.epoch_log)


def _load(name: str):
    from core.store import ModelStore, StoreError

    try:
        return ModelStore().load(name)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def cmd_evaluate(args) -> int:
    from core import datasets
    from core.evaluation import evaluate
    from core.store import ModelStore

    model = _load(args.model)
    dataset = datasets.load(ModelStore().read_meta(args.model).dataset)
    result = evaluate(model, *dataset.test_arrays())
    if args.json:
        print(json.dumps({"model": args.model, "dataset": dataset.spec.name, **result.summary()}))
        return 0
    print(f"model {args.model}: test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
    names = dataset.spec.class_names
    width = max(5, *map(len, names))
    print(f"{'class':<{width}}  precision  recall")
    for label, p, r in zip(names, result.precision, result.recall):
        print(f"{label:<{width}}  {p:>9.4f}  {r:>6.4f}")
    print(f"confusion on {dataset.spec.title} (rows: true class, columns: predicted, in class order)")
    print(" " * width + "".join(f"{d:>6}" for d in range(len(names))))
    for label, row in zip(names, result.confusion):
        print(f"{label:<{width}}" + "".join(f"{n:>6}" for n in row))
    return 0


def cmd_predict(args) -> int:
    from core.predict import predict_drawing
    from core.preprocess import BlankImageError, ImageError, load_image_bytes

    missing = [f for f in args.images if not Path(f).is_file()]
    if missing:
        raise UsageError(f"no such image file: {missing[0]}")
    model = _load(args.model)
    failed = False
    for file in args.images:
        try:
            prediction, _ = predict_drawing(model, load_image_bytes(Path(file).read_bytes()))
            print(json.dumps({"file": file, **prediction.to_dict()}))
        except (BlankImageError, ImageError) as exc:
            failed = True
            print(json.dumps({"file": file, "error": str(exc)}))
    return 1 if failed else 0


def cmd_models(args) -> int:
    from core.store import ModelStore

    store = ModelStore()
    print(f"models in {store.root}:")
    for info in store.list():
        if info.error:
            print(f"  {info.name:<28} UNREADABLE: {info.error}")
            continue
        meta = info.meta
        acc = f"{meta.test_accuracy:.4f}" if meta.test_accuracy is not None else "-"
        seconds = f"{meta.train_seconds:>7.1f} s" if meta.train_seconds is not None else "      - s"
        params = f"{meta.parameters:>9,}" if meta.parameters is not None else "        -"
        print(f"  {info.name:<28} {meta.arch:<11} {meta.dataset:<13} test acc {acc:<7} "
              f"{params} params  {seconds}  {meta.created}")
    return 0


def cmd_export(args) -> int:
    import time

    from core.export import FORMATS, ExportError, check_destination, export_model, native_stderr_silenced

    try:
        check_destination(args.format, args.out)  # before loading anything: a bad path costs nothing
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    start = time.perf_counter()
    with native_stderr_silenced():  # TensorFlow's and the converters' C++ log lines
        model = _load(args.name)
        try:
            out = export_model(model, args.format, args.out)
        except ExportError as exc:
            failure = str(exc)
        else:
            failure = None
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.is_dir() else out.stat().st_size
    print(f"exported {args.name} as {FORMATS[args.format].label} to {out} "
          f"({size / 1e6:.2f} MB, {time.perf_counter() - start:.1f} s)")
    return 0


def cmd_drawings(args) -> int:
    from core.drawings import DrawingsError
    from core.drawings.commands import ACTIONS
    from core.finetune import FineTuneError

    try:
        return ACTIONS[args.action](args)
    except (DrawingsError, FineTuneError) as exc:  # bad values, too few drawings, a damaged database file
        raise UsageError(str(exc)) from None


COMMANDS = {"archs": cmd_archs, "train": cmd_train, "evaluate": cmd_evaluate,
            "predict": cmd_predict, "models": cmd_models, "export": cmd_export, "drawings": cmd_drawings}


def main(argv: list[str] | None = None) -> int:
    from core.config import ConfigError
    from core.datasets import DatasetError
    from core.quiet import filter_native_logs
    from core.store import StoreError

    restore = filter_native_logs()
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, StoreError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        restore()


if __name__ == "__main__":
    import signal

    # Ctrl-C raises KeyboardInterrupt (and stops a run cleanly) even when started from a shell
    # that left SIGINT ignored, as a background job of a non-interactive shell does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
