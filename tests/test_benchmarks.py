"""The fast and best presets build and train, and the benchmark writes every section (no timings asserted)."""
import numpy as np
import pytest

from benchmarks.__main__ import TITLES, main
from core.fit.config import TrainConfig
from core.fit.recipe import plan_fit
from core.nets import builders


@pytest.mark.parametrize("arch", ["cnn-fast", "cnn-best"])
def test_preset_builds_and_one_training_step_changes_the_weights(arch):
    config = TrainConfig.for_preset(arch, limit=256, epochs=1, batch_size=64)
    plan = plan_fit(config)
    assert plan.model.output_shape == (None, 10)
    before = [w.copy() for w in plan.model.get_weights()]
    x, y = np.random.default_rng(0).random((64, 28, 28, 1), np.float32), np.arange(64) % 10
    logs = plan.model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert any(not np.allclose(a, b) for a, b in zip(before, plan.model.get_weights()))
    probabilities = builders.for_inference(plan.model, plan.preset.logits)(x[:2], training=False)
    np.testing.assert_allclose(np.asarray(probabilities).sum(axis=1), 1.0, rtol=1e-5)


def test_fast_and_best_use_a_one_cycle_schedule():
    for arch in ("cnn-fast", "cnn-best"):
        config = TrainConfig.for_preset(arch)
        assert config.schedule == "one-cycle" and not config.reduce_lr
    assert TrainConfig.for_preset("cnn-best").augment and TrainConfig.for_preset("cnn-best").epochs <= 15


@pytest.mark.slow
def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "benchmarks.md"
    assert main(["--quick", "--only", "4", "5", "6", "13", "--out", str(out)]) == 0
    text = out.read_text()
    for title in TITLES.values():
        assert f"## {title}" in text
    assert "Failed" not in text
    for number in (4, 5, 6, 13):  # the sections that ran hold a table, the others say so
        section = text.split(f"## {TITLES[number]}")[1].split("\n## ")[0]
        assert "|---|" in section
    assert "_Not run._" in text.split(f"## {TITLES[1]}")[1].split("\n## ")[0]


@pytest.mark.slow
def test_the_room_benchmark_breaks_a_run_into_its_phases_and_times_a_class(store):
    from benchmarks import room

    tiny = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=300)   # not `linear`: a fresh spare warms that one
    rows = room.breakdown(tiny, store, reused_runs=1)
    [new], [reused], [new_seed] = rows["new worker"], rows[room.SAME_STEP], rows[room.NEW_SEED]
    for phases in (new, reused, new_seed):
        assert set(room.PHASES) - {"replay"} <= set(phases), "every part of the run is timed"
        assert phases["wall"] >= sum(phases[p] for p in room.PHASES if p != "queue") - 0.05
    # either reused run shows it (a loaded suite can stall one niced worker's first batch for a quarter second)
    assert min(reused["tracing"], new_seed["tracing"]) < new["tracing"], "the reused worker's model was traced already"
    seeds = sorted(store.read_meta(info.name).config["seed"] for info in store.list() if info.name != "default")
    assert seeds == [0, 0, 1], "saved in the store it was given: the step twice as it is, then with a new seed"
    from core.runs.executors import registry_for
    from core.runs.workers import WorkerPool

    pool = WorkerPool(cores=2)
    try:
        registry = registry_for("process", pool)
        registry.store = store
        figures = room.one_class(registry, 3, tiny)
    finally:
        pool.close()
    assert 0 < figures["first"] <= figures["median"] <= figures["last"] and figures["epochs_sum"] > 0
    assert 1 <= figures["workers"] <= 3


def test_watch_cost_counts_batches_pauses_and_pairs_as_documented():
    """The watching benchmark's arithmetic (benchmarks/watch_cost.py): batches between the tap's lines, a pause
    in training, and a condition's cost against the no-page window of its round."""
    from benchmarks.tapped_server import batches_at
    from benchmarks.watch_cost import longest_pause, paired_cost

    rows = [(10.0, 100, 7), (11.0, 120, 7), (12.0, 120, 7), (13.0, 120, 7), (14.0, 150, 7)]
    assert batches_at(rows, 10.5) == 110 and batches_at(rows, 13.5) == 135 and batches_at(rows, 12.0) == 120
    assert longest_pause(rows, 10.0, 14.0) == 2.0, "from 11 s, when 120 was reached, to 13 s"
    assert longest_pause([(t, t, 7) for t in range(10)], 0, 9) == 0.0
    base = {"worker_ms": 70.0, "server": 0.01, "speed": 10.0}   # 70 ms of worker CPU and 1 ms of server CPU a batch
    same_speed = {"worker_ms": 70.0, "server": 0.03, "speed": 10.0}
    slowed = {"worker_ms": 70.0, "server": 0.03, "speed": 5.0}  # other people's load halved the speed
    assert paired_cost(same_speed, base) == pytest.approx((0.0, 2 / 71))
    assert paired_cost(slowed, base) == paired_cost(same_speed, base), "charged at the no-page speed"
    assert paired_cost({**same_speed, "worker_ms": 77.0}, base)[0] == pytest.approx(0.1)


def test_the_sweeps_benchmark_rotates_its_conditions_and_says_whether_the_best_run_survived():
    """benchmarks/sweeps.py: every condition goes first and last in some round; each ratio is within a round;
    a round where the pruner stopped the unpruned sweep's best run says so, and the count of survivals follows."""
    from benchmarks.sweeps import CONDITIONS, ROUNDS, Round, _grid_spec, _lines, _order
    from core.sweeps.records import RunRecord, SweepRecord

    orders = [_order(n) for n in range(ROUNDS)]
    assert all(sorted(o) == sorted(CONDITIONS) for o in orders)
    assert {o[0] for o in orders} == {o[-1] for o in orders} == set(CONDITIONS)

    def record(states_and_accuracies):
        return SweepRecord(1, 0.0, None, _grid_spec(True), "finished",
                           runs=[RunRecord(n, {"learning_rate": lr}, state, val_accuracy=acc)
                                 for n, (lr, state, acc) in enumerate(states_and_accuracies, 1)])

    plain = record([(0.001, "finished", 0.90), (0.1, "finished", 0.95)])
    kept = Round(orders[0], [5.0, 5.0], 11.0, plain, 8.0, record([(0.001, "finished", 0.90), (0.1, "finished", 0.95)]))
    lost = Round(orders[1], [5.0, 5.0], 10.5, plain, 6.0, record([(0.001, "finished", 0.90), (0.1, "pruned", 0.80)]))
    assert kept.overhead == pytest.approx(0.10) and lost.saved == pytest.approx(1 - 6.0 / 10.5)
    text = "\n".join(_lines([kept, lost], [(0, 0.9, 0.8)]))
    assert "The best run survived in 1 of 2 rounds." in text
    assert "| 2 | alone, pruned, sweep | +5.0% | 43% | 1 | learning rate 0.1: 95.00% | pruned, 80.00% |" in text
    assert "Sweep machinery overhead: +7.5% (+5.0% to +10.0%)" in text


def test_the_stroke_set_knows_the_digit_each_drawing_redraws(tmp_path):
    """Section 5 shows each misread stroke drawing beside the MNIST test digit it redraws: the same drawings as
    the set's own call makes, and the right digit for each."""
    from PIL import Image

    from benchmarks.inference import misread_drawings, misread_image, stroke_set
    from core.data import datasets
    from core.data.preprocess import canvas_to_mnist
    from core.data.strokes import robustness_set

    mnist = datasets.load("mnist")
    strokes = stroke_set(12)
    canvases, labels, forms = robustness_set(mnist.x_test, mnist.y_test, 12, seed=0)
    np.testing.assert_array_equal(strokes.labels, labels)
    np.testing.assert_array_equal(strokes.forms, forms)
    np.testing.assert_array_equal(strokes.x[..., 0], np.stack([canvas_to_mnist(c).image for c in canvases]))
    np.testing.assert_array_equal(mnist.y_test[strokes.sources], labels)
    assert len(set(strokes.sources.tolist())) == 12

    class ReadsEverythingAsZero:
        def predict_on_batch(self, x):
            return np.eye(10, dtype=np.float32)[np.zeros(len(x), int)]

    originals = mnist.x_test[strokes.sources]
    rows = misread_drawings(ReadsEverythingAsZero(), {"strokes": (strokes.x, strokes.labels, originals),
                                                      "fonts": (strokes.x[:3], np.array([1, 0, 2]))})
    assert len(rows) == int((strokes.labels != 0).sum()) + 2
    for row in rows:
        assert row.read_as == 0 and row.p_label == 0.0
        if row.set_name == "strokes":
            i = int(np.flatnonzero((strokes.x[..., 0] == row.image).all(axis=(1, 2)))[0])
            np.testing.assert_array_equal(row.original, mnist.x_test[strokes.sources[i]])
        else:
            assert row.original is None
    misread_image(rows, tmp_path / "misses.png", columns=5, zoom=2)
    with Image.open(tmp_path / "misses.png") as sheet:
        assert sheet.size == (5 * (2 * 56 + 4 + 4), -(-len(rows) // 5) * (56 + 26))
