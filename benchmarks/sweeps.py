"""Sweeps (section 14 of `make bench`): the sweep machinery's overhead, what pruning saves, TPE against random.

- Overhead: a 12-run grid (mlp-128-64, 2 epochs, 10,000 samples; 4 learning rates × 3 batch sizes) as a sweep
  against the same 12 runs trained alone, one after the other, through the same registry and thread executor,
  in this same benchmark run, in the order alone, sweep, sweep, alone (so a drift in the machine's load
  falls on both). Ratio: the sweeps' median wall time / the median of the two sums of the runs alone.
- Pruning: the same sweep with the median pruner: the time it saved, whether the best run of the unpruned
  sweep survived (was not pruned), and how many runs were pruned.
- Search: a 20-trial TPE search against a 20-trial random search on the same space (11 learning rates from 1e-5 to 1,
  log-spaced, × 8 batch sizes; mlp-128-64, 1 epoch, 5,000 samples): the best validation accuracy each reached, for seeds 0, 1, 2.

`python -m benchmarks --only 14`.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import Report, fmt, median, pct
from core.fit.config import TrainConfig
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.store import ModelStore
from core.sweeps.live import SweepRegistry
from core.sweeps.records import SweepBook
from core.sweeps.space import SweepSpec
from core.sweeps.values import axis_from_text

LRS, BATCHES = "0.0003, 0.001, 0.003, 0.01", "32, 64, 128"
SEARCH_SPACE = {"lr": "1e-5:1:11:log", "batch_size": "8, 16, 32, 64, 128, 256, 512, 1024"}


def _grid_spec(quick: bool, prune: str = "off") -> SweepSpec:
    base = {"arch": "mlp-128-64", "epochs": 1 if quick else 2, "limit": 1000 if quick else 10_000}
    lrs, batches = ("0.001, 0.1", "32, 128") if quick else (LRS, BATCHES)
    return SweepSpec(base, (axis_from_text("lr", lrs), axis_from_text("batch_size", batches)), prune=prune)


def _run_sweep(spec: SweepSpec, store: ModelStore, book: SweepBook):
    registry = JobRegistry(1, store, TrainingJob)
    started = time.perf_counter()
    sweep = SweepRegistry(book).start(spec, registry, store)
    sweep.wait()
    return time.perf_counter() - started, sweep.snapshot()


def _alone(spec: SweepSpec, store: ModelStore) -> list[float]:
    """Each of the sweep's runs trained alone: submitted, waited for, one after the other."""
    registry = JobRegistry(1, store, TrainingJob)
    seconds = []
    for params in spec.grid():
        config: TrainConfig = spec.config(params)
        started = time.perf_counter()
        job = registry.submit(config, store)
        job.wait()
        seconds.append(time.perf_counter() - started)
    return seconds


def sweeps_section(report: Report, title: str) -> None:
    quick = report.settings.quick
    with tempfile.TemporaryDirectory() as folder:
        store, book = ModelStore(Path(folder) / "models"), SweepBook(Path(folder) / "sweeps.sqlite3")
        spec = _grid_spec(quick)
        _alone(SweepSpec(spec.base, spec.axes[:1]), store)             # warm-up: TensorFlow's first runs
        alone = _alone(spec, store)
        sweep_seconds, plain = _run_sweep(spec, store, book)
        again, _ = _run_sweep(spec, store, book)
        alone_again = _alone(spec, store)
        pruned_seconds, pruned = _run_sweep(_grid_spec(quick, prune="median"), store, book)
        searches = _search_comparison(store, book, quick)
    sums = [sum(alone), sum(alone_again)]
    total, sweep_seconds = median(sums), median([sweep_seconds, again])
    best = max(plain.runs, key=lambda r: r.val_accuracy or 0)
    survivor = next(r for r in pruned.runs if r.params == best.params)
    pruned_runs = [r for r in pruned.runs if r.state == "pruned"]
    lines = [
        __doc__.split("\n\n")[1].strip(), "",
        "| | wall s | runs |", "|---|---|---|",
        f"| the {len(alone)} runs alone, one after the other (sum; the two rounds) | {fmt(total)} "
        f"({fmt(sums[0])}, {fmt(sums[1])}) | {len(alone)} |",
        f"| the same runs as a sweep (median of two) | {fmt(sweep_seconds)} | {len(plain.runs)} |",
        f"| the same sweep with the median pruner | {fmt(pruned_seconds)} | {len(pruned.runs)}, "
        f"{len(pruned_runs)} pruned |", "",
        f"**Sweep machinery overhead: {sweep_seconds / total - 1:+.1%}** (sweep / runs alone = "
        f"{sweep_seconds / total:.3f}; runs alone: median {fmt(median(alone + alone_again))} s each).", "",
        f"**Pruning saved {1 - pruned_seconds / sweep_seconds:.0%}** of the sweep's time ({fmt(sweep_seconds)} → "
        f"{fmt(pruned_seconds)} s) and pruned {len(pruned_runs)} of {len(pruned.runs)} runs. The best run of the "
        f"unpruned sweep ({_params(best.params)}, validation {pct(best.val_accuracy)}) "
        + ("**survived**" if survivor.state == "finished" else f"**was {survivor.state}**")
        + f" (validation {pct(survivor.val_accuracy)}).", "",
        "Search on the same space, best validation accuracy reached:", "",
        "| seed | TPE | random |", "|---|---|---|",
        *(f"| {seed} | {pct(tpe)} | {pct(rnd)} |" for seed, tpe, rnd in searches),
        f"| median | {pct(median([t for _, t, _ in searches]))} | {pct(median([r for _, _, r in searches]))} |",
    ]
    report.add(title, "\n".join(lines))


def _search_comparison(store: ModelStore, book: SweepBook, quick: bool) -> list[tuple[int, float, float]]:
    base = {"arch": "mlp-128-64", "epochs": 1, "limit": 1000 if quick else 5000}
    axes = tuple(axis_from_text(name, text) for name, text in SEARCH_SPACE.items())
    trials, seeds = (4, (0,)) if quick else (20, (0, 1, 2))
    results = []
    for seed in seeds:
        best = []
        for search in ("tpe", "random"):
            _, record = _run_sweep(SweepSpec(base, axes, search, trials, seed), store, book)
            best.append(max(r.val_accuracy or 0 for r in record.runs))
        results.append((seed, *best))
    return results


def _params(params: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in params.items())
