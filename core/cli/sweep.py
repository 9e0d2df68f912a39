"""`python -m core sweep`: many runs of one question, e.g.
`python -m core sweep --arch mlp-128-64 --lr 0.0003,0.001,0.003,0.01 --batch-size 32,128 --epochs 3 --limit 10000`.

Every setting flag takes one value (the same for every run) or several: a list (`0.001,0.01`) or a range
(`1e-4:1e-2:5:log`, low:high:count, linear unless it says log). `--arch` and the architecture options
(`--dropout`, `--hidden "128;256,128"`) too. Prints each run as it starts and ends, then a table sorted by
validation accuracy (`--json`: one JSON object per line instead, progress on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys

from core.cli.common import UsageError

STATE_WORDS = {"finished": "", "pruned": "pruned", "stopped": "stopped", "failed": "FAILED"}


class InOrder(argparse.Action):
    """Stores the value and notes the flag's place, so the sweep varies settings in the order they were given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        order = [d for d in getattr(namespace, "given_order", []) if d != self.dest]
        namespace.given_order = [*order, self.dest]


def add_parser(sub) -> None:
    from core.fit.config import SETTINGS
    from core.sweeps.space import PRUNERS, SEARCHES
    from core.sweeps.values import NOT_SWEPT
    from core.workshop.setting_text import OPTION_KINDS

    sweep = sub.add_parser("sweep", help="train many runs over several values of some settings, and compare them")
    sweep.add_argument("--arch", action=InOrder, help="one architecture, or several: linear,mlp-128-64")
    for name, setting in SETTINGS.items():
        if name in NOT_SWEPT:
            continue
        flag = "--" + (setting.flag or name.replace("_", "-"))
        sweep.add_argument(flag, dest=name, metavar="VALUES", action=InOrder,
                           help=f"{(setting.help or setting.label).replace('%', '%%')} One value, a list a,b,c "
                                "or a range low:high:count[:log]")
    for option in OPTION_KINDS:
        sweep.add_argument("--" + option.replace("_", "-"), dest=f"option_{option}", metavar="VALUES", action=InOrder,
                           help=f"architecture option {option} (custom-mlp/custom-cnn); several values as above"
                                + (" separated by ';'" if option == "hidden" else ""))
    sweep.add_argument("--search", choices=SEARCHES, default="grid",
                       help="grid: every combination (default); random: --trials of them, seeded; "
                            "tpe: Optuna's guided search, --trials runs")
    sweep.add_argument("--trials", type=int, help="runs of a random or tpe search")
    sweep.add_argument("--sweep-seed", type=int, default=0, help="seed of the random and tpe searches (default 0)")
    sweep.add_argument("--prune", nargs="?", const="median", default="off", choices=PRUNERS,
                       help="stop hopeless runs at an epoch's end: median (the default of --prune) or halving")
    sweep.add_argument("--max-runs", type=int, help="refuse a sweep of more runs (default $DIGIT_STUDIO_SWEEP_MAX_RUNS or 48)")
    sweep.add_argument("--parallel", type=int,
                       help="runs at once (default 1; with --executor ray, the cluster's CPUs a run each)")
    sweep.add_argument("--executor", choices=["thread", "process", "ray"],
                       help="where runs train: this process (default, or $DIGIT_STUDIO_EXECUTOR), worker "
                            "processes, or a Ray cluster ($RAY_ADDRESS, else a local one)")
    sweep.add_argument("--json", action="store_true", help="one JSON object per run on stdout, best first")


def spec_from_args(args):
    """The SweepSpec the flags describe; SweepError with every problem (nothing is queued)."""
    from core.fit.config import SETTINGS
    from core.sweeps.space import SweepSpec, max_runs_from_env
    from core.sweeps.values import NOT_SWEPT, SweepError, axis_from_text, is_several
    from core.workshop.setting_text import OPTION_KINDS, option_value, parse_setting

    texts = {"arch": args.arch} if args.arch is not None else {}
    texts.update({name: getattr(args, name) for name in SETTINGS
                  if name not in NOT_SWEPT and getattr(args, name) is not None})
    options = {option: getattr(args, f"option_{option}") for option in OPTION_KINDS
               if getattr(args, f"option_{option}") is not None}
    several = {name for name, text in {**texts, **options}.items() if is_several(name, text)}
    base, problems = {}, []
    for name, text in texts.items():
        if name in several:
            continue
        if name == "arch":
            base["arch"] = text.strip().lower()
            continue
        value, problem = parse_setting(name, text.strip())
        if problem:
            problems.append(problem)
        base[name] = value
    fixed_options = {k: option_value(k, v.strip()) for k, v in options.items() if k not in several}
    if fixed_options:
        base["options"] = fixed_options
    archs = texts["arch"].split(",") if "arch" in several else [base.get("arch", "")]
    axes = []
    order = [d.removeprefix("option_") for d in getattr(args, "given_order", [])]
    for name in sorted([*texts, *options], key=lambda n: order.index(n) if n in order else len(order)):
        if name in several:
            try:
                axes.append(axis_from_text(name, {**texts, **options}[name], archs=[a.strip().lower() for a in archs
                                                                                     if a.strip()]))
            except SweepError as exc:
                problems += exc.problems
    if "arch" not in texts:
        problems.append("--arch is required: one architecture or several (see `python -m core archs`).")
    if problems:
        raise SweepError(problems)
    return SweepSpec(base, tuple(axes), args.search, args.trials, args.sweep_seed, args.prune,
                     args.max_runs if args.max_runs is not None else max_runs_from_env())


def _parallel(args, executor: str) -> int:
    if args.parallel is not None:
        if args.parallel < 1:
            raise UsageError(f"--parallel must be at least 1 (got {args.parallel})")
        return args.parallel
    if executor != "ray":
        return 1
    import os

    import ray

    from core.runs.ray_server import CPUS_ENV, connect

    connect()
    try:
        per_run = max(1, int(os.environ.get(CPUS_ENV, "1")))
    except ValueError:
        per_run = 1
    return max(1, int(ray.cluster_resources().get("CPU", 1) // per_run))


def run(args) -> int:
    from core.runs.executors import executor_from_env, job_factory
    from core.runs.queue import JobRegistry
    from core.store import ModelStore
    from core.sweeps.estimate import estimate
    from core.sweeps.live import SweepRegistry
    from core.sweeps.values import SweepError

    try:
        spec = spec_from_args(args)
        spec.check()
    except SweepError as exc:
        raise UsageError(" ".join(exc.problems)) from None
    store = ModelStore()
    models = store.list()
    executor = args.executor or executor_from_env("thread")
    parallel = _parallel(args, executor)
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else \
        (lambda text: print(text, flush=True))
    say(f"sweep: {estimate(spec, parallel if executor == 'ray' else 1, models).text()}")
    registry = JobRegistry(parallel, store, job_factory(executor))
    sweep = SweepRegistry().start(spec, registry, store, parallel=parallel)
    say(f"sweep {sweep.id}: {spec.search}, varying {', '.join(a.name for a in spec.axes)}")
    try:
        follow(sweep, say)
    except KeyboardInterrupt:
        sweep.stop()
        say("stopping: the runs training stop after their current batch and are kept ...")
        sweep.wait(300)
        print_results(sweep.snapshot(), args.json)
        return 130
    record = sweep.snapshot()
    print_results(record, args.json)
    return 1 if record.state == "failed" or all(r.state == "failed" for r in record.runs) else 0


def follow(sweep, say) -> None:
    """One line as each run starts and as it ends, until the sweep is done."""
    from core.sweeps.space import params_text

    told: dict[int, str] = {}
    total = sweep.search.total
    while True:
        finished = sweep.wait(0.5)
        for run in sweep.snapshot().runs:
            if told.get(run.number) == run.state or run.state in ("waiting", "queued"):
                continue
            told[run.number] = run.state
            head = f"run {run.number}/{total} {params_text(run.params)}"
            if run.state == "training":
                say(f"{head}: training")
            elif run.state == "finished":
                say(f"{head}: validation accuracy {_percent(run.val_accuracy)}, test {_percent(run.test_accuracy)}")
            else:
                say(f"{head}: {run.state}" + (f" ({run.note})" if run.note else ""))
        if finished:
            return


def ranked(runs) -> list:
    """Best validation accuracy first; runs without one last, in their order."""
    return sorted(runs, key=lambda r: (r.val_accuracy is None, -(r.val_accuracy or 0.0), r.number))


def print_results(record, as_json: bool) -> None:
    runs = ranked([r for r in record.runs if r.state != "waiting"])
    if as_json:
        for r in runs:
            print(json.dumps({"sweep": record.id, "run": r.number, "params": r.params, "state": r.state,
                              "val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
                              "epochs_run": r.epochs_run, "seconds": r.seconds, "model": r.model, "note": r.note},
                             default=list))
        return
    names = [a.name for a in record.spec.axes]
    header = ["#", "run", *names, "val acc", "test acc", "epochs", "seconds", "model", ""]
    rows = [[str(i), str(r.number), *(_cell(r.params.get(n)) for n in names), _percent(r.val_accuracy),
             _percent(r.test_accuracy), str(r.epochs_run or 0), f"{r.seconds:.1f}" if r.seconds else "",
             r.model or "", STATE_WORDS.get(r.state, r.state)] for i, r in enumerate(runs, 1)]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    pruned = [r for r in runs if r.state == "pruned"]
    for r in pruned:
        print(f"run {r.number}: {r.note}")
    print(f"sweep {record.id} {record.state}: {len(runs)} runs, {len(pruned)} pruned")


def _percent(value) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "–"


def _cell(value) -> str:
    from core.sweeps.values import short_number
    from core.workshop.setting_text import link_text

    return short_number(value) if isinstance(value, float) else link_text(value)
