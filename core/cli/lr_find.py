"""`python -m core lr-find`: find a learning rate for a network before training it (core.fit.lr_range), with the
usual training flags; prints the curve in a few rows and the suggestion. Nothing is saved."""
from __future__ import annotations

import sys

from core.cli.common import ExitNow, UsageError, json_value
from core.cli.train import add_setting_flags

ROWS = 12   # rows of the curve printed


def add_parser(sub) -> None:
    finder = sub.add_parser("lr-find", help="find a learning rate: a short run with the rate growing exponentially")
    finder.add_argument("--arch", required=True, help="the architecture (see archs)")
    add_setting_flags(finder)
    finder.add_argument("--options", type=json_value, help="JSON options for custom-mlp/custom-cnn")
    finder.add_argument("--low", type=float, default=1e-5, help="the rate the sweep starts from (default 1e-5)")
    finder.add_argument("--high", type=float, default=1.0, help="the rate it ends at (default 1)")
    finder.add_argument("--batches", type=int, default=100, help="batches it trains (default 100)")
    finder.add_argument("--executor", choices=["thread", "process", "ray"],
                        help="where it runs: this process (default, or $DIGIT_STUDIO_EXECUTOR), a worker process, "
                             "or a Ray cluster")


def run(args) -> int:
    from core.fit.config import SETTINGS, TrainConfig
    from core.fit.lr_range import FinderConfig
    from core.fit.progress import JobState
    from core.runs.executors import executor_from_env, job_factory
    from core.runs.queue import JobRegistry
    from core.store import ModelStore

    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    if given.get("start_from"):
        raise UsageError("the finder starts from a new network: leave out --start-from")
    config = FinderConfig.sweeping(TrainConfig.for_preset(args.arch, options=args.options, **given),
                                   args.low, args.high, args.batches)
    job = JobRegistry(1, ModelStore(), job_factory(args.executor or executor_from_env("thread"))).submit(config)
    try:
        print(f"finding a learning rate: {args.batches} batches, the rate growing from {args.low:g} to "
              f"{args.high:g} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        job.wait()
    except KeyboardInterrupt:
        job.stop()
        try:  # a second Ctrl-C ends it at once, as it does for train
            job.wait(timeout=60)
        except KeyboardInterrupt:
            job.stop()
        print("stopped; the finder saves nothing", file=sys.stderr)
        raise ExitNow(130, hooks=job.state.done)
    progress = job.progress()
    if progress.state == JobState.FAILED:
        print(f"the finder failed: {progress.error}", file=sys.stderr)
        return 1
    result = progress.finder
    if result is None:
        print("stopped before the first batch")
        return 0
    print(f"{'learning rate':>14}  {'loss':>8}  {'smoothed':>8}")
    every = max(1, len(result.learning_rates) // ROWS)
    for rate, loss, smoothed in list(zip(result.learning_rates, result.losses, result.smoothed))[::every]:
        print(f"{rate:>14.3g}  {loss:>8.4f}  {smoothed:>8.4f}")
    ended = {"diverged": "the loss blew up, so the sweep ended early", "swept": "the whole range was swept",
             "stopped": "stopped"}[result.ended]
    print(f"{len(result.learning_rates)} batches, {result.low:g} to {result.high:g}: {ended}")
    if result.suggestion is None:
        print("no suggestion: the loss never fell; try a wider range or more batches")
    else:
        print(f"suggested learning rate: {result.suggestion:.3g} ({result.rule})")
    return 0
