"""Training and validation batches as tf.data pipelines that start no threads of their own.

Given numpy arrays, Keras feeds them through a pipeline of its own (a parallel map that autotunes, then a
prefetch) and drops that pipeline's iterator at every epoch's end. TensorFlow 2.21 was seen to hang for good
in that drop, now and then: the iterator's destructor waits for the parallel map's, the prefetch's and the
autotuner's threads, which wait on their own condition variables and never hear that it ended (a cnn-bn run
on all 60,000 digits in a worker process hung at the end of epoch 7 in one try and of epoch 23 in another;
gdb showed exactly those threads). A pipeline with no threads has nothing to wait for when it is dropped.
Each batch is made in the training step's own thread: what the prefetch used to hide costs well under a
millisecond a batch.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from core.data.datasets import SMALL_ARRAYS_BYTES
from core.data.recent import Recent

# The sliced tensors of the last read-only arrays batched (a kept split's training and validation parts,
# core.data.datasets.split): copying the arrays into tensors is most of a small pipeline's set-up. Only the
# last split's two: keeping more held a worker's first runs with new seeds back (more memory newly touched,
# ~50 ms). Read-only is taken to mean unchanging, which holds for the kept splits: nobody holds them writable.
KEPT_SLICES = 2   # (x, y) pairs: one split's training and validation parts
_slices = Recent(KEPT_SLICES)   # (id(x), id(y)) -> (x, y, their sliced dataset)


def threadless() -> tf.data.Options:
    """Options that keep tf.data from adding threads: no autotuning, no injected prefetch or parallel map."""
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_optimization.inject_prefetch = False
    options.experimental_optimization.map_parallelization = False
    return options


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = None,
            shuffle: bool = True) -> tf.data.Dataset:
    """(images, labels) batches of `batch_size`, reshuffled each epoch with `seed` when `shuffle`, the last one
    short; every sample once an epoch.

    Small arrays (a short run's 10,000 digits) go through a shuffle buffer: a pipeline with no traced function,
    a third as long to set up (~5 ms against ~15 ms, a short run makes two) and quicker per batch. Large
    ones are gathered by index from the arrays held once, so they are not copied into a buffer as well. For
    the same seed both give the same batches (a test checks)."""
    if x.nbytes + y.nbytes <= SMALL_ARRAYS_BYTES:
        data = sliced(x, y)
        if shuffle:
            data = data.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        return data.batch(batch_size).with_options(threadless())
    return gathered_batches(x, y, batch_size, seed, shuffle)


def sliced(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """`from_tensor_slices((x, y))`; for read-only arrays (a kept split's, which never change) the one made
    for them last time, so the next run of the same step does not copy them into tensors again (~6 ms of
    a short run's 10,000 digits)."""
    if x.flags.writeable or y.flags.writeable:
        return tf.data.Dataset.from_tensor_slices((x, y))
    key = (id(x), id(y))
    kept = _slices.get(key)
    if kept is not None:
        return kept[2]
    data = tf.data.Dataset.from_tensor_slices((x, y))
    _slices.put(key, (x, y, data))  # the arrays held too, so their ids stay theirs
    return data


def gathered_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = None,
                     shuffle: bool = True) -> tf.data.Dataset:
    """`batches` for large arrays: each batch gathered by index from the arrays, held once in memory."""
    order = tf.data.Dataset.range(len(y))
    if shuffle:
        order = order.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()  # as Keras does: the arrays are not copied per batch
    return tf.data.Dataset.zip((order.batch(batch_size), arrays)).map(_gather).with_options(threadless())


@tf.autograph.experimental.do_not_convert  # plain TensorFlow ops: AutoGraph would only add time to each run
def _gather(picked, both):
    return tf.gather(both[0], picked), tf.gather(both[1], picked)
