"""The learning-rate finder's run (core.fit.lr_range holds its settings, result and rule): a fresh copy of
the network trains batch after batch while the rate grows exponentially; each batch's loss is recorded and
the run ends after the sweep, when the loss blows up, or at Stop. Nothing is saved to the model store."""
from __future__ import annotations

import math

import keras
import numpy as np

from core.fit.lr_range import FinderConfig, FinderResult, diverged, finder_result, smooth
from core.fit.progress import ProgressRecorder
from core.fit.recipe import plan_fit


class RangeSweep(keras.callbacks.Callback):
    """Sets each batch's rate and records its own loss (Keras reports the running mean since the epoch began);
    tells `recorder` of each batch, so the finder's progress shows like a run's."""

    def __init__(self, config: FinderConfig, stop_requested, batch_size: int, samples_per_epoch: int,
                 recorder: ProgressRecorder):
        super().__init__()
        self.config, self.stop_requested, self.recorder = config, stop_requested, recorder
        self.batch_size, self.samples_per_epoch = batch_size, samples_per_epoch
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.ended = "swept"
        self._seen = (0, 0.0)   # (samples, loss sum) of the epoch so far

    def on_epoch_begin(self, epoch, logs=None):
        self._seen = (0, 0.0)
        self.recorder.epoch_began(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.config.rate_at(len(self.rates))

    def on_train_batch_end(self, batch, logs=None):
        mean = float((logs or {}).get("loss", "nan"))
        self.recorder.batch_ended(batch, mean, float((logs or {}).get("accuracy", "nan")))
        done = min((batch + 1) * self.batch_size, self.samples_per_epoch)
        seen, total = self._seen
        loss = (mean * done - total) / max(1, done - seen) if math.isfinite(mean) else float("nan")
        self._seen = (done, mean * done)
        self.rates.append(self.config.rate_at(len(self.rates)))
        self.losses.append(loss)
        if self.stop_requested():
            self.ended = "stopped"
        elif diverged(smooth(self.losses)):
            self.ended = "diverged"
        elif len(self.rates) >= self.config.finder_batches:
            self.ended = "swept"
        else:
            return
        self.model.stop_training = True


def find_learning_rate(config: FinderConfig, recorder: ProgressRecorder, stop_requested,
                       keep_warm: bool = False) -> FinderResult | None:
    """Sweep the rates for `config`'s network and data; the result goes to `recorder.lr_found` and is returned
    (None when stopped before the first batch)."""
    plan = plan_fit(config, stop_requested=stop_requested, keep_warm=keep_warm)
    if stop_requested():
        return None
    recorder.planned(plan.batches_per_epoch, plan.train_samples)
    sweep = RangeSweep(config, stop_requested, config.batch_size, plan.train_samples, recorder)
    epochs = max(1, math.ceil(config.finder_batches / plan.batches_per_epoch))
    fit_args = {**plan.fit_args, "epochs": epochs, "validation_data": None}
    plan.model.fit(callbacks=[sweep], **fit_args)
    recorder.fit_ended()
    if not sweep.rates:
        return None
    result = finder_result(config, np.asarray(sweep.rates), np.asarray(sweep.losses), sweep.ended)
    recorder.lr_found(result)
    return result
