"""The Keras side of a run: the progress callback, fit, and evaluate-and-save (core.runs decides where it runs)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import keras
import numpy as np

from core.data import datasets
from core.fit import finetune, warm
from core.fit.config import TrainConfig
from core.fit.progress import STOPPED_TEST_IMAGES, JobResult, PhaseClock, ProgressRecorder, StopRequested
from core.fit.recipe import FitPlan, plan_fit, standard_callbacks
from core.fit.watching import watch_callback
from core.nets import builders
from core.nets.evaluation import evaluate
from core.store import KerasFileBytes, ModelMeta, ModelStore, TestMetrics


class ProgressCallback(keras.callbacks.Callback):
    """Hands Keras' per-batch and per-epoch figures to a ProgressRecorder; ends training when asked to stop."""

    def __init__(self, recorder: ProgressRecorder, stop_requested):
        super().__init__()
        self.recorder = recorder
        self.stop_requested = stop_requested
        self._validation_cut = False

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_requested():
            self.model.stop_training = True  # Keras checks this right after this call
        logs = logs or {}
        self.recorder.batch_ended(batch, float(logs.get("loss", "nan")), float(logs.get("accuracy", "nan")))

    def on_test_batch_end(self, batch, logs=None):
        """Stopped: the interrupted epoch's validation pass ends after this batch (Keras checks right after)."""
        if self.stop_requested():
            self.model.stop_evaluating = True
            self._validation_cut = True

    def on_epoch_begin(self, epoch, logs=None):
        self.recorder.epoch_began(epoch)

    def on_epoch_end(self, epoch, logs=None):
        figures = {k: float(v) for k, v in (logs or {}).items()}
        if self._validation_cut:  # a batch or two of validation images: not the epoch's validation figures
            figures = {k: v for k, v in figures.items() if not k.startswith("val_")}
        self.recorder.epoch_ended(epoch, figures, current_lr(self.model))

    def on_train_end(self, logs=None):
        self.recorder.fit_ended()


def current_lr(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class FilesWhileTesting:
    """The model's .keras bytes and the replay's, made in a thread while the model is tested: Keras' saving is
    mostly Python and the test mostly TensorFlow's own threads, so on a machine with a core to spare a short
    run ends sooner (benchmarks section 14). `result()` -> (KerasFileBytes, replay bytes or None); an error in
    the thread is raised there, as a save in line would have raised it."""

    def __init__(self, model, replay=None):
        self._made: Future = Future()
        threading.Thread(target=self._make, args=(model, replay), name="run-files", daemon=True).start()

    def _make(self, model, replay) -> None:
        try:
            self._made.set_result((KerasFileBytes.of(model), None if replay is None else replay.to_bytes()))
        except BaseException as exc:  # handed to result(): the run fails as an in-line save would
            self._made.set_exception(exc)

    def result(self) -> tuple[KerasFileBytes, bytes | None]:
        return self._made.result()


def images_for_testing(dataset: datasets.Dataset, seed: int, stopped: bool) -> tuple[np.ndarray, np.ndarray]:
    """The test images a run is tested on: all of them, or a stopped run's seeded sample of STOPPED_TEST_IMAGES."""
    x_test, y_test = dataset.test_arrays()
    if not stopped or len(y_test) <= STOPPED_TEST_IMAGES:
        return x_test, y_test
    picked = np.sort(np.random.default_rng(seed).permutation(len(y_test))[:STOPPED_TEST_IMAGES])
    return x_test[picked], y_test[picked]


def evaluate_and_save(model, config: TrainConfig, history: list[dict[str, float]], train_seconds: float,
                      stopped_early: bool, store: ModelStore, replay=None, author: str | None = None,
                      plan: FitPlan | None = None, before: dict[str, float] | None = None,
                      clock: PhaseClock | None = None, stop_now=None, events=()) -> JobResult | None:
    """Test a trained model on its dataset's test set (a stopped run on a sample of it, see images_for_testing) and
    save it with its metadata (and the run's snapshots, a core.store.snapshots.Replay, if given) under a free
    name; `author` is the visitor who trained it. With `before` (a fine-tune's figures before fit, see
    core.fit.finetune), the figures after, where the model came from and its drawings go in the metadata and the
    result too. None, and nothing saved, when `stop_now()` (Stop pressed again) is true once it is tested.
    `clock` times the test and the save. `events` (core.store.run_events.RunEvent: a learning rate changed while
    it trained ...) go in the metadata beside the history, as "events"."""
    clock = clock or PhaseClock()
    dataset = datasets.load(config.dataset)
    x_test, y_test = images_for_testing(dataset, config.seed, stopped_early)
    files = FilesWhileTesting(model, replay)
    with clock("test evaluation"):
        result = evaluate(model, x_test, y_test, stop_now=stop_now)
    if stop_now is not None and stop_now():  # its figures may be from part of the images: nothing saved
        return None
    summary = result.summary()
    after = extra = note = None
    kept = plan.drawings if plan is not None else None
    if before is not None:
        after = finetune.scores(model, kept, test_accuracy=result.accuracy)
        extra, note = finetune.provenance(config, kept, before, after, len(y_test), dataset.spec.title,
                                          plan.dataset_samples if plan is not None else 0)
    meta = ModelMeta(
        arch=config.arch, dataset=config.dataset, config=config.to_dict(), history=tuple(history),
        test_metrics=TestMetrics(summary["accuracy"], summary["loss"], tuple(summary["precision"]),
                                 tuple(summary["recall"]), tuple(map(tuple, summary["confusion"])), len(y_test)),
        parameters=model.count_params(), created=time.strftime("%Y-%m-%d %H:%M:%S"), created_unix=time.time(),
        train_seconds=round(train_seconds, 2), stopped_early=stopped_early, author=author, note=note,
        extra={**(extra or {}), **({"events": [e.to_dict() for e in events]} if events else {})})
    base = config.name or finetune.default_name(config) or f"{config.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    whole = len(y_test) == len(dataset.y_test)  # the whole test set: kept for the Mistakes page
    with clock("save"):
        model_file, replay_bytes = files.result()
        name = store.save(base, model_file, meta, new=config.name is None, replay=replay_bytes,
                          evaluation=(config.dataset, result) if whole else None)
    return JobResult(name, result.accuracy, result.loss, result.confusion.tolist(), train_seconds, len(history),
                     before=before, after=after, held_out=kept.held if kept else 0, base=config.start_from,
                     test_images=len(y_test))


def train(config: TrainConfig, recorder: ProgressRecorder, stop_requested, store: ModelStore,
          probe=None, author: str | None = None, drawings=None, keep_warm: bool = False,
          stop_now=None, control=None) -> JobResult | None:
    """Fit, test and save; None when stopped before the first batch (nothing learned, nothing saved), or when
    `stop_now()` is true (Stop pressed again: end without testing or saving).

    Snapshots of the panel (core.fit.watching) go to the recorder as it trains; `probe()` -> (version, 28x28
    drawing or None) is the user's drawing, predicted with each of them. A fine-tune (a stored model to
    start from, or the users' drawings, from `drawings` or the DrawingStore) is scored before fit too.
    Once stopped, the interrupted epoch's validation is cut short and the model tested on a sample
    (images_for_testing). Each part's seconds go to `recorder.phase_took` (core.fit.progress.PhaseClock).
    `keep_warm`: see plan_fit. `control()` -> core.fit.control.ControlState: Pause, Step and mid-run changes
    (core.fit.steering); a learning-rate finder's config (core.fit.lr_range.FinderConfig) runs the finder
    instead, and saves nothing."""
    from core.fit.lr_range import FinderConfig

    if isinstance(config, FinderConfig):
        from core.fit.lr_find import find_learning_rate

        find_learning_rate(config, recorder, stop_requested, keep_warm=keep_warm)
        return None
    clock = PhaseClock(recorder)
    try:
        plan = plan_fit(config, store, drawings, stop_requested, clock=clock, keep_warm=keep_warm)
    except StopRequested:   # stopped while its stroke copies were made: nothing learned yet
        return None
    if stop_requested():
        return None
    before = None
    if finetune.tuned(config):
        before = finetune.scores(builders.for_inference(plan.model, plan.preset.logits), plan.drawings,
                                 test=datasets.load(config.dataset).test_arrays())
        if stop_requested():
            return None
    recorder.planned(plan.batches_per_epoch, plan.train_samples)
    watcher = watch_callback(plan, config, recorder, probe, keep_warm=keep_warm)
    callbacks = [ProgressCallback(recorder, stop_requested), *standard_callbacks(config, plan, recorder),
                 watcher]  # then: its final snapshot sees restored weights
    steering = None
    if control is not None:
        from core.fit.steering import steering_callback

        steering = steering_callback(plan, config, control, stop_requested, recorder, watcher)
        callbacks.append(steering)   # holds after the others have counted the batch
    started = time.perf_counter()
    plan.model.fit(callbacks=callbacks, **plan.fit_args)
    held = steering.held_seconds if steering is not None else 0.0
    train_seconds = time.perf_counter() - started - held      # a pause is not training time
    record_fit_phases(recorder, train_seconds, watcher)
    if held:
        recorder.phase_took("paused", held)
    history = recorder.history()
    if (not history and recorder.snapshot().steps == 0) or (stop_now is not None and stop_now()):
        return None
    with clock("replay"):
        replay = recorder.replay()
    inference = (warm.inference_copy if keep_warm else builders.for_inference)(plan.model, plan.preset.logits)
    return evaluate_and_save(inference, config, history,
                             train_seconds, stop_requested(), store, replay=replay,
                             author=author, plan=plan, before=before, clock=clock,
                             stop_now=stop_now, events=recorder.events())


def record_fit_phases(recorder: ProgressRecorder, fit_seconds: float, watcher) -> None:
    """Split fit's time into tracing (the first batch beyond a usual one), the snapshots, and the epochs
    (everything else: the batches and the validation at each epoch's end)."""
    tracing = max(0.0, watcher.first_batch_seconds - watcher.batch_seconds)
    recorder.phase_took("tracing", tracing)
    recorder.phase_took("snapshots", watcher.seconds)
    recorder.phase_took("epochs", max(0.0, fit_seconds - tracing - watcher.seconds))
