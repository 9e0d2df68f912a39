"""What runs on a Ray node: the warm actor that trains run after run, the channel actor their events go through,
and the store that keeps the trained model for the server to save (core.runs.ray_server drives them)."""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray is imported: no usage reports
import ray  # noqa: E402

from core.runs.out_of_process import run_in_worker  # noqa: E402
from core.store import KerasFileBytes  # noqa: E402

PUSH_EVERY = 0.2  # seconds between a task's progress pushes


@ray.remote(num_cpus=0)
class RunChannels:
    """Between the tasks and the server: each run's events go up, its stop flag, the user's drawing and its
    controls (core.fit.control: Pause, Step, a new learning rate) come down."""

    def __init__(self):
        self._events: dict[str, list] = {}
        self._stop: set[str] = set()
        self._probes: dict[str, tuple] = {}  # job id -> (version, 28x28 image or None)
        self._controls: dict[str, tuple] = {}  # job id -> ControlState.as_floats()

    def push(self, job_id: str, events: list, probe_seen: int = 0) -> tuple[bool, tuple | None]:
        """Store the task's events; (stop asked for, the drawing if its version is not `probe_seen`)."""
        self._events.setdefault(job_id, []).extend(events)
        probe = self._probes.get(job_id)
        return job_id in self._stop, (probe if probe is not None and probe[0] != probe_seen else None)

    def set_probe(self, job_id: str, version: int, image) -> None:
        self._probes[job_id] = (version, image)

    def set_control(self, job_id: str, state: tuple) -> None:
        self._controls[job_id] = tuple(state)

    def control(self, job_id: str) -> tuple | None:
        return self._controls.get(job_id)

    def drain(self, job_id: str) -> list:
        return self._events.pop(job_id, [])

    def request_stop(self, job_id: str) -> None:
        self._stop.add(job_id)

    def close(self, job_id: str) -> None:
        self._events.pop(job_id, None)
        self._stop.discard(job_id)
        self._probes.pop(job_id, None)
        self._controls.pop(job_id, None)


class CapturingStore:
    """Stands in for the ModelStore on a Ray node: keeps what would be saved, for the server to save, and
    holds the one stored model a fine-tune starts from, sent along by the server: (name, .keras bytes, ModelMeta)."""

    def __init__(self, base: tuple | None = None):
        self.saved: tuple | None = None  # (name, .keras bytes, ModelMeta, new, replay bytes or None, evaluation)
        self.base = base

    def _base(self, name: str) -> tuple:
        if self.base is None or self.base[0] != name:
            from core.store import StoreError

            raise StoreError(f"No model named {name!r} was sent to this Ray node.")
        return self.base

    def read_meta(self, name: str):
        return self._base(name)[2]

    def load(self, name: str):
        import keras

        data = self._base(name)[1]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.keras"
            path.write_bytes(data)
            return keras.saving.load_model(path, safe_mode=True, compile=False)

    def save(self, name: str, model, meta, *, new: bool = False, replay=None, evaluation=None) -> str:
        data = model.data if isinstance(model, KerasFileBytes) else KerasFileBytes.of(model).data
        replay_bytes = replay if replay is None or isinstance(replay, bytes) else replay.to_bytes()
        self.saved = (name, data, meta, new, replay_bytes, evaluation)
        return name


def train_one_run(job_id: str, config: dict, channels, inputs: dict | None = None) -> tuple | None:
    """One run on this node: its events go up through `channels` every PUSH_EVERY seconds, its stop flag, the
    user's drawing and its controls (Pause, Step, a new learning rate) come down. Returns what to save (name,
    bytes, meta, new, replay), or None when nothing was learned (a learning-rate finder saves nothing).
    `inputs`: a fine-tune's base model and drawings (see core.runs.ray_server.fine_tune_inputs)."""
    from core.fit.control import ControlBox, ControlState
    from core.fit.lr_range import config_from_dict
    from core.fit.probe import ProbeBox

    pending: list[tuple] = []
    lock, stop, finished = threading.Lock(), threading.Event(), threading.Event()
    probe = ProbeBox()  # the user's drawing, as the channel last passed it on
    control = ControlBox()  # Pause, Step, a new rate, as the channel last passed them on

    def send(event: tuple) -> None:
        with lock:
            pending.append(event)

    def flush() -> None:
        with lock:
            batch = pending[:]
            del pending[:]
        stopped, drawing = ray.get(channels.push.remote(job_id, batch, probe.get()[0]), timeout=30)
        if stopped:
            stop.set()
        if drawing is not None:
            probe.set(drawing[1], version=drawing[0])
        state = ray.get(channels.control.remote(job_id), timeout=30)
        if state is not None:
            control.set(ControlState.from_floats(state))

    def pusher() -> None:
        while not finished.wait(PUSH_EVERY):
            try:
                flush()
            except Exception:  # a lost channel loses progress, not the run; Stop then ends it by force
                pass

    send(("started", os.getpid(), ray.util.get_node_ip_address()))
    thread = threading.Thread(target=pusher, name="progress-push", daemon=True)
    thread.start()
    from core.fit.finetune import KeptDrawings

    inputs = inputs or {}
    store = CapturingStore(inputs.get("base"))
    drawings = KeptDrawings(*inputs["drawings"]) if "drawings" in inputs else None
    try:
        run_in_worker(job_id, config_from_dict(config), send, stop.is_set, store, probe=probe.get,
                      drawings=drawings, control=control.get)
    finally:
        finished.set()
        thread.join()
        flush()  # the final word is with the channel before the run returns
    return store.saved


@ray.remote(max_restarts=0, max_task_retries=0)
class Trainer:
    """A warm Ray worker that trains run after run, one at a time. TensorFlow, the training code and the default
    dataset are loaded once, when the actor starts; before each run Keras' session is cleared, so every run builds
    its network afresh (seeded runs give the same model on a fresh actor and a reused one). A crash ends the actor
    with its run; the server starts another for the next run."""

    def __init__(self):
        import core.fit.training  # noqa: F401  the slow part, paid once per actor
        from core.data import datasets

        datasets.load(datasets.DEFAULT_DATASET)
        self.runs = 0

    def ready(self) -> int:
        """The actor's pid, once it has loaded everything."""
        return os.getpid()

    def train(self, job_id: str, config: dict, channels, inputs: dict | None = None) -> tuple | None:
        """One run (train_one_run) on a fresh Keras session."""
        import keras

        keras.backend.clear_session()  # the last run's layers, names and graphs go; its weights were never shared
        self.runs += 1
        return train_one_run(job_id, config, channels, inputs)
