"""Command line: `python -m core archs | train | evaluate | predict | models`.

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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Digit Studio: train and use MNIST digit networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("archs", help="list architectures with parameter counts and default settings")
    train = sub.add_parser("train", help="train a model and save it to the store")
    train.add_argument("--arch", required=True)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer")
    train.add_argument("--schedule", help="constant or one-cycle")
    train.add_argument("--limit", type=int, help="use at most this many training samples")
    train.add_argument("--validation-split", type=float)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--early-stopping", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--reduce-lr", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--options", type=json.loads, help='JSON options for custom-mlp/custom-cnn, e.g. \'{"hidden": [256, 128]}\'')
    train.add_argument("--seed", type=int)
    train.add_argument("--name")
    evaluate = sub.add_parser("evaluate", help="test-set accuracy, per-class figures and confusion matrix")
    evaluate.add_argument("--model", default="default")
    evaluate.add_argument("--json", action="store_true")
    predict = sub.add_parser("predict", help="predict the digit in image files (one JSON line each)")
    predict.add_argument("--model", default="default")
    predict.add_argument("images", nargs="+")
    sub.add_parser("models", help="list saved models")
    return parser


def cmd_archs(args) -> int:
    from core.models import PRESETS, parameter_count

    print(f"{'architecture':<12} {'params':>9}  {'optimizer':<8} {'lr':>7} {'batch':>5} {'epochs':>6}  source")
    for preset in PRESETS.values():
        print(f"{preset.name:<12} {parameter_count(preset.name):>9,}  {preset.optimizer:<8} "
              f"{preset.learning_rate:>7g} {preset.batch_size:>5} {preset.epochs:>6}  {preset.source}")
    return 0


def cmd_train(args) -> int:
    from core.config import TrainConfig
    from core.store import ModelStore
    from core.training import JobRegistry, JobState

    config = TrainConfig.for_preset(
        args.arch, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        optimizer=args.optimizer, schedule=args.schedule, limit=args.limit, validation_split=args.validation_split,
        augment=args.augment, early_stopping=args.early_stopping, reduce_lr=args.reduce_lr,
        options=args.options, seed=args.seed, name=args.name)
    store = ModelStore()
    if config.name and store.exists(config.name):
        raise UsageError(f"a model named {config.name!r} already exists in {store.root}")
    job = JobRegistry(1, store).submit(config)
    printed = 0
    while not job.wait(timeout=0.5):
        printed = _print_epochs(job.progress(), printed)
    progress = job.progress()
    _print_epochs(progress, printed)
    if progress.state == JobState.FAILED:
        print(f"training failed: {progress.error}", file=sys.stderr)
        return 1
    result = progress.result
    print(f"saved {result.model_name} to {store.root}: test accuracy {result.test_accuracy:.4f}, "
          f"{result.train_seconds:.1f} s")
    return 0


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
    from core.data import load_mnist, mnist_test
    from core.evaluation import evaluate

    model = _load(args.model)
    result = evaluate(model, *mnist_test(load_mnist()))
    if args.json:
        print(json.dumps({"model": args.model, **result.summary()}))
        return 0
    print(f"model {args.model}: test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
    print("digit  precision  recall")
    for digit, (p, r) in enumerate(zip(result.precision, result.recall)):
        print(f"{digit:>5}  {p:>9.4f}  {r:>6.4f}")
    print("confusion (rows: true, columns: predicted)")
    print("     " + "".join(f"{d:>6}" for d in range(10)))
    for digit, row in enumerate(result.confusion):
        print(f"{digit:>5}" + "".join(f"{n:>6}" for n in row))
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
        acc = f"{info.test_accuracy:.4f}" if info.test_accuracy is not None else "-"
        meta = info.meta
        print(f"  {info.name:<28} {meta.get('arch', '?'):<11} test acc {acc:<7} "
              f"{meta.get('parameters', 0):>9,} params  {meta.get('train_seconds', 0):>7.1f} s  "
              f"{meta.get('created', '')}")
    return 0


COMMANDS = {"archs": cmd_archs, "train": cmd_train, "evaluate": cmd_evaluate,
            "predict": cmd_predict, "models": cmd_models}


def main(argv: list[str] | None = None) -> int:
    from core.config import ConfigError

    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
