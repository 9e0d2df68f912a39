"""Each run in its own worker process: a crash ends one run only, and no TensorFlow state passes between runs.

WorkerPool is the job factory (JobRegistry(job_factory=WorkerPool())). Workers are forked by a
forkserver that imported TensorFlow, the training code and the default dataset once
(core.runs.worker_preload) and never ran a TensorFlow op, so a worker starts in about a second
instead of importing TensorFlow itself; the server never forks itself. A worker waits for one run;
its recorder events come back as plain tuples over a pipe and Stop is a shared Event its Keras callback
reads. With `spares`, that many workers are kept started and idle. A worker ends with its server:
daemon processes, an atexit hook, and, should the server be killed outright, the worker notices the
server is gone and exits.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import time

from core.fit.probe import SharedProbe
from core.runs.out_of_process import OutOfProcessJob, describe_exit, run_in_worker, stop_grace_from_env

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["core.runs.worker_preload"])  # an ImportError there only makes workers slower
# Training runs at a lower CPU priority than the server, so predictions for drawings are answered
# first: with both at the same priority, two TensorFlow runtimes on 2 cores doubled stroke latency.
WORKER_NICENESS = 10
_live: set["Worker"] = set()
_live_lock = threading.Lock()


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (dead, its parent has not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def _watch_parent(parent_pid: int) -> None:
    """In a worker: exit as soon as the server is gone (a killed server runs no atexit hook). The worker's
    own parent is the forkserver, which outlives the server while workers hold its pipe: watch the server."""
    def watch():
        while _alive(parent_pid):
            time.sleep(0.5)
        os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker_main(jobs, events, stop, parent_pid: int, probe=None, environ: dict | None = None) -> None:
    """A worker process: import TensorFlow and the training code, then train the one run it is sent.
    `environ`: the server's environment when the worker was started (the forkserver's is older)."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches the server, which stops the run
    os.nice(max(0, WORKER_NICENESS - os.nice(0)))  # strokes on the server first (forked already niced)
    _watch_parent(parent_pid)
    from core.runs.quiet import filter_native_logs

    filter_native_logs()  # TensorFlow's native start-up lines stay off the server's console
    import core.fit.training  # noqa: F401  the slow part: already done in the forkserver (worker_preload)
    from core.data import datasets

    datasets.load(datasets.DEFAULT_DATASET)  # likewise: read and checked once, before the fork
    events.send(("ready", time.perf_counter()))
    try:
        job = jobs.recv()
    except EOFError:  # the server let this spare go
        return
    if job is None:
        return
    from core.fit.config import TrainConfig
    from core.store import ModelStore

    events.send(("started", os.getpid()))
    run_in_worker(job["job_id"], TrainConfig.from_dict(job["config"]), events.send, stop.is_set,
                  ModelStore(job["store"]), probe=probe.get if probe is not None else None)
    events.close()


class Worker:
    """One worker process and its ends of the two pipes and the stop flag."""

    def __init__(self):
        jobs_out, jobs_in = _CONTEXT.Pipe(duplex=False)      # server -> worker: the run
        events_out, events_in = _CONTEXT.Pipe(duplex=False)  # worker -> server: its events
        self.stop = _CONTEXT.Event()
        self.probe = SharedProbe(_CONTEXT)  # the user's drawing, read by the run's snapshots
        self.ready = False  # its "ready" message was read (by wait_ready; else a run's events start with it)
        self.process = _CONTEXT.Process(target=worker_main,
                                      args=(jobs_out, events_in, self.stop, os.getpid(), self.probe, dict(os.environ)),
                                      name="digit-studio-worker", daemon=True)
        self.started_at = time.perf_counter()
        self.process.start()
        jobs_out.close(), events_in.close()  # the worker holds these now: EOF when it ends
        self.jobs, self.events = jobs_in, events_out
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until this idle worker has imported TensorFlow (for tests and benchmarks); True if it has."""
        if not self.ready:
            try:
                self.ready = self.events.poll(timeout) and self.events.recv()[0] == "ready"
            except (EOFError, OSError):
                return False
        return bool(self.ready)

    def send_run(self, job_id: str, config, store_root) -> None:
        self.jobs.send({"job_id": job_id, "config": config.to_dict(), "store": str(store_root)})
        self.jobs.close()

    def end(self, wait: float = 5.0) -> None:
        """Terminate (SIGTERM), then kill if it has not ended within `wait` seconds."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(wait)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(wait)
        self.forget()

    def forget(self) -> None:
        for conn in (self.jobs, self.events):
            conn.close()
        with _live_lock:
            _live.discard(self)


class ProcessJob(OutOfProcessJob):
    """A run in a worker process taken from its pool."""

    def __init__(self, job_id, config, store, registry, pool: "WorkerPool"):
        super().__init__(job_id, config, store, registry, grace=pool.grace)
        self._pool = pool
        self._worker: Worker | None = None
        self._probe_lock = threading.Lock()

    def _probe_changed(self, version: int, image) -> None:
        with self._probe_lock:
            if self._worker is not None:
                self._worker.probe.set(image, version)

    def _execute(self) -> None:
        worker = self._pool.take()
        self.worker_pid = worker.pid
        with self._probe_lock:
            self._worker = worker
            version, image = self.probe()
            if version:
                worker.probe.set(image, version)
        try:
            worker.send_run(self.id, self.config, self.store.root)
        except OSError:  # a spare that died as it was handed out: its exit status says why
            pass
        try:
            self._follow(worker)
        finally:
            self._pool.top_up()

    def _follow(self, worker: Worker) -> None:
        while True:
            if self._stop.is_set() and not worker.stop.is_set():
                worker.stop.set()
            if self._overdue():
                worker.end(wait=2.0)
                self._end_forced()
                return
            try:
                if worker.events.poll(0.1):
                    self._apply(worker.events.recv())
            except (EOFError, OSError):  # the worker is gone: it closed its end, or died
                break
        worker.process.join(10)
        if worker.alive():  # done with its run but stuck on the way out
            worker.end(wait=2.0)
        exitcode = worker.process.exitcode
        worker.forget()
        self._end_with_outcome(f"The training process ended unexpectedly ({describe_exit(exitcode)}).")

    def _first_batch(self) -> None:
        self._pool.top_up()  # start the next spare once this run is past its own start-up


class WorkerPool:
    """Job factory: every run in a new worker process; `spares` of them kept started and waiting.

    With `prewarm` the spares start now, else with the first run. A worker trains one run and exits,
    so no TensorFlow state (or leak) passes from one run to the next.
    """

    def __init__(self, spares: int = 0, grace: float | None = None, prewarm: bool = False):
        self.spares = max(0, int(spares))
        self.grace = stop_grace_from_env() if grace is None else grace
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        if prewarm:
            self.top_up()

    def __call__(self, job_id, config, store, registry) -> ProcessJob:
        return ProcessJob(job_id, config, store, registry, self)

    def take(self) -> Worker:
        """A started spare (the oldest alive), or a new worker."""
        with self._lock:
            while self._idle:
                worker = self._idle.pop(0)
                if worker.alive():
                    return worker
                worker.forget()
        return Worker()

    def top_up(self) -> None:
        with self._lock:
            self._idle = [w for w in self._idle if w.alive() or w.forget()]
            while not self._closed and len(self._idle) < self.spares:
                self._idle.append(Worker())

    def idle_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._idle]

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until every spare has imported TensorFlow; True if they all have."""
        with self._lock:
            idle = list(self._idle)
        deadline = time.monotonic() + timeout
        return all(w.wait_ready(max(0.0, deadline - time.monotonic())) for w in idle)

    def close(self) -> None:
        """End the spares (running workers end with their runs)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.end(wait=2.0)


@atexit.register
def _end_all_workers() -> None:
    """The server is exiting: no worker outlives it."""
    with _live_lock:
        workers = list(_live)
    for worker in workers:
        worker.end(wait=2.0)
