"""The server's side of runs on a Ray cluster ($DIGIT_STUDIO_EXECUTOR=ray): each run is trained by a warm Ray
actor (core.runs.ray_node.Trainer) reserving CPUs, or a GPU where the cluster has one.

$RAY_ADDRESS joins an existing cluster (the code and data/ travel as the job's working_dir); without it a
local cluster is started (2 CPUs, no dashboard). Actors are kept between runs (ActorPool): a short run does
not pay a process start and TensorFlow's import each time. A run sends its recorder events to a small channel
actor every PUSH_EVERY seconds and reads the stop flag back; the trained model comes back as .keras bytes and
is saved by the server's own ModelStore, so the store stays where the app is.
"""
from __future__ import annotations

import dataclasses
import os
import threading

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray is imported: no usage reports
import ray  # noqa: E402
from ray import exceptions as ray_errors  # noqa: E402

from core.fit.progress import StopRequested  # noqa: E402
from core.runs.out_of_process import OutOfProcessJob, stop_grace_from_env  # noqa: E402
from core.runs.ray_connection import RayConnectionError, connect, env_int, runtime_env  # noqa: E402
from core.runs.ray_node import PUSH_EVERY, RunChannels, Trainer  # noqa: E402
from core.store import KerasFileBytes  # noqa: E402

CPUS_ENV = "DIGIT_STUDIO_RAY_CPUS"               # CPUs one run reserves (default 1)
ACTORS_ENV = "DIGIT_STUDIO_RAY_ACTORS"           # warm actors kept between runs (default 2; each holds its CPUs)


def fine_tune_inputs(config, store) -> dict:
    """What a fine-tune needs from the server's side (read here, where the store and drawings are): the base
    model as (name, .keras bytes, ModelMeta) and the drawings as (x, y); empty for an ordinary run."""
    from core.fit import finetune

    inputs: dict = {}
    if config.start_from is not None:
        meta = finetune.base_meta(config, store)
        inputs["base"] = (config.start_from, store.paths(config.start_from)[0].read_bytes(), meta)
    if config.drawings_weight:
        from core.drawings import DrawingStore

        inputs["drawings"] = DrawingStore().arrays()
    return inputs


class ActorPool:
    """Warm Trainer actors, kept between runs. A run takes an idle actor, or a new one is started while fewer
    than `size` are alive (never more than the cluster's CPUs hold: an idle actor keeps its CPUs, so one more
    would wait for them for ever); else the run waits for one. An actor goes back to the pool when its run
    ended well; one that crashed or was ended by force is dropped, so the next run gets a new one."""

    def __init__(self, options, size: int, cpus: int = 1):
        self._options = options  # () -> the actors' Ray options (CPUs, GPU, runtime_env)
        self.size, self._cpus = size, cpus
        self._fits: int | None = None  # actors the cluster's CPUs hold, asked once
        self._idle: list = []
        self._alive = 0
        self._cond = threading.Condition()
        self._closed = False

    def _room(self) -> int:
        """How many actors may be alive: `size`, or fewer where the cluster holds fewer (asked once)."""
        if self._fits is None:
            self._fits = max(1, int(ray.cluster_resources().get("CPU", self.size * self._cpus)) // self._cpus)
        return min(self.size, self._fits)

    def take(self, stop_requested=lambda: False):
        """An idle actor (idle longest first), a new one (it starts loading TensorFlow at once), or, when `size`
        are busy, the first one given back. StopRequested if the run is stopped while it waits."""
        with self._cond:
            while not self._idle and self._alive >= self._room():
                if stop_requested():
                    raise StopRequested
                self._cond.wait(PUSH_EVERY)
            if self._idle:
                return self._idle.pop(0)
            self._alive += 1
        return Trainer.options(**self._options()).remote()

    def give_back(self, actor) -> None:
        """A run ended well on `actor`: it waits for the next run."""
        with self._cond:
            if not self._closed:
                self._idle.append(actor)
                self._cond.notify()
                return
        self.drop(actor)

    def drop(self, actor) -> None:
        """End `actor` (it crashed, a run on it was ended by force, or the pool is closed): never used again."""
        with self._cond:
            self._alive -= 1
            self._cond.notify()
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # gone already, or the cluster is: nothing to end
            pass

    def start(self) -> list:
        """Start actors up to the pool's size now and keep them idle (warm-up); refs to each one's ready()."""
        actors = []
        with self._cond:
            while self._alive < self._room():
                self._alive += 1
                actors.append(Trainer.options(**self._options()).remote())
        for actor in actors:
            self.give_back(actor)
        return [actor.ready.remote() for actor in actors]

    def close(self) -> None:
        """End the idle actors (running ones end with their runs)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
        for actor in idle:
            self.drop(actor)


class RayExecutor:
    """Job factory: each run on a warm Ray actor. `cpus` per run ($DIGIT_STUDIO_RAY_CPUS, default 1), a GPU if any;
    at most `actors` of them ($DIGIT_STUDIO_RAY_ACTORS, default 2), kept warm between runs. They start with the
    first runs, or beforehand with warm_up (the app's registry calls it, core.runs.executors)."""

    def __init__(self, cpus: int | None = None, grace: float | None = None, actors: int | None = None):
        self.cpus = cpus or env_int(CPUS_ENV, 1)
        self.grace = stop_grace_from_env() if grace is None else grace
        self.pool = ActorPool(self.actor_options, actors or env_int(ACTORS_ENV, 2), self.cpus)
        self._channels = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Join the cluster and start the actors, so that the first runs find them warm (blocks while it joins;
        a failure to join is left for the first run to report)."""
        try:
            connect()
            self.pool.start()
        except Exception:
            pass

    def __call__(self, job_id, config, store, registry) -> "RayJob":
        return RayJob(job_id, config, store, registry, self)

    def channels(self):
        """The channel actor (started with the first run, again if it was lost)."""
        connect()
        with self._lock:
            if self._channels is not None:
                try:
                    ray.get(self._channels.drain.remote(""), timeout=30)
                except ray_errors.RayError:
                    self._channels = None
            if self._channels is None:
                self._channels = RunChannels.options(runtime_env=runtime_env()).remote()
            return self._channels

    def actor_options(self) -> dict:
        gpu = ray.cluster_resources().get("GPU", 0) >= 1
        return {"num_cpus": self.cpus, "num_gpus": 1 if gpu else 0, "runtime_env": runtime_env()}

    def close(self) -> None:
        """End the warm actors (for tests and benchmarks; the app's end with its cluster connection)."""
        self.pool.close()


def _lost(exc: Exception) -> str:
    """Why the Ray actor training a run is gone, in words."""
    if isinstance(exc, (ray_errors.WorkerCrashedError, ray_errors.RayActorError)):
        why = "its worker process died (killed, out of memory, or a crash)"
    elif isinstance(exc, ray_errors.NodeDiedError):
        why = "the node it ran on died"
    elif isinstance(exc, ray_errors.OutOfMemoryError):
        why = "Ray ended it because its node ran out of memory"
    else:
        why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    return f"The Ray worker training this run was lost: {why}."


class RayJob(OutOfProcessJob):
    """A run on a warm Ray actor taken from the executor's pool; its events come through the channel actor."""

    def __init__(self, job_id, config, store, registry, executor: RayExecutor):
        super().__init__(job_id, config, store, registry, grace=executor.grace)
        self._executor = executor
        self.worker_node: str | None = None
        self._channels = None

    def _probe_changed(self, version: int, image) -> None:
        channels = self._channels
        if channels is not None:
            channels.set_probe.remote(self.id, version, image)

    def _control_changed(self, state) -> None:
        channels = self._channels
        if channels is not None:
            channels.set_control.remote(self.id, state.as_floats())

    def _apply(self, event: tuple) -> None:
        if event[0] == "started":
            self.worker_node = event[2]
        super()._apply(event)

    def _saves_in_worker(self) -> bool:
        return False  # the server saves what the actor sends back: ended before that, nothing was saved

    def _drain(self, channels) -> None:
        try:
            events = ray.get(channels.drain.remote(self.id), timeout=10)
        except ray_errors.RayError:  # channel lost or slow: progress waits; Stop falls back to the grace time
            return
        for event in events:
            self._apply(event)

    def _execute(self) -> None:
        inputs = fine_tune_inputs(self.config, self.store)  # a missing base or drawings fail the run here
        try:
            channels = self._channels = self._executor.channels()
        except RayConnectionError as exc:
            self.recorder.failed(str(exc))
            return
        version, image = self.probe()
        if version:
            channels.set_probe.remote(self.id, version, image)
        channels.set_control.remote(self.id, self.control_state().as_floats())
        pool = self._executor.pool
        try:
            actor = pool.take(self._stop.is_set)
        except StopRequested:  # stopped while every actor was busy: nothing trained
            self.recorder.finished(None, stopped=True)
            return
        ref = actor.train.remote(self.id, self.config.to_dict(), channels, inputs)
        healthy = False
        stop_sent = False
        try:
            while True:
                if self._stop.is_set() and not stop_sent:
                    channels.request_stop.remote(self.id)
                    stop_sent = True
                ready, _ = ray.wait([ref], timeout=PUSH_EVERY)
                self._drain(channels)
                if ready:
                    break
                if self._overdue():
                    self._end_forced()
                    return
                if self._stalled():  # the actor is ended below (finally), never reused
                    self._end_stalled()
                    return
            try:
                saved = ray.get(ref, timeout=60)
            except (ray_errors.RayError, ray_errors.GetTimeoutError) as exc:
                self._end_with_outcome(_lost(exc))
                return
            healthy = True
            self._save_and_end(saved)
        finally:
            (pool.give_back if healthy else pool.drop)(actor)  # ended by force or crashed: never reused
            channels.close.remote(self.id)

    def _save_and_end(self, saved: tuple | None) -> None:
        outcome = self._outcome
        if outcome and outcome[0] == "done" and outcome[1] is not None:
            if saved is None:
                self.recorder.failed("The Ray task sent no model back.")
                return
            name, data, meta, new, replay, evaluation = saved
            stored = self.store.save(name, KerasFileBytes(data), meta, new=new, replay=replay, evaluation=evaluation)
            self._outcome = ("done", dataclasses.replace(outcome[1], model_name=stored), outcome[2])
        self._end_with_outcome("The Ray task ended without a word about its run.")
