"""Real (small) training runs through TrainingJob and JobRegistry."""
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from core.data import datasets
from core.fit.config import TrainConfig
from core.fit.progress import MAX_BATCH_POINTS, JobState
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.store import DEFAULT_MODEL

from waiting import wait_until

pytestmark = pytest.mark.slow  # real training runs, or processes importing TensorFlow


def test_small_run_learns_reports_and_saves(store):
    job = JobRegistry(1, store, TrainingJob).submit(TrainConfig.for_preset("cnn-basic", epochs=2, limit=2000, name="tiny"))
    assert job.wait(timeout=300)
    progress = job.progress()
    assert progress.state == JobState.FINISHED, progress.error
    assert [e["epoch"] for e in progress.epoch_log] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(progress.epoch_log[0])
    assert progress.result.test_accuracy > 0.6  # chance is 0.1
    assert progress.batch_curve and progress.batch_curve[-1][0] == pytest.approx(2.0)
    assert progress.samples_per_second > 0 and progress.elapsed > 0
    meta = store.read_meta("tiny")
    assert meta.test_accuracy == pytest.approx(progress.result.test_accuracy)
    assert [e["epoch"] for e in meta.history] == [1, 2] and meta.parameters == 225034
    assert meta.dataset == "mnist" and meta.config["epochs"] == 2


def test_stop_ends_within_one_batch_and_keeps_the_model(store):
    cfg = TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000, name="stopped")
    job = JobRegistry(1, store, TrainingJob).submit(cfg)
    assert wait_until(lambda: job.progress().steps >= 20)
    job.stop()
    at_stop = job.progress().steps
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == JobState.STOPPED
    assert progress.steps <= at_stop + 1, "trained on for more than one batch after stop()"
    assert len(progress.epoch_log) == 1, "the interrupted epoch is closed, no further epoch starts"
    assert progress.result is not None and store.read_meta("stopped").stopped_early is True
    assert progress.result.test_accuracy > 0.5


def test_queue_limit_runs_one_job_at_a_time(store):
    registry = JobRegistry(1, store, TrainingJob)
    cfg = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=4000, batch_size=32)
    first, second = registry.submit(cfg), registry.submit(cfg.replace(seed=1))
    assert wait_until(lambda: first.state == JobState.RUNNING)
    overlap = False
    while not second.state.done:
        states = (first.state, second.state)
        overlap |= all(s in (JobState.RUNNING, JobState.STOPPING) for s in states)
        if first.state == JobState.RUNNING:
            assert second.progress().queue_position == 1
        time.sleep(0.01)
    assert not overlap
    assert first.state == second.state == JobState.FINISHED
    assert [j.id for j in registry.jobs()] == [first.id, second.id]
    assert registry.get(second.id) is second and registry.active() == []


def test_two_slots_run_two_jobs_and_a_queued_job_can_be_cancelled(store):
    registry = JobRegistry(2, store, TrainingJob)
    cfg = TrainConfig.for_preset("mlp-128-64", epochs=3, limit=6000, batch_size=32)
    a, b, c = (registry.submit(cfg.replace(seed=s)) for s in range(3))
    assert wait_until(lambda: a.state == JobState.RUNNING and b.state == JobState.RUNNING)
    assert c.state == JobState.QUEUED and c.progress().queue_position == 1
    c.stop()
    assert c.wait(timeout=10) and c.state == JobState.STOPPED and c.progress().result is None
    a.stop(), b.stop()
    assert a.wait(120) and b.wait(120)


def test_batch_curve_is_thinned(store):
    cfg = TrainConfig.for_preset("tiny-20px", epochs=1, batch_size=4, limit=5000, validation_split=0.0)
    job = JobRegistry(1, store, TrainingJob).submit(cfg)
    assert job.wait(timeout=300)
    progress = job.progress()
    assert progress.batches_per_epoch == 1250
    assert 100 <= len(progress.batch_curve) < MAX_BATCH_POINTS
    xs = [point[0] for point in progress.batch_curve]
    assert xs == sorted(xs) and xs[-1] > 0.9


def test_same_seed_same_run(store):
    registry = JobRegistry(1, store, TrainingJob)
    cfg = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=1000, seed=7)
    runs = [registry.submit(cfg), registry.submit(cfg), registry.submit(cfg.replace(seed=8))]
    for job in runs:
        assert job.wait(timeout=120)
    losses = [job.progress().epoch_log[0]["val_loss"] for job in runs]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert losses[0] != pytest.approx(losses[2], rel=1e-4)


@pytest.mark.parametrize("where", ["data", "model file", "test"])
def test_failure_is_reported_not_raised(store, monkeypatch, where):
    """A run that fails preparing its data, making its model file (core.fit.training.FilesWhileTesting, in a
    thread beside the test) or testing, fails with the reason, saves nothing, and holds nothing up."""
    import core.fit.training as training
    from core.store import KerasFileBytes

    def broken(*args, **kwargs):
        raise MemoryError(f"simulated: out of memory in the {where}")

    if where == "model file":
        monkeypatch.setattr(KerasFileBytes, "of", classmethod(broken))
    else:
        monkeypatch.setattr(*((datasets, "split") if where == "data" else (training, "evaluate")), broken)
    job = JobRegistry(1, store, TrainingJob).submit(TrainConfig.for_preset("linear", epochs=1, limit=300))
    assert job.wait(timeout=120)
    assert job.state == JobState.FAILED and f"out of memory in the {where}" in job.progress().error
    assert [info.name for info in store.list()] == [DEFAULT_MODEL], "nothing saved besides the shipped default"


def test_augmented_run_trains(store):
    cfg = TrainConfig.for_preset("cnn-best", epochs=1, limit=2000, batch_size=32)
    assert cfg.augment
    job = JobRegistry(1, store, TrainingJob).submit(cfg)
    assert job.wait(timeout=300) and job.state == JobState.FINISHED, job.progress().error
    assert job.progress().result.test_accuracy > 0.3


def test_distributed_run_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(datasets.DATA_DIR.parent)!r})
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from core.fit.config import TrainConfig
        from core.store import ModelStore
        from core.fit.recipe import distribution_strategy
        from core.runs.queue import JobRegistry
        from core.runs.thread import TrainingJob
        strategy = distribution_strategy()
        print("STRATEGY", type(strategy).__name__, strategy.num_replicas_in_sync)
        job = JobRegistry(1, ModelStore({str(tmp_path)!r}), TrainingJob).submit(
            TrainConfig.for_preset("mlp-128-64", epochs=1, limit=2000))
        job.wait()
        p = job.progress()
        print("RESULT", p.state.value, p.result.test_accuracy if p.result else p.error)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.split()}
    assert lines.get("STRATEGY") == ["MirroredStrategy", "2"], out.stdout + out.stderr[-2000:]
    assert lines["RESULT"][0] == "finished" and float(lines["RESULT"][1]) > 0.6, out.stdout + out.stderr[-2000:]


def test_one_cycle_schedule_rises_then_falls(store):
    from core.fit.recipe import learning_rate

    cfg = TrainConfig.for_preset("mlp-128-64", epochs=5, limit=1000, schedule="one-cycle", learning_rate=0.01)
    schedule = learning_rate(cfg, batches_per_epoch=10)  # 50 steps, 10 of warm-up
    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50)]
    assert rates[0] == pytest.approx(0.001) and rates[0] < rates[1] < rates[2] == pytest.approx(0.01)
    assert rates[2] > rates[3] > rates[4] and rates[4] == pytest.approx(1e-4, rel=0.05)
    job = JobRegistry(1, store, TrainingJob).submit(cfg)
    assert job.wait(timeout=120) and job.state == JobState.FINISHED, job.progress().error
    per_epoch = [entry["learning_rate"] for entry in job.progress().epoch_log]
    assert per_epoch == sorted(per_epoch, reverse=True) and per_epoch[-1] < 0.05 * per_epoch[0]


def test_stop_while_preparing_saves_nothing(store, monkeypatch):
    import core.fit.training as training

    real_plan = training.plan_fit

    def slow_plan(config, *args, **kwargs):
        time.sleep(1.0)
        return real_plan(config, *args, **kwargs)

    monkeypatch.setattr(training, "plan_fit", slow_plan)
    job = JobRegistry(1, store, TrainingJob).submit(TrainConfig.for_preset("linear", epochs=1, limit=500))
    assert wait_until(lambda: job.state == JobState.RUNNING)
    job.stop()
    assert job.wait(timeout=60)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.result is None and progress.steps == 0
    assert [info.name for info in store.list()] == [DEFAULT_MODEL], "nothing saved besides the shipped default"


def test_batch_curve_points_are_batch_means_not_running_means(store):
    # 1,050 samples in batches of 100: ten full batches and a short one of 50
    cfg = TrainConfig.for_preset("mlp-128-64", epochs=2, limit=1050, batch_size=100, validation_split=0.0)
    job = JobRegistry(1, store, TrainingJob).submit(cfg)
    assert job.wait(timeout=120) and job.state == JobState.FINISHED
    progress = job.progress()
    assert len(progress.batch_curve) == 22
    weights = [100] * 10 + [50]
    for epoch in (0, 1):  # Keras' epoch figure is the sample-weighted mean of its batches: the oracle
        points = progress.batch_curve[epoch * 11:(epoch + 1) * 11]
        for column, key in ((1, "loss"), (2, "accuracy")):
            mean = np.average([p[column] for p in points], weights=weights)
            assert mean == pytest.approx(progress.epoch_log[epoch][key], rel=1e-4)
    losses = [p[1] for p in progress.batch_curve]
    assert losses[-1] < losses[0] and max(losses[1:]) < losses[0] * 1.5, "no spike at a short last batch"


def test_the_model_file_made_while_testing_holds_the_tested_weights(store):
    """core.fit.training.FilesWhileTesting: the saved file answers as the run's own test said it would."""
    job = JobRegistry(1, store, TrainingJob).submit(TrainConfig.for_preset("linear", epochs=1, limit=600, name="lin"))
    assert job.wait(timeout=120) and job.state == JobState.FINISHED, job.progress().error
    x_test, y_test = datasets.load("mnist").test_arrays()
    answers = np.asarray(store.load("lin").predict_on_batch(x_test)).argmax(axis=1)
    assert float(np.mean(answers == y_test)) == pytest.approx(job.progress().result.test_accuracy, abs=1e-6)
    assert store.load_replay("lin") is not None


def test_stop_pressed_again_while_testing_saves_nothing(store, monkeypatch):
    """Stop twice lands while the model is tested (the model file is being made beside it): nothing saved."""
    import core.fit.training as training
    from core.fit.progress import ProgressRecorder

    tested, evaluate = [], training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: tested.append(1) or evaluate(*a, **k))
    config = TrainConfig.for_preset("linear", epochs=1, limit=300)
    result = training.train(config, ProgressRecorder("j", config), lambda: False, store, stop_now=lambda: bool(tested))
    assert tested and result is None
    assert [info.name for info in store.list()] == [DEFAULT_MODEL]


@pytest.mark.parametrize("arch", ["mlp-128-64", "cnn-bn"])
def test_a_first_run_traces_its_training_step_once(store, monkeypatch, arch):
    """The loss's and metrics' state is made before fit (core.fit.recipe.built_before_fit): a training step that
    made it while tracing was traced a second time, most of a second of a convnet's first run. Keras calls
    train_step only while it traces; the run still learns (better than chance, 10%)."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from core.fit.progress import ProgressRecorder
    from core.fit.training import train

    traced = []
    train_step = TensorFlowTrainer.train_step
    monkeypatch.setattr(TensorFlowTrainer, "train_step", lambda self, data: traced.append(1) or train_step(self, data))
    config = TrainConfig.for_preset(arch, epochs=2, limit=1000, name="traced")
    recorder = ProgressRecorder("traced", config)
    result = train(config, recorder, lambda: False, store)
    assert len(traced) == 1, f"the training step was traced {len(traced)} times"
    assert result is not None and result.test_accuracy > 0.15
