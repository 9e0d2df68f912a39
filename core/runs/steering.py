"""The server's side of taking the wheel: Pause, Resume, Step, a new learning rate and augmentation switched,
for a queued job of any executor (core.runs.queue.QueuedJob mixes this in), and the pause limit.

Each control is checked here (a plain ControlError says why it cannot be applied, and nothing changes), kept
in the job's ControlBox, and handed on by `_control_changed` to where the run trains (a thread reads the box
itself; a worker process through shared memory; Ray through the run's channel). Pausing a queued run is
refused: it can be paused once it trains. A paused run that nobody touches for $DIGIT_STUDIO_PAUSE_LIMIT
seconds (default 600) is stopped, and what it learned is tested and saved, so a forgotten tab cannot hold a
training slot for good.
"""
from __future__ import annotations

import os
import threading
import time

from core.fit.control import ControlBox, ControlError, ControlState, checked_learning_rate
from core.fit.progress import JobState
from core.store.run_events import RunEvent

PAUSE_LIMIT_ENV = "DIGIT_STUDIO_PAUSE_LIMIT"
DEFAULT_PAUSE_LIMIT = 600.0


def pause_limit_from_env() -> float:
    """Seconds a paused run may wait untouched ($DIGIT_STUDIO_PAUSE_LIMIT, default 600; a bad value: the default)."""
    try:
        value = float(os.environ.get(PAUSE_LIMIT_ENV, DEFAULT_PAUSE_LIMIT))
    except ValueError:
        return DEFAULT_PAUSE_LIMIT
    return value if value > 0 else DEFAULT_PAUSE_LIMIT


class SteerableJob:
    """Pause, Resume, Step, set_learning_rate and set_augment for a job with `recorder`, `config`, `state` and
    `stop()`; subclasses pass each change on in `_control_changed`."""

    _steer_lock = threading.Lock()   # guards the lazily made box of every job (made once each)

    @property
    def control_box(self) -> ControlBox:
        box = self.__dict__.get("_control_box")
        if box is None:
            with SteerableJob._steer_lock:
                box = self.__dict__.setdefault("_control_box", ControlBox())
        return box

    def control_state(self) -> ControlState:
        """What is asked of the run now (paused, steps asked for, the latest rate asked for)."""
        return self.control_box.get()

    # --- the controls --------------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold the run between two batches (refused while it waits in the queue, or once it is ending)."""
        self._must_be_training("pause")
        if not self.control_state().paused:
            self._change(paused=True)
            self._watch_pause()
        self._touched()

    def resume(self) -> None:
        """Go on training after a pause."""
        self._must_be_training("resume")
        self._change(paused=False)
        self._touched()

    def step(self) -> None:
        """Train exactly one batch while paused (its report comes as Progress.last_step)."""
        self._must_be_training("step")
        state = self.control_state()
        if not state.paused:
            raise ControlError("Pause the run first: a Step trains one batch while the run is paused.")
        self._change(steps=state.steps + 1)
        self._touched()

    def set_learning_rate(self, value) -> float:
        """Ask for a new learning rate from the next batch on; returns it. Refused for a bad rate, a run on a
        one-cycle schedule (its rate follows the schedule) or a run that is not training."""
        rate = checked_learning_rate(value)
        self._must_be_training("change the learning rate of")
        if self.config.schedule != "constant":
            raise ControlError(f"This run's learning rate follows its {self.config.schedule} schedule, so it "
                               "cannot be changed while it trains. Start a run with a constant schedule to steer it.")
        state = self.control_state()
        self._change(learning_rate=rate, rate_version=state.rate_version + 1)
        self._touched()
        return rate

    def set_augment(self, on: bool) -> None:
        """Switch augmentation on or off from the next batch on (only a run that started with it can)."""
        if not isinstance(on, bool):
            raise ControlError(f"Augmentation is switched on or off (got {on!r}).")
        self._must_be_training("switch augmentation of")
        if not self.config.augment:
            raise ControlError("This run started without augmentation, so its images come straight from memory "
                               "and cannot be augmented mid-run. Start it with augmentation on to switch it off "
                               "and on while it trains.")
        state = self.control_state()
        self._change(augment=on, augment_version=state.augment_version + 1)
        self._touched()

    # --- the machinery -------------------------------------------------------------------------------

    def _must_be_training(self, what: str) -> None:
        state = self.state
        if state == JobState.QUEUED:
            raise ControlError(f"The run is still waiting in the queue: you can {what} it once it trains.")
        if state.done:
            raise ControlError(f"The run has {state.value}: there is nothing to {what.split(' ')[0]} any more.")
        if state == JobState.STOPPING:
            raise ControlError("The run is stopping: it is no longer paused, stepped or changed.")

    def _change(self, **changes) -> None:
        state = self.control_box.update(**changes)
        self._control_changed(state)

    def _control_changed(self, state: ControlState) -> None:
        """Hook: pass the state on to where the run trains (a thread's run reads the box itself)."""

    def _touched(self) -> None:
        self.__dict__["_last_touch"] = time.monotonic()

    def _watch_pause(self) -> None:
        """Stop the run once it has been paused and untouched for the pause limit (one watcher per job, from
        its first pause until it ends)."""
        limit = pause_limit_from_env()
        self._touched()
        with SteerableJob._steer_lock:
            if self.__dict__.get("_pause_watcher") is not None:
                return
            self.__dict__["_pause_watcher"] = watcher = threading.Thread(
                target=self._pause_watch, args=(limit,), name=f"pause-limit-{getattr(self, 'id', '')}", daemon=True)
        watcher.start()

    def _pause_watch(self, limit: float) -> None:
        while not self.state.done and self.state != JobState.STOPPING:
            if not self.control_state().paused:
                time.sleep(0.5)
                continue
            idle = time.monotonic() - self.__dict__.get("_last_touch", time.monotonic())
            if idle >= limit:
                p = self.recorder.snapshot()
                x = p.epoch + p.batch / max(1, p.batches_per_epoch)
                minutes = f"{limit / 60:g} min" if limit >= 60 else f"{limit:g} s"
                self.recorder.event_recorded(RunEvent(
                    "pause_limit", p.steps, x, limit, f"paused {minutes} untouched: stopped and saved"))
                self.stop()
                return
            time.sleep(min(0.5, max(0.05, (limit - idle) / 2)))
