"""Training jobs and their queue: a run waiting for a slot, where it trains, and the registry of runs.

The queue is fair between owners (the visitors who started the runs): the next run to start is
the oldest of the owner who was served least recently, and an owner may have at most
`max_per_owner` runs queued or training. A run's progress is core.fit.progress; its names are
re-exported here, so `from core.runs.queue import JobState, ProgressRecorder` keeps working.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from core.fit.config import TrainConfig
from core.fit.probe import ProbeBox
from core.fit.progress import JobState, Progress, ProgressRecorder, StopRequested
from core.runs.steering import SteerableJob

if TYPE_CHECKING:
    from core.store import ModelStore
    from core.store.snapshots import Snapshot


class QueueLimitError(RuntimeError):
    """An owner already has as many runs queued or training as the registry allows; the message says so."""


class QueuedJob(SteerableJob):
    """One run as the registry sees it: waits for a slot in its own thread, then `_execute()` trains it.

    Subclasses say where the training happens (a thread here, a worker process, a Ray task);
    this class owns the slot, Stop, waiting and progress, so every kind behaves the same. Pause, Resume,
    Step and mid-run changes come from SteerableJob (core.runs.steering).
    """

    def __init__(self, job_id: str, config: TrainConfig, store: "ModelStore", registry: "JobRegistry"):
        self.id = job_id
        self.config = config
        self.store = store
        self.created = time.time()
        self.recorder = ProgressRecorder(job_id, config)
        self._registry = registry
        self._stop = threading.Event()
        self._done = threading.Event()  # waited on instead of join(): a Ctrl-C inside join() can spoil it
        self._probe = ProbeBox()        # the user's drawing, predicted with every snapshot
        self._thread = threading.Thread(target=self._run, name=f"train-{job_id}", daemon=True)

    @property
    def state(self) -> JobState:
        return self.recorder.state

    @property
    def owner(self) -> str | None:
        """Who started the run (a visitor's name), None when nobody said."""
        return self._registry.owner(self.id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to end after the current batch; what it learned so far is kept and saved."""
        self._stop.set()
        self.recorder.request_stop()
        self._registry.notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done (for scripts and tests); True if it is."""
        self._done.wait(timeout)
        return self.state.done

    def progress(self) -> Progress:
        return self.recorder.snapshot(self._registry.queue_position(self.id))

    def snapshots(self, since: int = 0) -> list[Snapshot]:
        """The run's snapshots numbered `since` or later (Snapshot.seq), for replay; Progress has the latest."""
        return self.recorder.snapshots(since)

    def set_probe(self, image28) -> int:
        """Hand the run a drawing (28x28, float in [0, 1]; None clears it): its next snapshots predict it too.
        Returns the drawing's version (Snapshot.probe_version says which drawing an answer is for)."""
        self._probe.set(image28)
        version, image = self._probe.get()
        self._probe_changed(version, image)
        return version

    def probe(self) -> tuple[int, Any]:
        """(version, image) of the drawing last handed over; (0, None) if none."""
        return self._probe.get()

    def _probe_changed(self, version: int, image) -> None:
        """Hook: pass a new drawing on to where the run trains (the thread reads the box itself)."""

    def _execute(self) -> None:
        """Train the run and end with recorder.finished(...) or recorder.failed(...)."""
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._registry.wait_for_slot(self.id, self._stop.is_set)
        except StopRequested:
            self.recorder.finished(None, stopped=True)
            self._done.set()
            return
        self.recorder.phase_took("queue", time.time() - self.created)
        try:
            self.recorder.started(stopping=self._stop.is_set())
            if self._stop.is_set():
                self.recorder.finished(None, stopped=True)
            else:
                self._execute()
                self._sign_model()
        except Exception as exc:  # a failed run reports why; the app and other runs keep going
            traceback.print_exc()
            self.recorder.failed(f"{type(exc).__name__}: {exc}")
        finally:
            if not self.recorder.state.done:
                self.recorder.failed("the run ended without a result")
            self._registry.release(self.id)
            self._done.set()

    def _sign_model(self) -> None:
        """Write the owner into the saved model's metadata, where the run's trainer did not (a worker, Ray)."""
        result, owner = self.recorder.snapshot().result, self.owner
        if result is None or owner is None:
            return
        try:
            self.store.set_author(result.model_name, owner)
        except Exception:  # the model is saved and usable; only its author is missing
            traceback.print_exc()


class JobRegistry:
    """All jobs of this process, findable by id; at most `max_running` train at once, the rest wait.

    A job is anything with `id`, `state`, `stop()`, `wait()`, `progress()` and `start()`;
    `job_factory(job_id, config, store, registry)` makes one (core.runs.executors.job_factory gives them).
    With `cores` (the machine's cores), a job that says how many cores it trains on (`job.cores`, see
    core.runs.sizing) takes that many, and runs start side by side while their cores fit: small runs on one
    core each, a large one alone on all of them; a job that does not say takes them all. Without `cores`,
    only `max_running` limits them.
    Each run may have an owner (a visitor's name; None = nobody said, all such runs count as one owner).
    Waiting runs start in a fair order (`queue()`): the owner served least recently goes next, with
    their oldest run, so one visitor's many runs alternate with everyone else's. With `max_per_owner`,
    `submit` refuses a named owner's run beyond that many queued or training (QueueLimitError).
    """

    def __init__(self, max_running: int, store: "ModelStore | None", job_factory: Callable[..., Any],
                 max_per_owner: int | None = None, cores: int | None = None):
        if not isinstance(max_running, int) or max_running < 1:
            raise ValueError("max_running must be a whole number, at least 1")
        if cores is not None and (not isinstance(cores, int) or cores < 1):
            raise ValueError("cores must be a whole number, at least 1, or None")
        if not callable(job_factory):
            raise TypeError("job_factory must make jobs: see core.runs.executors.job_factory")
        if max_per_owner is not None and (not isinstance(max_per_owner, int) or max_per_owner < 1):
            raise ValueError("max_per_owner must be a whole number, at least 1, or None")
        self.max_running = max_running
        self.max_per_owner = max_per_owner
        self.cores = cores
        self.store = store
        self._job_factory = job_factory
        self._jobs: dict[str, Any] = {}
        self._owners: dict[str, str | None] = {}
        self._waiting: list[str] = []              # in the order submitted; queue() gives the fair order
        self._running: set[str] = set()
        self._served: dict[str | None, int] = {}   # owner -> when their latest run started (a counter)
        self._starts = itertools.count(1)
        self._cond = threading.Condition()
        self._ids = itertools.count(1)

    def expect(self, config: TrainConfig) -> bool:
        """A visitor is about to start a run like `config` (the Train page shows it): the executor may
        get ready for it (a worker pool's idle workers warm its kind, core.runs.warm_up). True if it did."""
        expect = getattr(self._job_factory, "expect", None)
        return bool(expect(config)) if expect is not None else False

    def submit(self, config: TrainConfig, store: "ModelStore | None" = None, owner: str | None = None):
        """Queue a run for `owner`; it starts when a slot is free and its turn comes (QueueLimitError if
        the owner already has `max_per_owner` runs queued or training)."""
        from core.store import ModelStore

        if owner is not None and not isinstance(owner, str):
            raise TypeError(f"owner must be a name or None (got {type(owner).__name__})")
        with self._cond:
            if owner is not None and self.max_per_owner is not None:
                mine = [i for i, o in self._owners.items() if o == owner and not self._jobs[i].state.done]
                if len(mine) >= self.max_per_owner:
                    raise QueueLimitError(
                        f"{owner} already has {len(mine)} run{'s' if len(mine) != 1 else ''} queued or training "
                        f"(at most {self.max_per_owner} each, so that everyone gets a turn). "
                        "Wait for one to finish, or stop one.")
            job_id = f"job-{next(self._ids)}-{int(time.time() * 1000) % 100000:05d}"
            self._owners[job_id] = owner
            job = self._job_factory(job_id, config, store or self.store or ModelStore(), self)
            self._jobs[job_id] = job
            self._waiting.append(job_id)
        job.start()
        return job

    def get(self, job_id: Any):
        with self._cond:
            return self._jobs.get(job_id) if isinstance(job_id, str) else None

    def owner(self, job_id: str) -> str | None:
        """Who started `job_id` (None when nobody said, or the job is unknown)."""
        with self._cond:
            return self._owners.get(job_id)

    def jobs(self) -> list:
        with self._cond:
            return list(self._jobs.values())

    def active(self) -> list:
        """Jobs queued or training, oldest first."""
        return [j for j in self.jobs() if not j.state.done]

    def _fair_order(self) -> list[str]:
        """The waiting ids in the order they will start if nothing else arrives (call with the lock held).

        Round-robin by owner: the owner whose latest run started longest ago (or never) goes next,
        ties to the owner whose oldest waiting run came first; each owner's runs keep their own order."""
        per_owner: dict[str | None, list[str]] = {}
        for job_id in self._waiting:
            per_owner.setdefault(self._owners.get(job_id), []).append(job_id)
        served = {owner: self._served.get(owner, 0) for owner in per_owner}
        arrival = {job_id: i for i, job_id in enumerate(self._waiting)}
        order, turn = [], max(self._served.values(), default=0)
        while per_owner:
            owner = min(per_owner, key=lambda o: (served[o], arrival[per_owner[o][0]]))
            order.append(per_owner[owner].pop(0))
            if not per_owner[owner]:
                del per_owner[owner]
            turn += 1
            served[owner] = turn
        return order

    def queue(self) -> list[str]:
        """Ids of the jobs waiting for a slot, next to start first."""
        with self._cond:
            return self._fair_order()

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when not waiting."""
        with self._cond:
            if job_id not in self._waiting:
                return None
            return self._fair_order().index(job_id) + 1

    def _cores_of(self, job_id: str) -> int:
        """Cores the job trains on, as the registry counts them (call with the lock held)."""
        wanted = getattr(self._jobs.get(job_id), "cores", None)
        return self.cores if wanted is None else max(1, min(int(wanted), self.cores))

    def _fits(self, job_id: str) -> bool:
        """A slot is free for `job_id` now: fewer than max_running train, and its cores are free (lock held)."""
        if len(self._running) >= self.max_running:
            return False
        if self.cores is None:
            return True
        return sum(self._cores_of(i) for i in self._running) + self._cores_of(job_id) <= self.cores

    def running(self) -> list[str]:
        """Ids of the jobs training now."""
        with self._cond:
            return sorted(self._running)

    def wait_for_slot(self, job_id: str, stop_requested: Callable[[], bool]) -> None:
        """Block until `job_id`'s turn has come and a slot is free; StopRequested if it is stopped meanwhile.
        Only the first of the fair order may start: a large run that waits for all the cores is not
        overtaken by small runs behind it."""
        with self._cond:
            while not (self._fair_order()[0] == job_id and self._fits(job_id)):
                if stop_requested():
                    self._waiting.remove(job_id)
                    self._cond.notify_all()
                    raise StopRequested
                self._cond.wait()
            self._waiting.remove(job_id)
            self._running.add(job_id)
            self._served[self._owners.get(job_id)] = next(self._starts)
            self._cond.notify_all()

    def release(self, job_id: str) -> None:
        """A job's slot is free again."""
        with self._cond:
            self._running.discard(job_id)
            self._cond.notify_all()

    def notify(self) -> None:
        """Wake the waiting jobs (one of them may have been asked to stop)."""
        with self._cond:
            self._cond.notify_all()


def default_max_jobs() -> int:
    """Half the cores, at least 1: for runs that share this process's TensorFlow (the thread executor)."""
    return max(1, (os.cpu_count() or 2) // 2)


def max_jobs_from_env(default: int | None = None) -> int:
    """$DIGIT_STUDIO_MAX_JOBS, else `default` (else half the cores); a bad value falls back to the default
    rather than stopping the app. For worker processes it is only a cap: their cores decide (JobRegistry)."""
    fallback = default_max_jobs() if default is None else max(1, int(default))
    try:
        return max(1, int(os.environ.get("DIGIT_STUDIO_MAX_JOBS", fallback)))
    except ValueError:
        return fallback


DEFAULT_MAX_PER_VISITOR = 2


def max_per_visitor_from_env() -> int:
    """$DIGIT_STUDIO_MAX_RUNS_PER_VISITOR: runs one named visitor may have queued or training (default 2)."""
    try:
        return max(1, int(os.environ.get("DIGIT_STUDIO_MAX_RUNS_PER_VISITOR", DEFAULT_MAX_PER_VISITOR)))
    except ValueError:
        return DEFAULT_MAX_PER_VISITOR
