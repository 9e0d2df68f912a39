"""How many parameters a network of the preset table has, counted without Keras.

The Train page shows the count on its first render; building a Keras model for it meant importing TensorFlow
there (seconds). A fixed preset's count is data (core/nets/presets.py); the two configurable ones are counted
from their options, layer by layer as core/nets/builders.py builds them (a test checks both against Keras).
"""
from __future__ import annotations

from math import prod
from typing import Any

from core.nets.presets import get_preset, validate_options

INPUT_SHAPE = (28, 28, 1)   # MNIST-shaped images, as builders.INPUT_SHAPE
NUM_CLASSES = 10


def _dense(inputs: int, units: int) -> int:
    return inputs * units + units


def _mlp(hidden, activation, dropout) -> int:
    inputs, total = prod(INPUT_SHAPE), 0
    for units in hidden:
        total += _dense(inputs, int(units))
        inputs = int(units)
    return total + _dense(inputs, NUM_CLASSES)


def _cnn(blocks, filters, kernel_size, batch_norm, dropout, dense_units) -> int:
    side, channels, total = INPUT_SHAPE[0], INPUT_SHAPE[2], 0
    for block in range(int(blocks)):
        out = int(filters) * 2 ** block
        total += kernel_size * kernel_size * channels * out + out   # Conv2D, padding "same"
        side //= 2                                                  # MaxPooling2D
        total += 4 * out if batch_norm else 0                       # BatchNormalization: 2 trained, 2 moving
        channels = out
    inputs = side * side * channels
    if dense_units:
        total += _dense(inputs, int(dense_units))
        inputs = int(dense_units)
    return total + _dense(inputs, NUM_CLASSES)


def count_parameters(arch: str, options: dict[str, Any] | None = None) -> int:
    """Trainable plus non-trainable parameters of `arch` with `options`, for MNIST-shaped input; raises
    ArchitectureError for an unknown architecture or impossible options."""
    merged = validate_options(arch, options)
    if arch == "custom-mlp":
        return _mlp(**merged)
    if arch == "custom-cnn":
        return _cnn(**merged)
    return get_preset(arch).parameters
