"""The server's side of runs on a Ray cluster ($DIGIT_STUDIO_EXECUTOR=ray): each run is a Ray task reserving
CPUs, or a GPU where the cluster has one.

$RAY_ADDRESS joins an existing cluster (the code and data/ travel as the task's working_dir); without it a
local cluster is started (2 CPUs, no dashboard). The task sends its recorder events to a small channel actor
every PUSH_EVERY seconds and reads the stop flag back; the trained model comes back as .keras bytes and is
saved by the server's own ModelStore, so the store stays where the app is. What runs on a node is
core.runs.ray_node.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray is imported: no usage reports
import ray  # noqa: E402
from ray import exceptions as ray_errors  # noqa: E402

from core.runs.out_of_process import OutOfProcessJob, stop_grace_from_env  # noqa: E402
from core.runs.ray_node import PUSH_EVERY, RunChannels, train_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CPUS_ENV = "DIGIT_STUDIO_RAY_CPUS"               # CPUs one run reserves (default 1)
LOCAL_CPUS_ENV = "DIGIT_STUDIO_RAY_LOCAL_CPUS"   # size of the local cluster started without $RAY_ADDRESS (default 2)
SHIP_EXCLUDES = [".git", ".venv", "models", "tests", "docs", "benchmarks", "pages", "lessons", "__pycache__"]
_connect_lock = threading.Lock()


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def connect() -> None:
    """Join $RAY_ADDRESS's cluster, or start a local one, unless this process is connected already.

    ray.init runs in a thread kept alive for good: the processes of a local cluster are killed when
    the thread that started them ends (Linux's parent-death signal), and a run's own thread ends with it.
    """
    with _connect_lock:
        if ray.is_initialized():
            return
        ready, failure = threading.Event(), []

        def init_and_stay() -> None:
            try:
                quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
                if os.environ.get("RAY_ADDRESS"):  # the code and data/ travel with the job (Ray's working_dir)
                    ray.init(runtime_env={"working_dir": str(ROOT), "excludes": SHIP_EXCLUDES}, **quiet)
                else:
                    ray.init(address="local", num_cpus=_env_int(LOCAL_CPUS_ENV, 2), include_dashboard=False, **quiet)
            except BaseException as exc:  # handed to the caller
                failure.append(exc)
            ready.set()
            if not failure:
                threading.Event().wait()

        threading.Thread(target=init_and_stay, name="ray-connection", daemon=True).start()
        ready.wait()
        if failure:
            raise failure[0]


def runtime_env() -> dict:
    """How a task finds the code: on a cluster, the folder shipped with the job (see connect); on this
    machine, through PYTHONPATH."""
    if os.environ.get("RAY_ADDRESS"):
        return {}
    return {"env_vars": {"PYTHONPATH": str(ROOT)}}


class KerasFileBytes:
    """A trained model as the bytes of its .keras file; ModelStore.save writes it like a model."""

    def __init__(self, data: bytes):
        self.data = data

    def save(self, path) -> None:
        Path(path).write_bytes(self.data)


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


class RayExecutor:
    """Job factory: each run as a Ray task. `cpus` per run ($DIGIT_STUDIO_RAY_CPUS, default 1); a GPU if any."""

    def __init__(self, cpus: int | None = None, grace: float | None = None):
        self.cpus = cpus or _env_int(CPUS_ENV, 1)
        self.grace = stop_grace_from_env() if grace is None else grace
        self._channels = None
        self._lock = threading.Lock()

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

    def task_options(self) -> dict:
        gpu = ray.cluster_resources().get("GPU", 0) >= 1
        return {"num_cpus": self.cpus, "num_gpus": 1 if gpu else 0, "runtime_env": runtime_env()}


def _lost(exc: Exception) -> str:
    """Why a Ray task is gone, in words."""
    if isinstance(exc, ray_errors.WorkerCrashedError):
        why = "its worker process died (killed, out of memory, or a crash)"
    elif isinstance(exc, ray_errors.NodeDiedError):
        why = "the node it ran on died"
    elif isinstance(exc, ray_errors.OutOfMemoryError):
        why = "Ray ended it because its node ran out of memory"
    else:
        why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    return f"The Ray task training this run was lost: {why}."


class RayJob(OutOfProcessJob):
    """A run as a Ray task; its events come through the executor's channel actor."""

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

    def _drain(self, channels) -> None:
        try:
            events = ray.get(channels.drain.remote(self.id), timeout=10)
        except ray_errors.RayError:  # channel lost or slow: progress waits; Stop falls back to the grace time
            return
        for event in events:
            self._apply(event)

    def _execute(self) -> None:
        inputs = fine_tune_inputs(self.config, self.store)  # a missing base or drawings fail the run here
        channels = self._channels = self._executor.channels()
        version, image = self.probe()
        if version:
            channels.set_probe.remote(self.id, version, image)
        channels.set_control.remote(self.id, self.control_state().as_floats())
        ref = train_task.options(**self._executor.task_options()).remote(self.id, self.config.to_dict(), channels,
                                                                         inputs)
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
                    ray.cancel(ref, force=True)
                    self._end_forced()
                    return
            try:
                saved = ray.get(ref, timeout=60)
            except (ray_errors.RayError, ray_errors.GetTimeoutError) as exc:
                self._end_with_outcome(_lost(exc))
                return
            self._save_and_end(saved)
        finally:
            channels.close.remote(self.id)

    def _save_and_end(self, saved: tuple | None) -> None:
        outcome = self._outcome
        if outcome and outcome[0] == "done" and outcome[1] is not None:
            if saved is None:
                self.recorder.failed("The Ray task sent no model back.")
                return
            name, data, meta, new, replay = saved
            stored = self.store.save(name, KerasFileBytes(data), meta, new=new, replay=replay)
            self._outcome = ("done", dataclasses.replace(outcome[1], model_name=stored), outcome[2])
        self._end_with_outcome("The Ray task ended without a word about its run.")
