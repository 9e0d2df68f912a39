"""`python -m core train`: train a model and save it to the store, printing each epoch."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from core.cli.common import ExitNow, UsageError, json_value


STOP_NOW_WAIT = 1.0  # seconds a second Ctrl-C waits for the run to end (it saves nothing once stopped twice)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig setting, from the settings table (core/fit/config.py SETTINGS)."""
    from core.fit.config import SETTINGS

    for name, setting in SETTINGS.items():
        flag = "--" + (setting.flag or name.replace("_", "-"))
        text = (setting.help or setting.label).replace("%", "%%")  # argparse formats help with %
        if setting.kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif setting.choices:
            parser.add_argument(flag, dest=name, help=f"{text} ({', '.join(setting.choices)})")
        else:
            parser.add_argument(flag, dest=name, type=setting.kind, help=text)


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train a model and save it to the store")
    train.add_argument("--arch", help="the architecture (see archs); with --start-from, the stored model's own")
    add_setting_flags(train)
    train.add_argument("--options", type=json_value,
                       help='JSON options for custom-mlp/custom-cnn, e.g. \'{"hidden": [256, 128]}\'')
    train.add_argument("--executor", choices=["thread", "process", "ray"],
                       help="where it trains: this process (default, or $DIGIT_STUDIO_EXECUTOR), "
                            "a worker process, or a Ray cluster ($RAY_ADDRESS, else a local one)")


def run(args) -> int:
    from core.fit import finetune
    from core.fit.config import SETTINGS, TrainConfig
    from core.store import ModelStore

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
    from core.runs.executors import executor_from_env, job_factory
    from core.runs.queue import JobRegistry

    # in this process by default: the command line is a process of its own, so a worker would only add its start-up
    factory = job_factory(args.executor or executor_from_env("thread"))
    try:
        return _train(JobRegistry(1, store, factory).submit(config), config, store)
    finally:
        getattr(factory, "close", lambda: None)()  # warm workers or Ray actors kept for the next run: none comes


def _train(job, config, store) -> int:
    """Print the run's epochs as they end, then what it saved; Ctrl-C stops it (_interrupted)."""
    from core.fit import finetune
    from core.fit.progress import JobState

    if config.stroke_copies:
        from core.data.stroke_copies import preparing_text

        print(preparing_text(config.stroke_copies).replace("…", " ..."), flush=True)
    printed = 0
    try:
        while not job.wait(timeout=0.5):
            printed = _print_epochs(job.progress(), printed)
    except KeyboardInterrupt:
        _interrupted(job, store.root)
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
        from core.data.datasets import get

        print("\n".join(finetune.figure_lines(result.before, result.after, get(config.dataset).title)))
    return 0


def _interrupted(job, root) -> NoReturn:
    """Ctrl-C: stop after the current batch, test what was learned on a sample of the test set and save it.
    A second Ctrl-C stops it again (a worker or Ray task is ended at once, a thread after its current batch)
    and waits at most STOP_NOW_WAIT for it, so that the last line says what was saved. Either way the process
    then ends at once with status 130 (ExitNow)."""
    from core.fit.progress import STOPPED_TEST_IMAGES

    job.stop()
    try:  # from here on, a Ctrl-C is the second one
        print(f"stopping after this batch, then testing on {STOPPED_TEST_IMAGES:,} test images and saving "
              "(Ctrl-C again to quit at once, saving nothing)", file=sys.stderr, flush=True)
        if job.wait(timeout=120):
            print(stopped_line(job.progress(), root), file=sys.stderr)
            raise ExitNow(130)
    except KeyboardInterrupt:
        pass
    job.stop()
    try:
        done = job.wait(timeout=STOP_NOW_WAIT)
    except KeyboardInterrupt:
        done = False
    print(stopped_line(job.progress(), root) if done else "stopped at once; nothing saved", file=sys.stderr)
    raise ExitNow(130, hooks=done)


def stopped_line(progress, root) -> str:
    """What a stopped run left behind, in one line: the model saved and what it was tested on, or why nothing."""
    from core.data.datasets import get
    from core.fit.progress import STOPPED_AT_ONCE

    result = progress.result
    if result is None and progress.error == STOPPED_AT_ONCE:
        return "stopped at once; nothing saved"
    if result is None:
        return f"stopped; nothing saved ({progress.error or 'it had not learned anything yet'})"
    size = get(progress.config.dataset).test_size
    tested = (f"on {result.test_images:,} of the {size:,} test images (`python -m core evaluate --model "
              f"{result.model_name}` tests them all)" if result.sampled_from(size) else f"on all {size:,} test images")
    return (f"stopped in epoch {result.epochs_run} of {progress.epochs}; saved "
            f"{result.model_name} to {root}: test accuracy {result.test_accuracy:.4f} {tested}")


def _print_epochs(progress, printed: int) -> int:
    for entry in progress.epoch_log[printed:]:
        val = f"  val_loss {entry['val_loss']:.4f}  val_acc {entry['val_accuracy']:.4f}" if "val_loss" in entry else ""
        print(f"epoch {entry['epoch']}/{progress.epochs}  loss {entry['loss']:.4f}  acc {entry['accuracy']:.4f}"
              f"{val}  lr {entry['learning_rate']:.2g}  {entry['elapsed']:.1f} s", flush=True)
    return len(progress.epoch_log)
