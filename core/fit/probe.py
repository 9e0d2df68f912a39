"""The user's drawing (the probe) handed to a run while it trains, so each snapshot predicts it too:
in this process (ProbeBox) or in shared memory for a worker process (SharedProbe)."""
from __future__ import annotations

import threading

import numpy as np

PROBE_SIDE = 28


class ProbeBox:
    """The user's drawing for a run, in this process: set by the server, read by the snapshot callback."""

    def __init__(self):
        self._lock = threading.Lock()
        self._version, self._image = 0, None

    def set(self, image28: np.ndarray | None, version: int | None = None) -> int:
        """Hand over a new drawing (float [0, 1] 28x28, or None to clear it); returns its version."""
        image = None if image28 is None else checked_probe(image28)
        with self._lock:
            self._version = self._version + 1 if version is None else int(version)
            self._image = image
            return self._version

    def get(self) -> tuple[int, np.ndarray | None]:
        with self._lock:
            return self._version, self._image


class SharedProbe:
    """The drawing in shared memory, for a worker process: [version, 784 pixels] as float32 under a lock.

    Made by the server before the worker is spawned (pass it to the Process); `get` is what the callback reads.
    """

    def __init__(self, context):
        import ctypes

        self._array = context.Array(ctypes.c_float, 1 + PROBE_SIDE * PROBE_SIDE)

    def set(self, image28: np.ndarray | None, version: int) -> None:
        image = np.zeros((PROBE_SIDE, PROBE_SIDE), np.float32) if image28 is None else checked_probe(image28)
        with self._array.get_lock():
            values = np.frombuffer(self._array.get_obj(), dtype=np.float32)
            values[1:] = image.ravel()
            values[0] = float(version) if image28 is not None else -float(version)  # negative: cleared

    def get(self) -> tuple[int, np.ndarray | None]:
        with self._array.get_lock():
            values = np.frombuffer(self._array.get_obj(), dtype=np.float32).copy()
        version = int(values[0])
        if version <= 0:
            return -version, None
        return version, values[1:].reshape(PROBE_SIDE, PROBE_SIDE)


def checked_probe(image28) -> np.ndarray:
    """A drawing as float32 (28, 28) in [0, 1]; ValueError for anything else."""
    image = np.asarray(image28, dtype=np.float32)
    if image.shape == (PROBE_SIDE, PROBE_SIDE, 1):
        image = image[..., 0]
    if image.shape != (PROBE_SIDE, PROBE_SIDE) or not np.isfinite(image).all():
        raise ValueError("the drawing must be a 28 x 28 picture of finite values")
    return np.clip(image, 0.0, 1.0)
