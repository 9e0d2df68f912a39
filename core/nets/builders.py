"""Keras builders of the presets (core/nets/presets.py): the classic tutorial networks plus configurable MLP and CNN.

Each preset is one small function returning a `keras.Sequential` that reads top to
bottom (after Keras' own mnist_convnet example), with its origin in the docstring.
"""
from __future__ import annotations

from typing import Any, Callable

import keras
from keras import layers

from core.nets.presets import PRESETS, ArchitectureError, check_cnn, check_mlp, get_preset, validate_options  # noqa: F401

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# Keras' default 0.99 leaves the moving statistics far from settled after the few hundred
# steps of a short run in the app (validation accuracy ~20% after one epoch); 0.9 settles fast.
BN_MOMENTUM = 0.9


def linear(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """TensorFlow 2 beginner demo, stripped of activations: two stacked affine maps, logits out."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Flatten(),                      # 784
        layers.Dense(100),
        layers.Dense(num_classes),             # logits
    ], name="linear")


def mlp_512(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """Deep Learning with Python (Chollet), ch. 2: Dense(512, relu) + softmax, rmsprop; 97.8% after 5 epochs."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], name="mlp_512")


def mlp_128_64(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """Keras MLP tutorial: 128 and 64 relu units, logits out; about 97%."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),             # logits
    ], name="mlp_128_64")


def tiny_20px(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """The 400-25-15-10 network of the 5,000-image tutorial: input shrunk to 20x20 inside the model."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Resizing(20, 20),               # 20x20x1 = 400 inputs
        layers.Flatten(),
        layers.Dense(25, activation="relu"),
        layers.Dense(15, activation="relu"),
        layers.Dense(num_classes),             # logits
    ], name="tiny_20px")


def cnn_basic(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """The textbook small convnet: two conv/pool blocks, Dense(128), softmax."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, activation="relu"),   # 26x26x32
        layers.MaxPooling2D(),                     # 13x13x32
        layers.Conv2D(64, 3, activation="relu"),   # 11x11x64
        layers.MaxPooling2D(),                     # 5x5x64
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], name="cnn_basic")


def cnn_bn(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """CNN tutorial with batch norm, dropout, early stopping and ReduceLROnPlateau; >98%."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.MaxPooling2D(),
        layers.Dropout(0.25),                      # 13x13x32
        layers.Conv2D(64, 3, activation="relu"),
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.MaxPooling2D(),
        layers.Dropout(0.25),                      # 5x5x64
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ], name="cnn_bn")


def _conv_bn(filters: int) -> list[layers.Layer]:
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=BN_MOMENTUM), layers.Activation("relu")]


def cnn_fast(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """Digit Studio's quick one: three small conv blocks (12, 24, 48 filters, padding "same"), each pooled, then
    batch-normalised on the pooled quarter of the pixels, for a two-epoch one-cycle run. A third of the
    multiply-adds of Keras' example convnet (whose 64-filter second convolution is most of its cost), and the
    third block's receptive field reads whole strokes: 99.2% after two epochs (benchmarks section 2)."""
    blocks = []
    for filters in (12, 24, 48):                                           # 28 -> 14 -> 7 -> 3 pixels a side
        blocks += [layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                   layers.BatchNormalization(momentum=BN_MOMENTUM)]       # after pooling: a quarter of the cost
    return keras.Sequential([keras.Input(input_shape), *blocks, layers.Flatten(), layers.Dropout(0.2),
                             layers.Dense(num_classes, activation="softmax")], name="cnn_fast")


def cnn_best(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """Digit Studio's own: convs at 28, 14 and twice at 7 pixels with channels doubling. The first conv is
    normalised after pooling, as in cnn-fast, so no batch norm runs on 28x28 maps."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),   # 28x28x32
        layers.MaxPooling2D(),                                      # 14x14x32
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        *_conv_bn(64),
        layers.MaxPooling2D(),                                      # 7x7x64
        *_conv_bn(128),
        *_conv_bn(128),                                             # 7x7x128
        layers.Flatten(),
        layers.Dropout(0.4),
        layers.Dense(num_classes, activation="softmax"),
    ], name="cnn_best")


def custom_mlp(hidden: tuple[int, ...] = (128,), activation: str = "relu", dropout: float = 0.0,
               input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """Configurable MLP for the architecture sliders: hidden layer sizes, activation, dropout after each."""
    hidden = tuple(int(h) for h in hidden)
    check_mlp(hidden, activation, dropout)
    stack: list[Any] = [keras.Input(input_shape), layers.Flatten()]
    for units in hidden:
        stack.append(layers.Dense(units, activation=activation))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(stack, name="custom_mlp")


def custom_cnn(blocks: int = 2, filters: int = 32, kernel_size: int = 3, batch_norm: bool = True,
               dropout: float = 0.25, dense_units: int = 128,
               input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES) -> keras.Model:
    """Configurable CNN for the sliders: conv blocks (filters double per block), BN on/off, dropout, dense head.

    Batch norm comes after pooling, as in cnn-fast: on a quarter of the pixels it costs a quarter as much.
    """
    check_cnn(blocks, filters, kernel_size, batch_norm, dropout, dense_units)
    stack: list[Any] = [keras.Input(input_shape)]
    for block in range(int(blocks)):
        stack.append(layers.Conv2D(int(filters) * 2 ** block, int(kernel_size), padding="same", activation="relu"))
        stack.append(layers.MaxPooling2D())       # 28 -> 14 -> 7 -> 3
        if batch_norm:
            stack.append(layers.BatchNormalization(momentum=BN_MOMENTUM))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Flatten())
    if dense_units:
        stack.append(layers.Dense(int(dense_units), activation="relu"))
        if dropout:
            stack.append(layers.Dropout(min(0.5, dropout * 2)))
    stack.append(layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(stack, name="custom_cnn")


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "linear": linear, "mlp-512": mlp_512, "mlp-128-64": mlp_128_64, "tiny-20px": tiny_20px,
    "cnn-basic": cnn_basic, "cnn-bn": cnn_bn, "cnn-fast": cnn_fast, "cnn-best": cnn_best,
    "custom-mlp": custom_mlp, "custom-cnn": custom_cnn,
}


def build_model(arch: str, options: dict[str, Any] | None = None, input_shape=INPUT_SHAPE,
                num_classes: int = NUM_CLASSES) -> keras.Model:
    """Build a fresh, uncompiled model for images of `input_shape` and `num_classes` classes.

    Options are only accepted by the configurable architectures.
    """
    options = validate_options(arch, options)
    return BUILDERS[arch](**options, input_shape=tuple(input_shape), num_classes=int(num_classes))


def for_inference(model: keras.Model, logits: bool) -> keras.Model:
    """An uncompiled copy that outputs probabilities (logits models get a Softmax on top).

    Uncompiled, so a saved model carries no optimizer state: a third of the file size, and half the time to
    save. Made from the model's config, not with keras.models.clone_model, which compiles its clone as the
    model was compiled (Keras 3.15).
    """
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    if not logits:
        return copy
    return keras.Sequential([copy, layers.Softmax()], name=f"{model.name}_probabilities")


def parameter_count(arch: str, options: dict[str, Any] | None = None, input_shape=INPUT_SHAPE,
                    num_classes: int = NUM_CLASSES) -> int:
    """Trainable plus non-trainable parameters of a freshly built model."""
    return build_model(arch, options, input_shape, num_classes).count_params()
