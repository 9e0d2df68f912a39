"""Training-time augmentation as a tf.data pipeline: one random affine warp per image (rotation, zoom,
aspect, slant, shift) and stroke thickness.

The warp is a single `ImageProjectiveTransformV3` per batch (instead of one pass per Keras random
layer), so augmenting costs little next to a training step. It runs on batches outside the model,
so saved models hold no augmentation layers.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from core.data.batches import batches

MAX_ROTATION = math.radians(10)
ZOOM = (0.85, 1.15)
ASPECT = 0.1          # width scaled by up to +-10% relative to height
MAX_SLANT = 0.25      # shear factor: about +-14 degrees, as people slant their digits
MAX_SHIFT = 2.0       # pixels; drawings are re-centred by preprocessing anyway


def _thickness(images: tf.Tensor, seed: int) -> tf.Tensor:
    """Per image: thinner strokes (erosion), thicker (dilation) or unchanged, a third each."""
    dilated = tf.nn.max_pool2d(images, 2, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    choice = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], 0, 3, dtype=tf.int32, seed=seed)
    return tf.where(choice == 0, eroded, tf.where(choice == 1, dilated, images))


def _affine(images: tf.Tensor, seed: int) -> tf.Tensor:
    """One random affine map per image, about the image centre, bilinear, zero fill."""
    n = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1:3], tf.float32)
    uniform = lambda low, high, s: tf.random.uniform([n], low, high, seed=seed + s)  # noqa: E731
    angle, zoom = uniform(-MAX_ROTATION, MAX_ROTATION, 1), uniform(*ZOOM, 2)
    aspect, slant = uniform(1 - ASPECT, 1 + ASPECT, 3), uniform(-MAX_SLANT, MAX_SLANT, 4)
    shift_x, shift_y = uniform(-MAX_SHIFT, MAX_SHIFT, 5), uniform(-MAX_SHIFT, MAX_SHIFT, 6)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # forward map A = zoom * diag(aspect, 1) @ rotation @ shear, output = A (input - c) + c + shift
    a, b = zoom * aspect * cos, zoom * aspect * (cos * slant - sin)
    c, d = zoom * sin, zoom * (sin * slant + cos)
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det      # A^-1: output -> input
    cx, cy = (size[1] - 1) / 2, (size[0] - 1) / 2
    ox, oy = cx + shift_x, cy + shift_y
    transforms = tf.stack([ia, ib, cx - ia * ox - ib * oy, ic, id_, cy - ic * ox - id_ * oy,
                           tf.zeros([n]), tf.zeros([n])], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")


def augmenter(seed: int = 0):
    """A function batch -> augmented batch (float32 NHWC in [0, 1])."""

    def apply(images: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(_affine(_thickness(images, seed), seed), 0.0, 1.0)

    return apply


def augmented_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0,
                      switch: tf.Variable | None = None) -> tf.data.Dataset:
    """Shuffled, batched, augmented training data (core.data.batches: no threads of its own); the arrays stay in
    memory as float32. With `switch` (a boolean tf.Variable), augmentation can be turned off and on while it
    trains: each batch reads it as it is made, in the training step's thread, so the very next batch obeys."""
    apply = augmenter(seed)
    plain = batches(x, y, batch_size, seed)
    if switch is None:
        return plain.map(lambda images, labels: (apply(images), labels))
    return plain.map(lambda images, labels: (tf.cond(switch, lambda: apply(images), lambda: images), labels))
