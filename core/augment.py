"""Training-time augmentation as a tf.data pipeline: shifts, rotation, zoom and stroke thickness.

It runs on batches outside the model, so saved models hold no augmentation layers.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import layers


def _thickness(images: tf.Tensor, seed: int) -> tf.Tensor:
    """Per image: thinner strokes (erosion), thicker (dilation) or unchanged, a third each."""
    dilated = tf.nn.max_pool2d(images, 2, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    choice = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], 0, 3, dtype=tf.int32, seed=seed)
    return tf.where(choice == 0, eroded, tf.where(choice == 1, dilated, images))


def augmenter(seed: int = 0):
    """A function batch -> augmented batch (float32 NHWC in [0, 1])."""
    geometric = [
        layers.RandomRotation(0.04, fill_mode="constant", seed=seed),          # about +-14 degrees
        layers.RandomZoom(0.15, fill_mode="constant", seed=seed + 1),
        layers.RandomTranslation(0.12, 0.12, fill_mode="constant", seed=seed + 2),
    ]

    def apply(images: tf.Tensor) -> tf.Tensor:
        images = _thickness(images, seed)
        for layer in geometric:
            images = layer(images, training=True)
        return tf.clip_by_value(images, 0.0, 1.0)

    return apply


def augmented_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Shuffled, batched, augmented training data; the arrays stay in memory as float32."""
    apply = augmenter(seed)
    return (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
            .map(lambda images, labels: (apply(images), labels), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
