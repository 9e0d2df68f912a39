"""Each layer's gradient and weight figures (core.fit.layer_stats, core.store.layer_stats): the gradient norm in
a snapshot is the GradientTape's on the run's gradient batch, a layer forced dead is 100% dead, the histograms
count every weight, the update ratio is the last step's; they are saved in the replay, and the hints read them."""
from __future__ import annotations

import numpy as np
import pytest

from core.fit.layer_hints import hints
from core.store.layer_stats import BINS, LayerStats, from_arrays, to_arrays


def stats(name="dense", **figures) -> LayerStats:
    values = np.random.default_rng(0).normal(0, 0.05, 1000)
    return LayerStats.of(name, values, **figures)


def test_the_figures_of_a_kernel_are_its_own():
    weights = np.random.default_rng(1).normal(0.2, 0.5, (30, 40))
    s = LayerStats.of("dense", weights, gradient_norm=0.3, update_ratio=1e-3, dead=0.25)
    assert s.count == 1200 and int(s.histogram.sum()) == 1200 and len(s.histogram) == BINS
    assert s.mean == pytest.approx(weights.mean(), rel=1e-5) and s.std == pytest.approx(weights.std(), rel=1e-5)
    assert (s.low, s.high) == pytest.approx((weights.min(), weights.max()))
    expected, _ = np.histogram(weights.astype(np.float32), bins=BINS, range=(s.low, s.high))
    np.testing.assert_array_equal(s.histogram, expected)


def test_layer_figures_round_trip_through_replay_arrays():
    rows = [None, (stats("a", gradient_norm=1.5), stats("b", dead=0.5)), None,
            (stats("a", update_ratio=2e-3), stats("b"))]
    back = from_arrays(to_arrays(rows), len(rows))
    assert back[0] is None and back[2] is None
    for original, restored in zip(rows[1] + rows[3], back[1] + back[3]):
        assert restored.name == original.name and restored.count == original.count
        np.testing.assert_array_equal(restored.histogram, original.histogram)
        for field in ("gradient_norm", "mean", "std", "low", "high", "update_ratio", "dead"):
            assert getattr(restored, field) == pytest.approx(getattr(original, field), nan_ok=True)


def test_hints_speak_when_the_ratio_leaves_the_usual_range_or_units_die():
    assert hints([stats(update_ratio=1e-3, dead=0.0)]) == []
    high = hints([stats(update_ratio=2e-2)])
    assert len(high) == 1 and "20x larger than usual" in high[0] and "too high" in high[0]
    low = hints([stats(update_ratio=1e-6)])
    assert len(low) == 1 and "smaller than usual" in low[0] and "too low" in low[0]
    dead = hints([stats("dense_1", dead=0.75)])
    assert len(dead) == 1 and "75%" in dead[0] and "dense_1" in dead[0]
    assert hints([stats(update_ratio=float("nan"), dead=float("nan"))]) == []


@pytest.mark.slow
def test_a_snapshot_s_gradient_norm_is_the_gradient_tape_s_and_a_dead_layer_is_all_dead(monkeypatch):
    import keras

    from core.fit import watching

    monkeypatch.setattr(watching, "LAYER_BUDGET", 1.0)  # the figures with every snapshot

    from core.fit.config import TrainConfig
    from core.fit.layer_stats import gradient_batch, kernel_gradients, watch_for
    from core.fit.progress import ProgressRecorder
    from core.fit.recipe import plan_fit
    from core.fit.watching import watch_callback

    config = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=800, batch_size=64)
    plan = plan_fit(config)
    recorder = ProgressRecorder("stats", config)
    watcher = watch_callback(plan, config, recorder, every=3)
    plan.model.fit(callbacks=[watcher], **plan.fit_args)
    last = watcher.taken[-1]
    assert last.step == watcher.step and last.layers is not None
    x, y = gradient_batch(*plan.train_data, config.seed)
    oracle = kernel_gradients(plan.model, x, y)  # the weights are the last snapshot's: it was taken at the end
    kernels = [layer.kernel.numpy() for layer in plan.model.layers if hasattr(layer, "kernel")]
    assert [s.name for s in last.layers] == [layer.name for layer in plan.model.layers if hasattr(layer, "kernel")]
    for s, g, kernel in zip(last.layers, oracle, kernels):
        assert s.gradient_norm == pytest.approx(float(np.linalg.norm(g)), rel=1e-4)
        assert int(s.histogram.sum()) == s.count == kernel.size
        assert s.mean == pytest.approx(float(kernel.mean()), abs=1e-6)
        assert 0.0 <= s.dead <= 1.0 or (np.isnan(s.dead) and s is last.layers[-1])  # the logits have no ReLU
    regular = [shot for shot in watcher.taken[1:] if shot.confusion is None and shot.step < watcher.step]
    assert regular and all(np.isfinite(s.update_ratio) and s.update_ratio > 0 for s in regular[0].layers)

    watch = watch_for(plan.model, (28, 28, 1))
    first = plan.model.layers[1]
    assert isinstance(first, keras.layers.Dense)
    first.bias.assign(np.full(first.bias.shape, -1e4, np.float32))   # no panel digit can reach zero
    _, activations, gradients = watch.predict(watcher.panel_x)
    assert gradients is None
    dead = watch.measure(activations, None, len(watcher.panel_x))
    assert dead[0].dead == 1.0
    watch.remember()
    first.kernel.assign(first.kernel * 1.01)
    moved = watch.measure(activations, None, len(watcher.panel_x))
    assert moved[0].update_ratio == pytest.approx(0.01 / 1.01, rel=1e-4)
    assert np.isnan(moved[0].gradient_norm) and moved[1].update_ratio == 0.0


def test_a_replay_keeps_its_events_and_its_layer_figures_within_its_budget():
    import dataclasses

    from core.store.run_events import RunEvent
    from core.store.snapshots import MAX_SAVED, REPLAY_BUDGET, Replay

    from test_snapshots import synthetic_run

    run = synthetic_run(500)
    rng = np.random.default_rng(2)
    sizes = {"conv2d": 288, "conv2d_1": 18432, "dense": 204800, "dense_1": 1280}  # cnn-bn's kernels
    shots = tuple(dataclasses.replace(s, layers=tuple(
        LayerStats.of(name, rng.normal(0, 0.05 + s.seq / 1e4, size), gradient_norm=1 / (1 + s.seq),
                      update_ratio=1e-3, dead=0.1) for name, size in sizes.items()) if s.seq else None)
        for s in run.snapshots)
    events = (RunEvent("learning_rate", 120, 0.8, 0.05, "learning rate 0.001 → 0.05"),
              RunEvent("augment", 300, 2.0, 0.0, "augmentation off"))
    data = Replay(run.panel, shots, 150, events).to_bytes()
    assert len(data) <= REPLAY_BUDGET
    back = Replay.from_bytes(data)
    assert back.events == events
    plain = len(Replay.from_bytes(run.to_bytes()).snapshots)  # random probabilities: hardly compressible
    assert 0.8 * plain <= len(back.snapshots) <= MAX_SAVED, "the layer figures leave room for most snapshots"
    kept = {s.seq: s for s in shots}
    assert back.snapshots[0].layers is None
    for shot in back.snapshots[1:]:
        assert [s.name for s in shot.layers] == list(sizes)
        for restored, original in zip(shot.layers, kept[shot.seq].layers):
            np.testing.assert_array_equal(restored.histogram, original.histogram)
            assert restored.gradient_norm == pytest.approx(original.gradient_norm)
            assert int(restored.histogram.sum()) == restored.count == sizes[restored.name]


@pytest.mark.slow
def test_the_layer_figures_keep_to_their_own_share_of_the_training_time(monkeypatch):
    from core.fit import watching
    from core.fit.config import TrainConfig
    from core.fit.progress import ProgressRecorder
    from core.fit.recipe import plan_fit

    config = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=1500, batch_size=16)
    plan = plan_fit(config)
    watcher = watching.watch_callback(plan, config, ProgressRecorder("share", config), every=1)
    monkeypatch.setattr(watching, "LAYER_BUDGET", 0.0005)  # tiny: figures rarely due
    plan.model.fit(callbacks=[watcher], **plan.fit_args)
    with_figures = [s for s in watcher.taken if s.layers is not None]
    assert watcher.taken[0].layers is not None and watcher.taken[1].layers is not None, "the first two always"
    assert len(with_figures) == watcher.layer_snapshots < len(watcher.taken) / 3, (len(with_figures), len(watcher.taken))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["linear", "cnn-best"])
def test_every_kind_of_network_gets_its_figures(arch):
    """No ReLU at all (linear), ReLU as its own layer after batch norm (cnn-best): figures for every kernel."""
    from core.data import datasets
    from core.fit.config import TrainConfig
    from core.fit.layer_stats import gradient_batch, kernel_layers, watch_for
    from core.fit.recipe import plan_fit

    plan = plan_fit(TrainConfig.for_preset(arch, epochs=1, limit=300, batch_size=32))
    watch = watch_for(plan.model, (28, 28, 1))
    x = datasets.normalise(datasets.load("mnist").x_test[:26])
    out, activations, gradients = watch.predict(x, gradient_batch(*plan.train_data, 0))
    assert out.shape == (26, 10) and len(gradients) == len(kernel_layers(plan.model))
    figures = watch.measure(activations, gradients, 26)
    assert [s.name for s in figures] == [layer.name for layer in kernel_layers(plan.model)]
    assert all(s.gradient_norm > 0 and int(s.histogram.sum()) == s.count for s in figures)
    deads = [s.dead for s in figures if not np.isnan(s.dead)]
    assert len(deads) == (0 if arch == "linear" else 4) and all(0 <= d <= 1 for d in deads)


def test_weights_that_are_no_longer_numbers_are_counted_and_named():
    weights = np.array([0.5, np.nan, -0.25, np.inf, 0.0], np.float32)
    s = LayerStats.of("dense", weights)
    assert s.count == 5 and int(s.histogram.sum()) == 3 and s.broken == 2
    assert s.mean == pytest.approx(0.25 / 3) and (s.low, s.high) == (-0.25, 0.5)
    gone = LayerStats.of("dense_1", np.full(4, np.nan))
    assert gone.broken == 4 and np.isnan(gone.mean) and np.isnan(gone.low)
    [hint] = hints([s, gone, stats("dense_2", update_ratio=0.5)])
    assert "4 of the 4 weights of layer dense_1 are no longer numbers" in hint and "diverged" in hint
    back = from_arrays(to_arrays([(s, gone)]), 1)[0]
    assert back[1].broken == 4 and back[0].broken == 2
