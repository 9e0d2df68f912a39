"""Short runs on a local Ray cluster: a class starting the same lesson step at once, through the registry and
the Ray executor (core.runs.ray_server).

`ray_class(report, title)` is a section for `python -m benchmarks`; `python -m benchmarks.ray_runs [--runs N]`
prints the same figures on their own. `class_on_ray(...)` returns them as numbers.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

from benchmarks.common import Report, fmt, median

TITLE = "Short runs on a local Ray cluster"
LESSON_STEP = {"arch": "mlp-128-64", "epochs": 2, "limit": 10000}


def class_on_ray(runs: int = 10, cluster_cpus: int = 2, cpus_per_run: int = 1, step: dict | None = None,
                 warm: bool = False) -> dict:
    """`runs` visitors submit the same short run at the same moment to a fresh local Ray cluster of
    `cluster_cpus` CPUs (as many runs at once as it holds, `cpus_per_run` each). Seconds from submitting to each
    result, each run's own wall time (slot to result) and training (`fit`) time, and the worker
    processes that trained them. The cluster's own start is not counted; with `warm`, neither is starting the
    executor's actors (as an app that started them with the server), else they start with the first runs."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from core.fit.config import TrainConfig
    from core.runs.queue import JobRegistry
    from core.runs.ray_server import RayExecutor
    from core.store import ModelStore

    config = TrainConfig.for_preset(**(step or LESSON_STEP))
    address = os.environ.pop("RAY_ADDRESS", None)  # a local cluster, whatever the environment says
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=cluster_cpus, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor(cpus=cpus_per_run)
        if warm:  # as the app does (RayExecutor.warm_up, from default_registry), waited for here
            ray.get(executor.pool.start(), timeout=600)
        with tempfile.TemporaryDirectory() as folder:
            registry = JobRegistry(max(1, cluster_cpus // cpus_per_run), ModelStore(folder), executor)
            start = time.perf_counter()
            jobs = [registry.submit(config.replace(name=f"visitor-{i + 1}"), owner=f"visitor-{i + 1}")
                    for i in range(runs)]
            results: dict[str, float] = {}
            while len(results) < runs:
                for job in jobs:
                    if job.id not in results and job.wait(timeout=0):
                        results[job.id] = time.perf_counter() - start
                time.sleep(0.05)
            progress = [job.progress() for job in jobs]
            close = getattr(executor, "close", None)  # (an executor without warm actors has none)
            if close is not None:
                close()
    finally:
        ray.shutdown()
        if address is not None:
            os.environ["RAY_ADDRESS"] = address
    failed = [p.error for p in progress if p.result is None]
    if failed:
        raise RuntimeError(f"{len(failed)} of {runs} runs failed: {failed[0]}")
    done = sorted(results.values())
    train = [p.result.train_seconds for p in progress]
    return {"runs": runs, "cluster_cpus": cluster_cpus, "config": config, "warm": warm, "first": done[0],
            "median": statistics.median(done), "last": done[-1], "per_run_wall": [p.elapsed for p in progress],
            "per_run_train": train, "bound": sum(train) / cluster_cpus,
            "workers": len({job.worker_pid for job in jobs})}


def ray_class(report: Report, title: str = TITLE) -> None:
    """The section: ten visitors (three in --quick) start the lesson step at once on a 2-CPU local cluster, with
    the actors started by the first runs and started beforehand; then thirty (six), actors started beforehand."""
    small, large = (3, 6) if report.settings.quick else (10, 30)
    figures = [class_on_ray(small, warm=False), class_on_ray(small, warm=True), class_on_ray(large, warm=True)]
    config = figures[0]["config"]
    rows = [f"| {f['runs']} | {'started beforehand' if f['warm'] else 'started by the first runs'} | "
            f"{fmt(f['first'])} | {fmt(f['median'])} | {fmt(f['last'])} | {fmt(f['bound'])} | "
            f"{f['last'] / f['bound']:.2f}x | "
            f"{fmt(median(f['per_run_wall']))} ({fmt(min(f['per_run_wall']))}-{fmt(max(f['per_run_wall']))}) | "
            f"{fmt(median(f['per_run_train']))} | {f['workers']} |" for f in figures]
    report.add(title, "\n".join([
        f"N visitors submit the same run ({config.arch}, {config.epochs} epochs, {config.limit:,} samples) at "
        f"the same moment to a fresh local Ray cluster of {figures[0]['cluster_cpus']} CPUs, one CPU per run, "
        "through the job registry and the Ray executor (warm actors, core.runs.ray_server.ActorPool). Seconds "
        "from submitting; the cluster's own start is not counted. The compute-only bound is the runs' training "
        "(`fit`) seconds summed, over the cluster's CPUs.", "",
        "| visitors | actors | first result | median result | last result | compute-only bound | last / bound | "
        "a run's wall time, median (range) | its `fit` | worker processes |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows]))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.ray_runs", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", action="store_true", help="start the actors before the class presses Train")
    args = parser.parse_args(argv)
    f = class_on_ray(args.runs, warm=args.warm) if args.warm else class_on_ray(args.runs)
    walls = ", ".join(f"{w:.1f}" for w in f["per_run_wall"])
    print(f"first {f['first']:.1f} s, median {f['median']:.1f} s, last {f['last']:.1f} s, bound {f['bound']:.1f} s; "
          f"per-run wall {walls}; {f['workers']} worker process(es)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
