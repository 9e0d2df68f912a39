"""Runs in worker processes kept warm from run to run: a crash ends one run only, and a reused worker trains
each run from fresh weights.

WorkerPool is the job factory (JobRegistry(job_factory=WorkerPool())). Workers are forked by a forkserver
that imported TensorFlow, the training code and the default dataset once (core.runs.worker_preload) and never
ran a TensorFlow op, so a new worker starts in about a second and shares the dataset's pages with the others;
the server never forks itself. Each worker trains on a fixed number of TensorFlow threads (set before its
first op, core.runs.sizing decides how many a run gets), then waits for its next run of the same size: after
each run it clears Keras' session and reports its memory, and the pool retires it when that grew too much or
after MAX_RUNS runs. Recorder events come back as plain tuples over a pipe; Stop is a shared Event its Keras
callback reads. A worker ends with its server: daemon processes, an atexit hook, and, should the server be
killed outright, the worker notices the server is gone and exits.
"""
from __future__ import annotations

import atexit
import gc
import multiprocessing
import os
import signal
import threading
import time
import traceback

from core.fit.config import TrainConfig
from core.fit.control import SharedControl
from core.fit.probe import SharedProbe
from core.runs.out_of_process import OutOfProcessJob, describe_exit, run_in_worker, stop_grace_from_env
from core.runs.warm_up import FIRST_WARM_UP, REMEMBERED, RecentKinds, kind_of

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["core.runs.worker_preload"])  # an ImportError there only makes workers slower
# Training runs at a lower CPU priority than the server, so predictions for drawings are answered
# first: with both at the same priority, two TensorFlow runtimes on 2 cores doubled stroke latency.
WORKER_NICENESS = 10
MAX_RUNS = 200         # a worker retires after this many runs,
MEMORY_GROWTH = 1.5    # or when its memory after a run is this many times what it was after its first
WARMED_AT_ONCE = REMEMBERED + 1  # kinds one warm-up covers: the latest runs' and the one a page shows
_FIRST_KIND = kind_of(FIRST_WARM_UP)
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


def _resident_bytes() -> int:
    """This process's resident memory (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _use_threads(threads: int | None) -> None:
    """Train on `threads` TensorFlow threads (before the first op; the forkserver ran none)."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _forget_run() -> None:
    """Between runs: free what the last run left (its data split, callbacks, saved copy). Its compiled model
    stays in core.fit.warm, to be reset for the next run of its kind; Keras' session is not cleared, which
    would also drop TensorFlow's kernel cache. With the imports frozen (gc.freeze) this takes tens of
    milliseconds, not most of a second."""
    gc.collect()


def worker_main(jobs, events, stop, parent_pid: int, probe=None, environ: dict | None = None,
                threads: int | None = None, control=None) -> None:
    """A worker process: train the runs it is sent, one after another, until it is sent None or its
    server is gone. `environ`: the server's environment when the worker was started (the forkserver's is
    older); `threads`: TensorFlow threads to train on (None: TensorFlow's default, every core); `control`:
    the SharedControl the server steers each run through (Pause, Step, a new learning rate)."""
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
    from core.fit.lr_range import config_from_dict
    from core.store import ModelStore

    _use_threads(threads)
    datasets.load(datasets.DEFAULT_DATASET)  # likewise: read and checked once, before the fork
    gc.freeze()  # TensorFlow's and Keras' own objects live as long as the worker: no collection walks them again
    events.send(("ready", time.perf_counter()))
    cold: list[dict] = []  # kinds a warm-up left unwarmed when something else was sent
    while True:
        try:
            job = jobs.recv()
        except EOFError:  # the server let this worker go
            return
        if job is None:
            return
        if "warm" in job:  # a spare's warm-up (core.runs.warm_up): the newest kinds first, then what was cut short
            todo, dropped = newest_first(job["warm"], cold)
            if dropped:
                events.send(("left_cold", dropped))
            cold = _warm_up(todo, jobs.poll, events.send)
            continue
        if cold:  # a run came first: the kinds left unwarmed stay cold, and the pool must not count them warm
            events.send(("left_cold", cold))
            cold = []
        events.send(("started", os.getpid()))
        run_in_worker(job["job_id"], config_from_dict(job["config"]), events.send, stop.is_set,
                      ModelStore(job["store"]), probe=probe.get if probe is not None else None, keep_warm=True,
                      control=control.get if control is not None else None)
        _forget_run()
        events.send(("idle", _resident_bytes()))


def _kind_of_values(values: dict) -> str | None:
    """kind_of for a config sent as a dict (None for one that is no longer a valid config)."""
    try:
        return kind_of(TrainConfig.from_dict(values))
    except Exception:  # only ever the pool's own to_dict(): a view on the pool's bookkeeping, never a run's end
        return None


def newest_first(new: list[dict], left: list[dict]) -> tuple[list[dict], list[dict]]:
    """What a worker warms when sent `new` kinds: those first, then the ones its last warm-up `left` unwarmed, at
    most WARMED_AT_ONCE (a worker keeps core.fit.warm.KEPT models: more would push out the newest); and the
    ones dropped, which stay cold."""
    todo = new + [values for values in left if values not in new]
    return todo[:WARMED_AT_ONCE], todo[WARMED_AT_ONCE:]


def _warm_up(configs: list[dict], run_waiting, send) -> list[dict]:
    """Warm each kind of run in `configs` (core.runs.warm_up) until something else is sent (a run, or more kinds
    to warm); then say ("warmed", how many). Returns the kinds left unwarmed: the one cut short and those after."""
    from core.runs.warm_up import warm_up

    warmed, left = 0, []
    for at, values in enumerate(configs):
        if run_waiting():
            left = configs[at:]
            break
        try:
            warm_up(TrainConfig.from_dict(values), run_waiting)
        except Exception:  # a warm-up is only a head start: the run itself reports any real problem
            traceback.print_exc()
            continue
        if run_waiting():  # cut short
            left = configs[at:]
            break
        warmed += 1
    _forget_run()
    send(("warmed", warmed))
    return left


class Worker:
    """One worker process and its ends of the two pipes and the stop flag; `threads` it trains on."""

    def __init__(self, threads: int | None = None):
        jobs_out, jobs_in = _CONTEXT.Pipe(duplex=False)      # server -> worker: the runs
        events_out, events_in = _CONTEXT.Pipe(duplex=False)  # worker -> server: its events
        self.threads = threads
        self.stop = _CONTEXT.Event()
        self.probe = SharedProbe(_CONTEXT)  # the user's drawing, read by the run's snapshots
        self.control = SharedControl(_CONTEXT)  # Pause, Step, a new rate: set for each run before it is sent
        self.ready = False  # its "ready" message was read (by wait_ready; else a run's events start with it)
        self.runs = 0       # runs it has trained
        self.last_arch: str | None = None  # the architecture of its last run
        self.last_used = 0.0  # when it was last handed a run (0: never)
        self.memory: list[int] = []  # its resident bytes after each run
        self.pending_warm_ups = 0  # warm-ups sent whose end it has not heard of
        # The kinds of run whose model it keeps warm (core.runs.warm_up.kind_of): those it was sent to warm, less any
        # a warm-up left cold, and those of its own runs.
        self.warmed_kinds: set[str] = set()
        self.run_kind: str | None = None  # its last run's kind: a warm-up that run cut short left it warm
        self.warmed_runs = 0  # kinds it said it warmed, as far as they were read (wait_warmed, a run's events)
        self.process = _CONTEXT.Process(target=worker_main,
                                      args=(jobs_out, events_in, self.stop, os.getpid(), self.probe, dict(os.environ),
                                            threads, self.control),
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

    @property
    def warming(self) -> bool:
        """It was sent a warm-up whose end it has not heard of (as far as its events were read)."""
        return self.pending_warm_ups > 0

    def send_warm_up(self, configs: list[dict]) -> bool:
        """Have this idle worker warm these kinds of run while it waits (core.runs.warm_up); one sent while it
        warms ends that warm-up at its next batch, then warms these and what it left (newest_first). False if it
        could not be sent (the worker died meanwhile: the pool drops it when it next looks)."""
        if not configs:
            return False
        try:
            self.jobs.send({"warm": configs})
        except OSError:
            return False
        self.pending_warm_ups += 1
        return True

    def wait_warmed(self, timeout: float) -> bool:
        """Wait until this idle worker's warm-up is over (for tests and benchmarks); True if it is."""
        deadline = time.monotonic() + timeout
        try:
            while self.warming and self.events.poll(max(0.0, deadline - time.monotonic())):
                event = self.events.recv()
                self.ready = self.ready or event[0] == "ready"
                self._heard(event)
        except (EOFError, OSError):
            return False
        return not self.warming

    def _heard(self, event: tuple) -> None:
        if event[0] == "warmed":
            self.pending_warm_ups = max(0, self.pending_warm_ups - 1)
            self.warmed_runs += int(event[1])
        elif event[0] == "left_cold":  # a warm-up ended before these kinds were warm (its own run's is, after it)
            self.warmed_kinds -= {_kind_of_values(values) for values in event[1]} - {self.run_kind}

    def send_run(self, job_id: str, config, store_root) -> None:
        self.stop.clear()  # a Stop meant for its last run
        self.last_arch, self.last_used = config.arch, time.monotonic()
        self.run_kind = kind_of(config)
        if self.run_kind is not None:
            self.warmed_kinds.add(self.run_kind)  # its compiled model is kept warm after the run (core.fit.warm)
        self.jobs.send({"job_id": job_id, "config": config.to_dict(), "store": str(store_root)})

    def wait_idle(self, timeout: float) -> bool:
        """After its run's last word: wait for the worker to be ready for the next one; True if it is.
        Records its memory then."""
        try:
            while self.events.poll(timeout):
                event = self.events.recv()
                if event[0] == "idle":
                    self.ready = True
                    self.runs += 1
                    self.memory.append(int(event[1]))
                    return True
        except (EOFError, OSError):
            pass
        return False

    def worn(self) -> bool:
        """Trained MAX_RUNS runs, or its memory grew past MEMORY_GROWTH times what it was after its first."""
        if self.runs >= MAX_RUNS:
            return True
        return len(self.memory) > 1 and self.memory[-1] > MEMORY_GROWTH * self.memory[0]

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
    """A run in a worker process taken from its pool, on as many cores as core.runs.sizing gives it."""

    def __init__(self, job_id, config, store, registry, pool: "WorkerPool"):
        super().__init__(job_id, config, store, registry, grace=pool.grace)
        from core.runs.sizing import cores_for

        self._pool = pool
        self.cores = cores_for(config, pool.cores)
        self._worker: Worker | None = None
        self._probe_lock = threading.Lock()
        self._asked: float | None = None  # when it asked the pool for a worker, until the worker answered

    def _probe_changed(self, version: int, image) -> None:
        with self._probe_lock:
            if self._worker is not None:
                self._worker.probe.set(image, version)

    def _control_changed(self, state) -> None:
        with self._probe_lock:
            if self._worker is not None:
                self._worker.control.set(state)

    def _execute(self) -> None:
        asked = time.perf_counter()
        self._pool.remember(self.config)
        worker = self._pool.take(self.cores, self.config.arch, run_id=self.id, kind=kind_of(self.config))
        handed = False
        try:
            self.worker_pid = worker.pid
            with self._probe_lock:
                self._worker = worker
                version, image = self.probe()
                worker.probe.set(image if version else None, version)  # none: the last run's drawing is cleared
                worker.control.set(self.control_state())  # this run's own: nothing of the last run's carries over
            try:
                worker.send_run(self.id, self.config, self.store.root)
            except OSError:  # a worker that died as it was handed out: its exit status says why
                pass
            handed = True
            self._follow(worker, asked)
        finally:
            if not handed:  # failed before the worker had its run: neither kept idle nor left running
                worker.end(wait=2.0)
            self._pool.release(self.id)
            self._pool.top_up()

    def _apply(self, event: tuple) -> None:
        if self._worker is not None:  # a warm-up this run ended
            self._worker._heard(event)
        if event[0] == "started" and self._asked is not None:
            self.recorder.phase_took("worker", time.perf_counter() - self._asked)  # start or reuse
            self._asked = None
        super()._apply(event)

    def _follow(self, worker: Worker, asked: float) -> None:
        self._asked = asked
        while self._outcome is None:
            if self._stop.is_set() and not worker.stop.is_set():
                worker.stop.set()
            if self._overdue():
                worker.end(wait=2.0)
                self._end_forced()
                return
            if self._stalled():
                worker.end(wait=2.0)
                self._end_stalled()
                return
            try:
                if worker.events.poll(0.1):
                    self._apply(worker.events.recv())
            except (EOFError, OSError):  # the worker is gone: it closed its end, or died
                break
        if self._outcome is not None:
            self._end_with_outcome("")
            self._pool.give_back(worker, run_id=self.id)
            return
        worker.process.join(10)
        if worker.alive():  # stuck on the way out
            worker.end(wait=2.0)
        exitcode = worker.process.exitcode
        worker.forget()
        self._end_with_outcome(f"The training process ended unexpectedly ({describe_exit(exitcode)}).")

    def _first_batch(self) -> None:
        self._pool.top_up()  # start the next spare once this run is past its own start-up


class WorkerPool:
    """Job factory: runs in worker processes that are reused run after run; `spares` kept started and idle.

    Workers are kept per thread count (a run's cores, core.runs.sizing); at most `max_idle` of them wait
    idle (default: the cores, or the spares if more). With `prewarm` the spares start now, else with the
    first run. A spare starts only while a core is free of runs: while every core trains, the next run takes
    the worker of the first run to end, and a spare starting then (the forkserver's fork, a warm-up's
    tracing) would only take CPU from the runs (a class of 30 on 2 cores; benchmarks section 15).
    """

    def __init__(self, spares: int = 0, grace: float | None = None, prewarm: bool = False,
                 cores: int | None = None, max_idle: int | None = None):
        self.spares = max(0, int(spares))
        self.cores = max(1, int(cores or os.cpu_count() or 1))
        self.max_idle = max(self.spares, self.cores) if max_idle is None else max(0, int(max_idle))
        self.grace = stop_grace_from_env() if grace is None else grace
        self._idle: list[Worker] = []  # oldest first
        self._busy: dict[str, int] = {}  # each run handed a worker (its id) -> the cores it trains on
        self._lock = threading.Lock()
        self._recent = RecentKinds()  # the kinds of the latest runs: what a new spare warms
        self._expected: tuple[str, dict] | None = None  # the latest kind a page showed (expect): warmed too
        self._closed = False
        if prewarm:
            self.top_up()

    def __call__(self, job_id, config, store, registry) -> ProcessJob:
        return ProcessJob(job_id, config, store, registry, self)

    def _threads(self, cores: int) -> int | None:
        """TensorFlow threads for a run on `cores` cores: all of them is TensorFlow's own default."""
        return None if cores >= self.cores else cores

    def take(self, cores: int = 1, arch: str | None = None, run_id: str | None = None,
             kind: str | None = None) -> Worker:
        """An idle worker training on `cores` cores, or a new one: first one warm for this `kind` of run (it warmed
        or trained it, core.runs.warm_up.kind_of: its compiled model is kept, core.fit.warm), then one whose last
        run was of `arch`, then the one that trained last, then a spare. With `run_id`, its cores count as busy
        until the worker is given back or the run released."""
        threads = self._threads(cores)

        def warm_for_it(w: Worker) -> tuple[bool, bool]:
            """Its model for exactly this kind is warm; else one of the same architecture may be."""
            return kind is not None and kind in w.warmed_kinds, arch is not None and w.last_arch == arch

        with self._lock:
            self._drop_dead_idle()
            fitting = [w for w in self._idle if w.threads == threads]
            if fitting:
                worker = max(fitting, key=lambda w: (*warm_for_it(w), w.last_used))
                self._idle.remove(worker)
            else:
                worker = Worker(threads)
            if run_id is not None:
                self._busy[run_id] = min(max(1, cores), self.cores)
            return worker

    def release(self, run_id: str) -> None:
        """Run `run_id` has ended (its worker given back, or gone): its cores are free again."""
        with self._lock:
            self._busy.pop(run_id, None)

    def busy_cores(self) -> int:
        """Cores that runs train on now."""
        with self._lock:
            return sum(self._busy.values())

    def _free_cores(self) -> int:
        """Cores no run trains on (under the lock)."""
        return self.cores - sum(self._busy.values())

    def _idle_count(self, threads: int | None) -> int:
        """Idle workers that train on `threads` threads (under the lock)."""
        return sum(w.threads == threads for w in self._idle)

    def give_back(self, worker: Worker, run_id: str | None = None) -> None:
        """A worker whose run (`run_id`) ended: kept idle for the next run, or ended (worn, unwell, or too many
        idle). The run's cores are free from now: another run may take this worker at once."""
        if run_id is not None:
            self.release(run_id)
        if not worker.wait_idle(timeout=30.0) or worker.worn():
            worker.end(wait=2.0)
            return
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(worker)
                return
        worker.end(wait=2.0)

    def top_up(self) -> None:
        """Start spares (one-core workers, what short runs take) until `spares` are idle, or one for each core that
        no run trains on if fewer."""
        threads = self._threads(1)
        with self._lock:
            self._drop_dead_idle()
            while not self._closed and self._idle_count(threads) < min(self.spares, self._free_cores()):
                spare = Worker(threads)
                self._send_new_kinds(spare)
                self._idle.append(spare)

    def _drop_dead_idle(self) -> None:
        """Forget the idle workers that died while they waited (under the lock)."""
        self._idle = [w for w in self._idle if w.alive() or w.forget()]

    def _send_new_kinds(self, worker: Worker) -> bool:
        """Have `worker` warm the kinds of run it was not sent yet (under the lock): the latest runs' and then the
        one a page showed last (expect); True if any. A new worker with no kind to warm yet warms the smallest run
        (core.runs.warm_up.FIRST_WARM_UP): what every first run pays whatever its kind."""
        kinds = dict(self._recent.items())
        if self._expected is not None:
            kinds.setdefault(*self._expected)
        new = [(kind, config) for kind, config in kinds.items() if kind not in worker.warmed_kinds]
        if not new and not worker.warmed_kinds:
            new = [(_FIRST_KIND, FIRST_WARM_UP.to_dict())]
        if not worker.send_warm_up([config for _, config in new]):
            return False
        worker.warmed_kinds.update(kind for kind, _ in new)
        return True

    def remember(self, config) -> None:
        """A run of this kind starts: the spares started from now on warm it while they wait."""
        with self._lock:
            self._recent.remember(config)

    def expect(self, config) -> bool:
        """A run of this kind is about to start (the Train page shows it: a lesson step, a link, settings chosen by
        hand): idle one-core workers warm it now (with any remembered kind they were not sent), as many as there are
        cores no run trains on, since a warm-up's tracing must not take CPU from runs. A warm-up under way gives way
        to it, and warms what it left after it (worker_main). A room's runs go side by side, one per core: with
        spares at all, one-core workers are started until there is one idle for each free core (up to max_idle), so
        the second run of the class does not start on a cold worker either. Kept as the one expected kind, apart
        from the latest runs' (RecentKinds), so a room of visitors trying settings does not push the kind their runs
        train out of what new spares warm. True if one was sent anything."""
        kind = kind_of(config)
        if kind is None:
            return False
        threads = self._threads(1)
        with self._lock:
            self._expected = (kind, config.replace(name=None).to_dict())
            self._drop_dead_idle()
            for worker in self._idle:
                worker.wait_warmed(0)  # hear of the warm-ups that ended: nobody reads an idle worker's events
            ready = [w for w in self._idle if w.threads == threads]
            free = self._free_cores()
            wanted = min(free, self.max_idle) if self.spares else 0
            while not self._closed and len(ready) < wanted and len(self._idle) < self.max_idle:
                worker = Worker(threads)
                self._idle.append(worker)
                ready.append(worker)
            sent = [self._send_new_kinds(w) for w in ready[:max(0, free)]]
        return any(sent)

    def wait_warmed(self, timeout: float = 120.0) -> bool:
        """Wait until every idle worker's warm-up is over; True if they all are. For tests and benchmarks, never
        beside `expect` or `take`: it reads the workers' events outside the pool's lock."""
        with self._lock:
            idle = list(self._idle)
        deadline = time.monotonic() + timeout
        return all(w.wait_warmed(max(0.0, deadline - time.monotonic())) for w in idle)

    def idle_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._idle]

    def idle_workers(self) -> list[Worker]:
        """The workers waiting for a run (for tests and benchmarks)."""
        with self._lock:
            return list(self._idle)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until every spare has imported TensorFlow; True if they all have. For tests and benchmarks, never
        beside `expect` or `take` (as wait_warmed)."""
        with self._lock:
            idle = list(self._idle)
        deadline = time.monotonic() + timeout
        return all(w.wait_ready(max(0.0, deadline - time.monotonic())) for w in idle)

    def close(self) -> None:
        """End the idle workers (running ones end with their runs)."""
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
