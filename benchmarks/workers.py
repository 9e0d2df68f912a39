"""Runs in worker processes: how long a run takes to start, and two runs at once against one after the other.

`worker_runs(report)` is a section for `python -m benchmarks`; `python -m benchmarks.workers [--quick]`
prints the same section on its own.
"""
from __future__ import annotations

import os
import tempfile
import time

from benchmarks.common import Report, Settings, fmt, median
from core.data import datasets
from core.fit.config import TrainConfig
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.runs.workers import Worker, WorkerPool
from core.store import ModelStore

TITLE = "Training in worker processes"
STARTUP_CONFIG = TrainConfig.for_preset("cnn-bn", epochs=1, limit=1000)


def _first_batch_seconds(registry: JobRegistry, config: TrainConfig) -> float:
    """Seconds from submit to the first batch the server hears of; the run is then stopped."""
    start = time.perf_counter()
    job = registry.submit(config)
    while job.progress().steps == 0:
        if job.wait(timeout=0.005):
            raise RuntimeError(job.progress().error or "the run ended before its first batch")
    seconds = time.perf_counter() - start
    job.stop()
    job.wait(timeout=120)
    return seconds


def startup(runs: int, store: ModelStore) -> dict[str, list[float]]:
    """Submit-to-first-batch: a thread here (TensorFlow already imported), a cold worker, a warm spare;
    and spawn-to-ready of one worker (process start plus the TensorFlow import)."""
    times: dict[str, list[float]] = {"thread": [], "cold": [], "warm": [], "ready": []}
    thread = JobRegistry(1, store, TrainingJob)
    _first_batch_seconds(thread, STARTUP_CONFIG)  # TensorFlow's one-time set-up in this process, off the clock
    for i in range(runs):
        print(f"[workers] start-up {i + 1}/{runs}", flush=True)
        times["thread"].append(_first_batch_seconds(thread, STARTUP_CONFIG))
        times["cold"].append(_first_batch_seconds(JobRegistry(1, store, WorkerPool()), STARTUP_CONFIG))
        worker = Worker()
        if not worker.wait_ready(180):
            raise RuntimeError("a worker did not get ready in 180 s")
        times["ready"].append(time.perf_counter() - worker.started_at)
        worker.end()
        pool = WorkerPool(spares=1, prewarm=True)
        try:
            if not pool.wait_ready(180):
                raise RuntimeError("the spare did not get ready in 180 s")
            times["warm"].append(_first_batch_seconds(JobRegistry(1, store, pool), STARTUP_CONFIG))
        finally:
            pool.close()
    return times


def throughput(config: TrainConfig, store: ModelStore, runs: int) -> list[dict[str, float]]:
    """Per repetition, wall seconds for two runs of `config` in worker processes (each spawned for its run):
    one after the other, then both at once; and the sum of the two runs' training seconds."""
    pairs = []
    for i in range(runs):
        figures = {}
        for label, slots in (("sequential", 1), ("parallel", 2)):
            print(f"[workers] {i + 1}/{runs}: two {config.arch} runs, {label}", flush=True)
            registry = JobRegistry(slots, store, WorkerPool())
            start = time.perf_counter()
            jobs = [registry.submit(config.replace(seed=seed)) for seed in (1, 2)]
            for job in jobs:
                job.wait(timeout=3600)
                if job.progress().error:
                    raise RuntimeError(job.progress().error)
            figures[label] = time.perf_counter() - start
            figures[f"{label}_train"] = sum(job.progress().result.train_seconds for job in jobs)
        pairs.append(figures)
    return pairs


def worker_runs(report: Report, title: str = TITLE) -> None:
    """The section: start-up figures and the two-runs throughput comparison."""
    s = report.settings
    runs = 1 if s.quick else 3
    config = TrainConfig.for_preset("cnn-bn", epochs=1, limit=1000 if s.quick else 10000)
    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(folder)
        times = startup(runs, store)
        pairs = throughput(config, store, runs)
    spec = datasets.get(config.dataset)
    samples = 2 * datasets.split_sizes(spec.train_size, config.validation_split, config.limit)[0]
    ratio = median([p["parallel"] / p["sequential"] for p in pairs])
    slowdown = median([p["parallel_train"] / p["sequential_train"] for p in pairs])
    rows = [
        f"| in a thread of the server (TensorFlow loaded already) | {fmt(median(times['thread']), 2)} |",
        f"| in a new worker process (cold: spawn + TensorFlow import) | {fmt(median(times['cold']), 2)} |",
        f"| in a warm spare worker (the app's default) | {fmt(median(times['warm']), 2)} |",
        f"| a worker's spawn + TensorFlow import alone (until it is ready) | {fmt(median(times['ready']), 2)} |",
    ]
    pair_rows = [f"| {i + 1} | {p['sequential']:.1f} ({samples / p['sequential']:,.0f}/s) | "
                 f"{p['parallel']:.1f} ({samples / p['parallel']:,.0f}/s) | {p['parallel'] / p['sequential']:.2f} | "
                 f"{p['sequential_train']:.1f} / {p['parallel_train']:.1f} |" for i, p in enumerate(pairs)]
    verdict = ("faster" if ratio < 0.95 else "slower" if ratio > 1.05 else "no faster")
    report.add(title, "\n".join([
        f"Start-up: seconds from submitting a `{STARTUP_CONFIG.arch}` run ({STARTUP_CONFIG.limit} samples) to the "
        f"first batch the server hears of, median of {runs}. Data split, model build and the first step's tracing "
        "are in every figure; the cold worker adds spawning a process and importing TensorFlow, which a warm "
        "spare (started with the app, replaced after each run's first batch) has done already.", "",
        "| where the run starts | to first batch, s |", "|---|---|", *rows, "",
        f"Throughput: two `{config.arch}` runs ({config.limit} samples, 1 epoch, seeds 1 and 2), each in a worker "
        "process spawned for it (no spare, so both ways pay the same start-up): wall seconds from submitting both "
        "to both tested and saved, one after the other (DIGIT_STUDIO_MAX_JOBS=1) and both at once (=2), and the "
        "sum of the two runs' training (`fit`) seconds.", "",
        "| pair | one after the other, s (samples/s) | both at once, s (samples/s) | at once / after | "
        "training s, after / at once |", "|---|---|---|---|---|", *pair_rows, "",
        f"**Both at once: {ratio:.2f}x the wall time of one after the other** (median of {runs} pairs), so "
        f"{verdict} on this machine ({os.cpu_count()} cores): sharing the cores, each run's training took "
        f"{slowdown:.2f}x as long as alone (TensorFlow spreads one run over every core already); what both at "
        "once can gain is one run's start-up and testing overlapping the other's training."]))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report = Report(Settings.for_mode(args.quick))
    report.write = lambda finished=False: None  # print only; `python -m benchmarks` writes docs/benchmarks.md
    worker_runs(report)
    print(f"\n## {TITLE}\n\n{report.sections[TITLE]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
