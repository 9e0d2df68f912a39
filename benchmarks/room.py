"""A room that trains at once: where a short run's time goes, and a class of visitors pressing Train together.

`short_runs(report, title)` (section 14) breaks a short run (10,000 samples, 2 epochs) down into its phases
(core.fit.progress.PhaseClock: queue, worker, data, build, tracing, snapshots, epochs, test evaluation,
save, replay), for `linear`, `mlp-128-64` and `cnn-fast`, on a new worker (the warm spare) and on a
reused one. `class_runs(report, title)` (section 15) has N visitors (10 and 30) start the same lesson step
at once through the app's registry and executor, and compares the time to the last result with the
compute-only lower bound; the way the last release ran them (one at a time, a new worker per run) is
measured in the same run for 10 visitors. `python -m benchmarks.room [--quick]` prints both.
"""
from __future__ import annotations

import os
import tempfile
import time

from benchmarks.common import Report, Settings, fmt, median
from core.fit.config import TrainConfig
from core.runs.executors import registry_for
from core.runs.queue import JobRegistry
from core.runs.workers import WorkerPool
from core.store import ModelStore

PHASES = ("queue", "worker", "data", "build", "tracing", "snapshots", "epochs", "test evaluation", "save", "replay")
LESSON_STEP = TrainConfig.for_preset("mlp-128-64", epochs=2, limit=10000)
DEMO = "after the presenter's run"
LINK = "after the Train page showed the run"
SOON = "1 s after the Train page showed the run"
SOON_SECONDS = 1.0  # a quick room: Train pressed a second after the step (or the settings) came on screen
OWN = "now, each with a seed of its own"


def _finish(jobs, started: float, timeout: float = 3600, every: float = 0.01) -> list[float]:
    """Seconds from `started` until each job's result was there (its state done), in the order they ended,
    looked at every `every` seconds (a single short run's is looked at every millisecond: 10 ms would add
    about 5 ms to a 0.4 s run's wall time, a point of its overhead)."""
    ends: dict[str, float] = {}
    deadline = time.perf_counter() + timeout
    while len(ends) < len(jobs) and time.perf_counter() < deadline:
        for job in jobs:
            if job.id not in ends and job.state.done:
                ends[job.id] = time.perf_counter() - started
        time.sleep(every)
    for job in jobs:
        job.wait(timeout=60)
        if job.progress().error:
            raise RuntimeError(job.progress().error)
    return sorted(ends.values())


def _ready_pool(**options) -> WorkerPool:
    """A pool as a server's that has been up a little while: its spare has imported TensorFlow, and warmed the
    smallest run (core.runs.warm_up.FIRST_WARM_UP), since no kind of run is known yet."""
    pool = WorkerPool(spares=1, prewarm=True, **options)
    if not pool.wait_ready(180):
        raise RuntimeError("the spare worker did not import TensorFlow in 180 s")
    if not pool.wait_warmed(180):
        raise RuntimeError("the spare worker did not finish warming up in 180 s")
    return pool


# --- section 14: one short run, phase by phase --------------------------------------------------------

SAME_STEP, NEW_SEED = "reused worker, the same step", "reused worker, a new seed"


def breakdown(config: TrainConfig, store: ModelStore, reused_runs: int) -> dict[str, list[dict[str, float]]]:
    """Phases of `config`'s run on a new worker (the warm spare), then on the reused worker: `reused_runs` of
    the same step again (its seed too, as a room runs it), then as many with a new seed each; each with its
    wall seconds, submit to result, and `other`: what no phase covers (events, the job's thread)."""
    pool = _ready_pool()
    registry = registry_for("process", pool)
    registry.store = store
    rows: dict[str, list[dict[str, float]]] = {"new worker": [], SAME_STEP: [], NEW_SEED: []}
    plan = [("new worker", config)] + [(SAME_STEP, config)] * reused_runs + [
        (NEW_SEED, config.replace(seed=config.seed + 1 + run)) for run in range(reused_runs)]
    try:
        for run, (label, run_config) in enumerate(plan):
            started = time.perf_counter()
            job = registry.submit(run_config)
            [wall] = _finish([job], started, every=0.001)
            phases = dict(job.progress().phases)
            phases["wall"] = wall
            phases["other"] = max(0.0, wall - sum(phases.get(p, 0.0) for p in PHASES))
            rows[label].append(phases)
            print(f"[room] {config.arch} run {run + 1} ({label}): {wall:.2f} s", flush=True)
    finally:
        pool.close()
    return rows


def short_runs(report: Report, title: str) -> None:
    s = report.settings
    reused = 1 if s.quick else 4
    archs = ("linear", "mlp-128-64", "cnn-fast")
    lines = [f"A short run ({'1,000' if s.quick else '10,000'} samples, 2 epochs) through the app's registry and "
             "worker processes, submit to result, phase by phase (seconds; `core.fit.progress.PhaseClock`). "
             "*New worker*: the run takes the warm spare, a worker that imported TensorFlow and, as a fresh server's "
             "spare does while no kind of run is known, warmed the smallest run (`linear`, "
             "core.runs.warm_up.FIRST_WARM_UP), but never trained this one; "
             f"*{SAME_STEP}*: the median of {reused} more runs of the same step on the worker that trained "
             "before (its compiled model kept warm, `core.fit.warm`), seed included, as a room runs a lesson step "
             "(a step's link sets no seed: everyone's is 0), so its starting weights and its split are kept too; "
             f"*{NEW_SEED}*: then {reused} more, each with a seed of its own. *Epochs* is fit's time less the "
             "first batch's tracing and the snapshots; *other* is what no phase covers (events between the processes, the job's thread). "
             "*Overhead* is everything but the epochs, as a share of the wall time.", "",
             "| network | worker | " + " | ".join(PHASES) + " | other | wall | overhead |",
             "|---|---|" + "---|" * (len(PHASES) + 3)]
    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(folder)
        for arch in archs:
            config = TrainConfig.for_preset(arch, epochs=2, limit=1000 if s.quick else 10000)
            for label, runs in breakdown(config, store, reused).items():
                cells = {key: median([r.get(key, 0.0) for r in runs]) for key in (*PHASES, "other", "wall")}
                overhead = 1 - cells["epochs"] / cells["wall"] if cells["wall"] else float("nan")
                report.results.setdefault("short_run_overhead", {})[(arch, label)] = overhead
                lines.append(f"| `{arch}` | {label} | " + " | ".join(fmt(cells[k], 2) for k in (*PHASES, "other"))
                             + f" | {fmt(cells['wall'], 2)} | {fmt(100 * overhead, 0)}% |")
    report.add(title, "\n".join(lines))


# --- section 15: a class at once ----------------------------------------------------------------------

def one_class(registry: JobRegistry, visitors: int, config: TrainConfig, own_seeds: bool = False) -> dict[str, float]:
    """`visitors` runs of `config`, one per visitor, submitted together: result times and the bounds. As a room
    runs a lesson step, everyone's run has the step's seed; with `own_seeds`, each visitor's its own."""
    started = time.perf_counter()
    jobs = [registry.submit(config.replace(seed=i) if own_seeds else config, owner=f"visitor-{i + 1}")
            for i in range(visitors)]
    ends = _finish(jobs, started)
    epochs = [job.progress().phases.get("epochs", 0.0) for job in jobs]
    return {"first": ends[0], "median": median(ends), "last": ends[-1], "epochs_sum": sum(epochs),
            "workers": len({job.worker_pid for job in jobs})}


def alone_epochs(config: TrainConfig, store: ModelStore, runs: int = 3) -> float:
    """Median epochs-phase seconds of `config` trained alone on a warm one-core worker: the compute a run needs."""
    pool = _ready_pool()
    try:
        registry = registry_for("process", pool)
        registry.store = store
        times = []
        for run in range(runs + 1):
            job = registry.submit(config.replace(seed=100 + run))
            _finish([job], time.perf_counter())
            if run:  # the first pays the worker's own first-run set-up
                times.append(job.progress().phases["epochs"])
        return median(times)
    finally:
        pool.close()


def class_runs(report: Report, title: str) -> None:
    s = report.settings
    config = LESSON_STEP.replace(limit=1000) if s.quick else LESSON_STEP
    sizes = (3,) if s.quick else (10, 30)
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(folder)
        alone = alone_epochs(config, store)
        for visitors in sizes:
            for way in ("before", "now", OWN, DEMO, LINK, SOON) if visitors == sizes[0] else ("now", OWN, DEMO, LINK,
                                                                                           SOON):
                print(f"[room] {visitors} visitors, {way}", flush=True)
                if way == "before":  # the last release: one run at a time, each in a new worker (a warm spare)
                    pool = _ready_pool(max_idle=1)
                    registry = JobRegistry(max(1, cores // 2), None, pool)
                else:  # the app's registry and pool as default_registry() makes them
                    pool = _ready_pool()
                    registry = registry_for("process", pool)
                registry.store = store
                try:
                    if way == DEMO:  # the presenter trains the step once; the spare it starts warms that kind
                        _finish([registry.submit(config.replace(seed=99), owner="presenter")], time.perf_counter())
                        if not pool.wait_warmed(180):
                            raise RuntimeError("the spare did not finish warming up in 180 s")
                    if way in (LINK, SOON):  # the room's Train pages show the run (pages/parts/train_links.expect_shown)
                        registry.expect(config)
                        if way == SOON:
                            time.sleep(SOON_SECONDS)  # whatever the warm-ups have done by then
                        elif not pool.wait_warmed(180):
                            raise RuntimeError("the spare did not finish warming up in 180 s")
                    figures = one_class(registry, visitors, config, own_seeds=way == OWN)
                finally:
                    pool.close()
                own_bound = figures["epochs_sum"] / cores
                alone_bound = visitors * alone / cores
                rows.append(f"| {visitors} | {way} | {fmt(figures['first'], 1)} | {fmt(figures['median'], 1)} | "
                            f"{fmt(figures['last'], 1)} | {figures['workers']} | {fmt(own_bound, 1)} | "
                            f"{fmt(figures['last'] / own_bound, 2)} | {fmt(alone_bound, 1)} | "
                            f"{fmt(figures['last'] / alone_bound, 2)} |")
                report.results.setdefault("class", {})[(visitors, way)] = figures["last"] / own_bound
                report.results.setdefault("class_last", {})[(visitors, way)] = figures["last"]
    ratios, lasts = report.results["class"], report.results["class_last"]
    headline = (f"**30 visitors, as the app runs a lesson step (the Train page showed the run): last / bound "
                f"{fmt(ratios.get((sizes[-1], LINK), float('nan')), 2)} (last result "
                f"{fmt(lasts.get((sizes[-1], LINK), float('nan')), 1)} s); pressed {SOON_SECONDS:.0f} s after it showed "
                f"{fmt(ratios.get((sizes[-1], SOON), float('nan')), 2)}; no page showed it first (*now*) "
                f"{fmt(ratios.get((sizes[-1], 'now'), float('nan')), 2)}** (aim: at most 1.5, and the last result "
                "within 60 s).") if not s.quick else ""
    report.add(title, "\n".join([
        *([headline, ""] if headline else []),
        f"N visitors each start the same lesson step (`{config.arch}`, {config.epochs} epochs, "
        f"{config.limit:,} samples, the step's seed: a step's link sets none, so everyone's is 0) at the same "
        "moment, through the app's registry and worker processes "
        f"(`registry_for('process', ...)`, one warm spare, {cores} cores). Seconds from the submits to the first, "
        "median and last result. *Bound*: the compute-only lower bound, the runs' own training time "
        "(their *epochs* phase) summed over the cores; *alone bound*: N times the epochs of one such run "
        f"trained alone on a warm one-core worker ({fmt(alone, 2)} s), over the cores. *Now*: a server up a little "
        "while, nobody has trained yet: its spare warmed the smallest run (no kind is known yet), nothing of this "
        "step; the second core's worker starts with the class. *Before* is the way the "
        "last release ran them, measured in this same run: one at a time (half the cores), each in a new worker. "
        f"*{DEMO}*: as a workshop goes, the presenter first trains the step once (not timed); the spare worker "
        "that run starts warms that kind of run while it waits (core.runs.warm_up), and the class starts once "
        f"it has. *{LINK}*: no demo run; as the app runs a lesson step: the Train page that shows a run (a step "
        "opened, from its link or the presenter's; a link's settings; settings chosen by hand) tells the registry "
        "which run is coming (JobRegistry.expect, pages/parts/train_links.expect_shown), the idle spare and a worker "
        "started for the other core warm that kind, and the class starts once they have. "
        f"*{SOON}*: the same, but a quick room: everyone presses Train {SOON_SECONDS:.0f} s after the page showed "
        "the run, whatever the warm-ups have done by then. *Now* is then a class whose pages never showed the run "
        "before Train was pressed (runs submitted straight away): the harshest start. "
        f"*{OWN}*: as *now*, but each visitor set a seed of their own (the way this section ran before).",
        "", "| visitors | way | first, s | median, s | last, s | workers used | bound, s | last / bound | "
        "alone bound, s | last / alone bound |", "|---|---|---|---|---|---|---|---|---|---|", *rows]))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.room", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("short", "class"))
    args = parser.parse_args(argv)
    report = Report(Settings.for_mode(args.quick))
    report.write = lambda finished=False: None  # print only; `python -m benchmarks` writes docs/benchmarks.md
    for name, section in (("short", short_runs), ("class", class_runs)):
        if args.only in (None, name):
            section(report, name)
            print(f"\n## {name}\n\n{report.sections[name]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
