"""The learning-rate finder (core.fit.lr_range, core.fit.lr_find, `python -m core lr-find`): its rule on curves
whose answer is known, its refusals, and on a real problem a suggestion below the rate where training
diverges (found independently, by fixed-rate runs), with the model store left as it was."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.fit.config import ConfigError, TrainConfig
from core.fit.lr_range import FinderConfig, config_from_dict, smooth, suggest

PROBLEM = TrainConfig.for_preset("linear", optimizer="sgd", limit=2000, batch_size=32, validation_split=0.0)


def test_the_rule_picks_the_steepest_descent_before_the_lowest_loss():
    rates = np.logspace(-5, 0, 100)
    falling = 2.3 - 2.0 / (1 + np.exp(-3 * (np.log10(rates) + 2.5)))    # falls fastest at 10^-2.5
    losses = np.where(rates < 0.1, falling, falling + 50 * (rates - 0.1))  # then blows up
    suggestion, smoothed = suggest(rates, losses)
    assert len(smoothed) == 100 and smoothed[0] == pytest.approx(losses[0])
    assert 10 ** -2.9 <= suggestion <= 10 ** -2.0, suggestion  # the smoothing lags the curve a little


def test_no_suggestion_when_the_loss_never_falls():
    rates = np.logspace(-5, 0, 60)
    assert suggest(rates, np.linspace(2.3, 9.0, 60))[0] is None
    assert suggest(rates[:3], [2.3, 2.2, 2.1])[0] is None


def test_smoothing_is_a_bias_corrected_moving_average():
    assert smooth([4.0, 4.0, 4.0]) == pytest.approx([4.0, 4.0, 4.0])
    out = smooth([1.0, 3.0], beta=0.5)
    assert out[1] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / (1 - 0.25))


@pytest.mark.parametrize("low, high, batches, words", [
    (0, 1, 100, "from a rate above 0"), (-1, 1, 100, "from a rate above 0"), (1, 0.1, 100, "from a rate above 0"),
    (float("nan"), 1, 100, "from a rate above 0"), (1e-5, 1e9, 100, "of at most 10"),
    (0.1, 0.5, 100, "at least a factor of 10"), (1e-5, 1, 5, "10 to 1000 batches"),
    (1e-5, 1, 2.5, "10 to 1000 batches")])
def test_bad_finder_settings_are_refused_in_plain_words(low, high, batches, words):
    with pytest.raises(ConfigError, match=words):
        FinderConfig.sweeping(PROBLEM, low, high, batches)


def test_a_finder_s_settings_travel_as_a_dict_and_a_run_s_stay_a_run_s():
    config = FinderConfig.sweeping(PROBLEM.replace(schedule="one-cycle"), 1e-4, 3.0, 50)
    assert config.schedule == "constant" and not config.reduce_lr and config.name is None
    assert config_from_dict(config.to_dict()) == config and type(config_from_dict(config.to_dict())) is FinderConfig
    assert type(config_from_dict(PROBLEM.to_dict())) is TrainConfig
    assert config.rate_at(0) == pytest.approx(1e-4) and config.rate_at(49) == pytest.approx(3.0)
    assert config.rate_at(1) / config.rate_at(0) == pytest.approx((3.0 / 1e-4) ** (1 / 49))


def diverges_at(rate: float, batches: int = 60) -> bool:
    """An independent fixed-rate run of PROBLEM: does its loss end above where it began (or not finite)?"""
    import keras

    from core.fit.recipe import plan_fit

    plan = plan_fit(PROBLEM.replace(learning_rate=rate, epochs=2))
    losses = []

    class Losses(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(float(logs["loss"]))
            if len(losses) >= batches:
                self.model.stop_training = True

    plan.model.fit(callbacks=[Losses()], **plan.fit_args)
    return not math.isfinite(losses[-1]) or losses[-1] > losses[0]


@pytest.mark.slow
def test_the_suggestion_lies_below_the_rate_where_training_diverges_and_nothing_is_saved(store):
    from core.fit.progress import JobState
    from core.runs.queue import JobRegistry
    from core.runs.thread import TrainingJob

    candidates = [0.1, 0.3, 1.0, 3.0]
    diverging = [rate for rate in candidates if diverges_at(rate)]
    assert diverging and diverging[0] > candidates[0], f"fixed-rate runs diverged at {diverging}"
    known = diverging[0]
    before = sorted(p.name for p in store.root.rglob("*")) if store.root.exists() else []
    config = FinderConfig.sweeping(PROBLEM, 1e-4, 10.0, 120)
    job = JobRegistry(1, store, TrainingJob).submit(config)
    assert job.wait(timeout=300)
    progress = job.progress()
    assert progress.state == JobState.FINISHED and progress.result is None, progress.error
    result = progress.finder
    assert result.low == 1e-4 and result.high == 10.0 and result.ended == "diverged"
    assert result.learning_rates[0] == pytest.approx(1e-4) and list(result.learning_rates) == sorted(result.learning_rates)
    assert 1e-4 <= result.suggestion < known, (result.suggestion, known)
    assert after_names(store) == before, "the finder saved nothing"


def after_names(store):
    return sorted(p.name for p in store.root.rglob("*")) if store.root.exists() else []


@pytest.mark.slow
def test_a_finder_in_a_warm_worker_leaves_the_next_run_its_own_rate(store):
    from core.runs.queue import JobRegistry
    from core.runs.workers import WorkerPool

    pool = WorkerPool(grace=20.0, cores=2)
    try:
        registry = JobRegistry(1, store, pool, cores=2)
        finder = registry.submit(FinderConfig.sweeping(PROBLEM, 1e-3, 10.0, 40))
        assert finder.wait(timeout=180) and finder.progress().finder is not None, finder.progress().error
        assert len(finder.progress().finder.learning_rates) <= 40 and after_names(store) == []
        run = registry.submit(PROBLEM.replace(epochs=1, name="after"))
        assert run.wait(timeout=180) and run.worker_pid == finder.worker_pid
        assert run.progress().epoch_log[-1]["learning_rate"] == pytest.approx(PROBLEM.learning_rate)
    finally:
        pool.close()
    fresh_pool = WorkerPool(grace=20.0, cores=2)
    try:
        fresh = JobRegistry(1, store, fresh_pool, cores=2).submit(PROBLEM.replace(epochs=1, name="fresh"))
        assert fresh.wait(timeout=180) and fresh.worker_pid != run.worker_pid
    finally:
        fresh_pool.close()
    for a, b in zip(store.load("after").get_weights(), store.load("fresh").get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg="the finder left nothing in the worker")


@pytest.mark.slow
def test_the_command_line_prints_the_curve_and_its_suggestion(capsys, tmp_path, monkeypatch):
    from core.cli import main

    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "models"))
    assert main(["lr-find", "--arch", "linear", "--optimizer", "sgd", "--limit", "1000", "--batch-size", "32",
                 "--batches", "40", "--low", "1e-3", "--high", "3"]) == 0
    out = capsys.readouterr().out
    assert "learning rate" in out and "suggested learning rate:" in out and "steepest descent" in out
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").glob("*.keras"))


def test_the_command_line_refuses_a_bad_range_before_anything_runs(capsys):
    from core.cli import main

    assert main(["lr-find", "--arch", "linear", "--low", "0"]) == 2
    assert "from a rate above 0" in capsys.readouterr().err
