"""Where runs train: a thread of this process, a spawned worker process (the app's default), or a Ray cluster.

`job_factory(name)` makes what JobRegistry needs to make jobs of that kind; `default_registry()` is the
app's process-wide registry, handed the executor $DIGIT_STUDIO_EXECUTOR names. The one module that
knows every executor: the queue knows none of them.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable

from core.runs.queue import JobRegistry, max_jobs_from_env, max_per_visitor_from_env

EXECUTORS = ("thread", "process", "ray")
EXECUTOR_ENV = "DIGIT_STUDIO_EXECUTOR"
SPARES_ENV = "DIGIT_STUDIO_SPARE_WORKERS"


def executor_from_env(default: str = "process") -> str:
    """$DIGIT_STUDIO_EXECUTOR (thread, process or ray); an unknown value is named on stderr and `default` used."""
    value = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if value and value not in EXECUTORS:
        print(f"{EXECUTOR_ENV}={value!r} is not one of {', '.join(EXECUTORS)}; using {default}", file=sys.stderr)
        return default
    return value or default


def job_factory(name: str, **options) -> Callable[..., Any]:
    """What JobRegistry(job_factory=...) needs for executor `name`."""
    if name == "thread":
        from core.runs.thread import TrainingJob

        return TrainingJob
    if name == "process":
        from core.runs.workers import WorkerPool

        return WorkerPool(**options)
    if name == "ray":
        from core.runs.ray_server import RayExecutor

        return RayExecutor(**options)
    raise ValueError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")


def app_job_factory() -> Callable[..., Any]:
    """The app's executor ($DIGIT_STUDIO_EXECUTOR, default process); for process workers,
    $DIGIT_STUDIO_SPARE_WORKERS warm spares (default 1; about 300 MB each when idle), not started yet
    (start_spares_in_background)."""
    executor = executor_from_env()
    if executor != "process":
        return job_factory(executor)
    try:
        spares = max(0, int(os.environ.get(SPARES_ENV, "1")))
    except ValueError:
        spares = 1
    return job_factory("process", spares=spares)


_registry: JobRegistry | None = None
_registry_lock = threading.Lock()


def default_registry() -> JobRegistry:
    """The process-wide registry (so a reloaded page finds its job); runs train where $DIGIT_STUDIO_EXECUTOR
    says: in a worker process by default (its warm spares started in the background), a thread, or a Ray
    cluster (its warm actors started now, in the background)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            factory = app_job_factory()
            _registry = registry_for(executor_from_env(), factory)
            warm_up = getattr(factory, "warm_up", None)  # Ray's actors: joining the cluster takes seconds
            if warm_up is not None:
                threading.Thread(target=warm_up, name="executor-warm-up", daemon=True).start()
            start_spares_in_background(factory)
        return _registry


def start_spares_in_background(factory: Callable[..., Any]) -> threading.Thread | None:
    """Start a worker pool's spares in a thread of their own, so that nobody waits for them: starting a worker
    waits until the forkserver has imported TensorFlow (seconds of CPU, at the workers' lower priority), and
    the page that first asked for the registry must not. A run submitted meanwhile takes the spare once it is
    ready. The thread, or None when there are no spares to start."""
    if not getattr(factory, "spares", 0) or not callable(getattr(factory, "top_up", None)):
        return None
    thread = threading.Thread(target=factory.top_up, name="start-spare-workers", daemon=True)
    thread.start()
    return thread


def registry_for(executor: str, factory: Callable[..., Any]) -> JobRegistry:
    """A registry for `executor`'s jobs. Worker processes share out the machine's cores (small runs side by
    side, core.runs.sizing), with $DIGIT_STUDIO_MAX_JOBS only as a cap; threads of this process, or Ray tasks,
    run $DIGIT_STUDIO_MAX_JOBS at once (default half the cores)."""
    if executor == "process":
        cores = os.cpu_count() or 1
        return JobRegistry(max_jobs_from_env(default=cores), None, factory, max_per_owner=max_per_visitor_from_env(),
                           cores=cores)
    return JobRegistry(max_jobs_from_env(), None, factory, max_per_owner=max_per_visitor_from_env())
