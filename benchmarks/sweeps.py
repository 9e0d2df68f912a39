"""Sweeps (section 16 of `make bench`): the sweep machinery's overhead, what pruning saves, TPE against random.

- Overhead: a 12-run grid (mlp-128-64, 2 epochs, 10,000 samples; 4 learning rates × 3 batch sizes) as a sweep
  against the same 12 runs trained alone, one after the other, through the same registry and thread executor.
  Each round measures all three conditions back to back (the runs alone, the sweep, the sweep with the median
  pruner), in an order that rotates from round to round, so a drift in the machine's load falls on each in turn;
  each ratio is taken within a round (conditions minutes apart, not a whole benchmark apart), then the median over
  the rounds, with its spread (lowest, highest).
- Pruning: in each round, the pruned sweep's wall time against that round's unpruned sweep, how many runs it
  pruned, and whether the unpruned sweep's best run (by validation accuracy) survived it (was not pruned).
- Search: a 20-trial TPE search against a 20-trial random search on the same space (11 learning rates from 1e-5 to 1,
  log-spaced, × 8 batch sizes; mlp-128-64, 1 epoch, 5,000 samples): the best validation accuracy each reached, for seeds 0, 1, 2.

`python -m benchmarks --only 16` (`--quick`: one round of a 4-run grid, 1 epoch, 1,000 samples; figures meaningless).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Report, fmt, median, pct
from core.fit.config import TrainConfig
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.store import ModelStore
from core.sweeps.live import SweepRegistry
from core.sweeps.records import SweepBook, SweepRecord
from core.sweeps.space import SweepSpec
from core.sweeps.values import axis_from_text

LRS, BATCHES = "0.0003, 0.001, 0.003, 0.01", "32, 64, 128"
SEARCH_SPACE = {"lr": "1e-5:1:11:log", "batch_size": "8, 16, 32, 64, 128, 256, 512, 1024"}
ROUNDS, QUICK_ROUNDS = 5, 1
CONDITIONS = ("alone", "sweep", "pruned")


@dataclass
class Round:
    """One round's three measurements: the runs alone (each run's seconds), the sweep, the pruned sweep."""

    order: tuple[str, ...]
    alone: list[float]
    sweep_seconds: float
    sweep: SweepRecord
    pruned_seconds: float
    pruned: SweepRecord

    @property
    def overhead(self) -> float:
        """The sweep's wall time over the sum of the same runs trained alone, minus one."""
        return self.sweep_seconds / sum(self.alone) - 1

    @property
    def saved(self) -> float:
        return 1 - self.pruned_seconds / self.sweep_seconds

    @property
    def pruned_count(self) -> int:
        return sum(r.state == "pruned" for r in self.pruned.runs)

    def best_fate(self) -> tuple[dict, float | None, str, float | None]:
        """(the unpruned sweep's best run's values, its accuracy, its state in the pruned sweep, its accuracy there)."""
        best = max(self.sweep.runs, key=lambda r: r.val_accuracy or 0)
        twin = next(r for r in self.pruned.runs if r.params == best.params)
        return best.params, best.val_accuracy, twin.state, twin.val_accuracy


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


def _order(number: int) -> tuple[str, ...]:
    """The conditions' order in round `number`: rotated, and reversed every other round."""
    shift = number % len(CONDITIONS)
    order = CONDITIONS[shift:] + CONDITIONS[:shift]
    return order[::-1] if number % 2 else order


def _round(number: int, quick: bool, store: ModelStore, book: SweepBook) -> Round:
    spec, pruning = _grid_spec(quick), _grid_spec(quick, prune="median")
    measured = {}
    for condition in _order(number):
        if condition == "alone":
            measured["alone"] = _alone(spec, store)
        else:
            measured[condition] = _run_sweep(pruning if condition == "pruned" else spec, store, book)
    return Round(_order(number), measured["alone"], *measured["sweep"], *measured["pruned"])


def _spread(values: list[float], shown) -> str:
    return f"{shown(median(values))} ({shown(min(values))} to {shown(max(values))})"


def sweeps_section(report: Report, title: str) -> None:
    quick = report.settings.quick
    with tempfile.TemporaryDirectory() as folder:
        store, book = ModelStore(Path(folder) / "models"), SweepBook(Path(folder) / "sweeps.sqlite3")
        spec = _grid_spec(quick)
        _alone(SweepSpec(spec.base, spec.axes[:1]), store)             # warm-up: TensorFlow's first runs
        rounds = [_round(n, quick, store, book) for n in range(QUICK_ROUNDS if quick else ROUNDS)]
        searches = _search_comparison(store, book, quick)
    report.add(title, "\n".join(_lines(rounds, searches)))


def _lines(rounds: list[Round], searches: list[tuple[int, float, float]]) -> list[str]:
    sums = [sum(r.alone) for r in rounds]
    sweeps = [r.sweep_seconds for r in rounds]
    pruned = [r.pruned_seconds for r in rounds]
    overheads, saved = [r.overhead for r in rounds], [r.saved for r in rounds]
    counts = [r.pruned_count for r in rounds]
    fates = [r.best_fate() for r in rounds]
    survived = sum(state == "finished" for _, _, state, _ in fates)
    runs = len(rounds[0].sweep.runs)
    seconds = lambda v: fmt(v)  # noqa: E731
    percent = lambda v: f"{v:+.1%}"  # noqa: E731
    lines = [
        __doc__.split("\n\n")[1].strip(), "",
        f"{len(rounds)} round{'s' if len(rounds) != 1 else ''}; median (lowest to highest) over them.", "",
        "| | wall s | runs |", "|---|---|---|",
        f"| the {runs} runs alone, one after the other (sum) | {_spread(sums, seconds)} | {runs} |",
        f"| the same runs as a sweep | {_spread(sweeps, seconds)} | {runs} |",
        f"| the same sweep with the median pruner | {_spread(pruned, seconds)} | {runs}, "
        f"{_spread(counts, lambda v: f'{v:g}')} pruned |", "",
        f"**Sweep machinery overhead: {_spread(overheads, percent)}** (each round's sweep against that round's runs "
        f"alone; runs alone: median {fmt(median([s for r in rounds for s in r.alone]))} s each; aim ≤ +10%).", "",
        f"**Pruning saved {_spread(saved, lambda v: f'{v:.0%}')}** of the sweep's time and pruned "
        f"{_spread(counts, lambda v: f'{v:g}')} of {runs} runs"
        + (" (none pruned: what it saved is the machine's noise)" if max(counts) == 0 else "")
        + f". **The best run survived in {survived} of {len(rounds)} round{'s' if len(rounds) != 1 else ''}.**", "",
        "| round | order | overhead | pruning saved | pruned | the unpruned sweep's best run | in the pruned sweep |",
        "|---|---|---|---|---|---|---|",
        *(f"| {n + 1} | {', '.join(r.order)} | {r.overhead:+.1%} | {r.saved:.0%} | {r.pruned_count} | "
          f"{_params(params)}: {pct(value)} | {state}" + (f", {pct(twin)}" if twin is not None else "") + " |"
          for n, (r, (params, value, state, twin)) in enumerate(zip(rounds, fates))), "",
        "Search on the same space, best validation accuracy reached:", "",
        "| seed | TPE | random |", "|---|---|---|",
        *(f"| {seed} | {pct(tpe)} | {pct(rnd)} |" for seed, tpe, rnd in searches),
        f"| median | {pct(median([t for _, t, _ in searches]))} | {pct(median([r for _, _, r in searches]))} |",
    ]
    return lines


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
