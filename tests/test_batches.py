"""Training batches without tf.data threads (core.data.batches): every sample once an epoch, reshuffled, seeded,
and a pipeline with no parallel map, prefetch or autotuning, which Keras' own pipeline for arrays has (and which
TensorFlow was seen to hang in when an epoch's iterator was dropped)."""
import numpy as np
import tensorflow as tf
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

from core.data.augment import augmented_dataset
from core.data.batches import batches, gathered_batches

THREADED_OPS = {"ParallelMapDatasetV2", "PrefetchDataset", "ModelDataset", "ParallelInterleaveDatasetV4",
                "ParallelBatchDataset", "PrivateThreadPoolDataset"}


def dataset_ops(dataset: tf.data.Dataset) -> set[str]:
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(tf.raw_ops.DatasetToGraphV2(input_dataset=dataset._variant_tensor).numpy())
    return {node.op for node in graph.node}


def epoch(dataset) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys), [len(y) for y in ys]


def test_every_sample_once_an_epoch_reshuffled_each_epoch_and_the_same_for_a_seed():
    x = np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1)
    y = np.arange(50, dtype=np.int64)
    data = batches(x, y, 16, seed=3)
    first_x, first_y, sizes = epoch(data)
    second_y = epoch(data)[1]
    assert sizes == [16, 16, 16, 2] and data.cardinality().numpy() == 4, "Keras counts the batches from it"
    assert sorted(first_y.tolist()) == list(range(50)) and sorted(second_y.tolist()) == list(range(50))
    np.testing.assert_array_equal(first_x.ravel(), first_y)  # images and labels stay paired
    assert first_y.tolist() != list(range(50)) and first_y.tolist() != second_y.tolist(), "shuffled anew each epoch"
    assert epoch(batches(x, y, 16, seed=3))[1].tolist() == first_y.tolist(), "the same order for the same seed"
    assert epoch(batches(x, y, 16, shuffle=False))[1].tolist() == list(range(50))


def test_small_arrays_in_a_shuffle_buffer_give_the_batches_large_ones_gathered_by_index_give():
    """batches() shuffles small arrays in a buffer and gathers large ones by index: the same seed, the same
    batches, epoch after epoch, so a run's figures do not depend on its size's path."""
    x = np.arange(300, dtype=np.float32).reshape(300, 1, 1, 1)
    y = np.arange(300, dtype=np.int64)
    for seed in (0, 7):
        buffered, gathered = batches(x, y, 32, seed), gathered_batches(x, y, 32, seed)
        assert "ShuffleDatasetV3" in dataset_ops(buffered) and "ShuffleDatasetV3" in dataset_ops(gathered)
        assert "MapDataset" not in dataset_ops(buffered) and "MapDataset" in dataset_ops(gathered)
        for _ in range(3):
            one, two = epoch(buffered), epoch(gathered)
            np.testing.assert_array_equal(one[1], two[1])
            np.testing.assert_array_equal(one[0], two[0])
            assert one[2] == two[2]
    np.testing.assert_array_equal(epoch(batches(x, y, 32, shuffle=False))[1], y)
    np.testing.assert_array_equal(epoch(gathered_batches(x, y, 32, shuffle=False))[1], y)


def test_no_stage_starts_threads_where_keras_own_pipeline_does():
    x = np.zeros((64, 28, 28, 1), np.float32)
    y = np.zeros(64, np.int64)
    keras_ops = dataset_ops(ArrayDataAdapter(x, y, batch_size=16, shuffle=True).get_tf_dataset())
    assert keras_ops & THREADED_OPS, "the oracle: Keras' pipeline for arrays has threaded stages"
    assert not dataset_ops(batches(x, y, 16, seed=0)) & THREADED_OPS
    assert not dataset_ops(gathered_batches(x, y, 16, seed=0)) & THREADED_OPS
    assert not dataset_ops(augmented_dataset(x, y, 16, seed=0)) & THREADED_OPS
    assert not dataset_ops(augmented_dataset(x, y, 16, seed=0, switch=tf.Variable(True))) & THREADED_OPS
    options = batches(x, y, 16).options()
    assert options.autotune.enabled is False and options.experimental_optimization.inject_prefetch is False


def test_augmented_batches_are_the_same_for_the_same_seed():
    rng = np.random.default_rng(0)
    x = rng.random((40, 28, 28, 1), dtype=np.float32)
    y = np.arange(40, dtype=np.int64) % 10
    one, two = epoch(augmented_dataset(x, y, 16, seed=5)), epoch(augmented_dataset(x, y, 16, seed=5))
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    assert not np.allclose(np.sort(one[0].ravel()), np.sort(x.ravel())), "they are augmented"


def test_a_planned_fit_trains_on_them_without_a_warning():
    """plan_fit hands fit the batches (not the arrays) and says they shuffle themselves: Keras warns otherwise."""
    import warnings

    from core.fit.config import TrainConfig
    from core.fit.recipe import plan_fit

    for augment in (False, True):
        plan = plan_fit(TrainConfig.for_preset("linear", epochs=1, limit=300, validation_split=0.2, augment=augment))
        assert isinstance(plan.fit_args["x"], tf.data.Dataset)
        assert isinstance(plan.fit_args["validation_data"], tf.data.Dataset)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            history = plan.model.fit(**plan.fit_args)
        assert len(history.history["val_accuracy"]) == 1


def test_read_only_arrays_are_sliced_once_and_batched_alike_each_run():
    """A kept split's arrays (read-only, core.data.datasets.split) are copied into tensors once: the next run of
    the same step reuses them, with the same batches for its seed as a fresh copy gives."""
    from core.data import batches as module

    x = np.arange(300, dtype=np.float32).reshape(300, 1, 1, 1)
    y = np.arange(300, dtype=np.int64)
    writable_first = epoch(batches(x, y, 32, seed=5))
    assert module.sliced(x, y) is not module.sliced(x, y), "arrays that may change are copied every time"
    x.flags.writeable = y.flags.writeable = False
    assert module.sliced(x, y) is module.sliced(x, y)
    for a, b in zip(epoch(batches(x, y, 32, seed=5)), writable_first):
        np.testing.assert_array_equal(a, b)
    others = []
    for _ in range(module.KEPT_SLICES):  # newer read-only arrays push the oldest out
        other = np.zeros((4, 1, 1, 1), np.float32), np.zeros(4, np.int64)
        for array in other:
            array.flags.writeable = False
        others.append(other)
        module.sliced(*other)
    assert len(module._slices) == module.KEPT_SLICES and (id(x), id(y)) not in module._slices
