"""Architecture registry: the classic tutorial presets plus configurable MLP and CNN.

Each preset is one small function returning a `keras.Sequential` that reads top to
bottom (after Keras' own mnist_convnet example), with its origin in the docstring.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# Keras' default 0.99 leaves the moving statistics far from settled after the few hundred
# steps of a short run in the app (validation accuracy ~20% after one epoch); 0.9 settles fast.
BN_MOMENTUM = 0.9


class ArchitectureError(ValueError):
    """Unknown architecture or impossible architecture options."""


def linear() -> keras.Model:
    """TensorFlow 2 beginner demo, stripped of activations: two stacked affine maps, logits out."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Flatten(),                      # 784
        layers.Dense(100),
        layers.Dense(NUM_CLASSES),             # logits
    ], name="linear")


def mlp_512() -> keras.Model:
    """Deep Learning with Python (Chollet), ch. 2: Dense(512, relu) + softmax, rmsprop; 97.8% after 5 epochs."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name="mlp_512")


def mlp_128_64() -> keras.Model:
    """Keras MLP tutorial: 128 and 64 relu units, logits out; about 97%."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(NUM_CLASSES),             # logits
    ], name="mlp_128_64")


def tiny_20px() -> keras.Model:
    """The 400-25-15-10 network of the 5,000-image tutorial: input shrunk to 20x20 inside the model."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Resizing(20, 20),               # 20x20x1 = 400 inputs
        layers.Flatten(),
        layers.Dense(25, activation="relu"),
        layers.Dense(15, activation="relu"),
        layers.Dense(NUM_CLASSES),             # logits
    ], name="tiny_20px")


def cnn_basic() -> keras.Model:
    """The textbook small convnet: two conv/pool blocks, Dense(128), softmax."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(32, 3, activation="relu"),   # 26x26x32
        layers.MaxPooling2D(),                     # 13x13x32
        layers.Conv2D(64, 3, activation="relu"),   # 11x11x64
        layers.MaxPooling2D(),                     # 5x5x64
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name="cnn_basic")


def cnn_bn() -> keras.Model:
    """CNN tutorial with batch norm, dropout, early stopping and ReduceLROnPlateau; >98%."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
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
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name="cnn_bn")


def _conv_bn(filters: int) -> list[layers.Layer]:
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=BN_MOMENTUM), layers.Activation("relu")]


def cnn_fast() -> keras.Model:
    """Digit Studio's quick one: Keras' example convnet with batch norm after each pooling, for a one-cycle run."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(32, 3, activation="relu"),   # 26x26x32
        layers.MaxPooling2D(),                     # 13x13x32
        layers.BatchNormalization(momentum=BN_MOMENTUM),   # after pooling: a quarter of the cost
        layers.Conv2D(64, 3, activation="relu"),   # 11x11x64
        layers.MaxPooling2D(),                     # 5x5x64
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name="cnn_fast")


def cnn_best() -> keras.Model:
    """Digit Studio's own: convs at 28, 14 and twice at 7 pixels with channels doubling. The first conv is
    normalised after pooling, as in cnn-fast, so no batch norm runs on 28x28 maps."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(32, 3, padding="same", activation="relu"),   # 28x28x32
        layers.MaxPooling2D(),                                      # 14x14x32
        layers.BatchNormalization(momentum=BN_MOMENTUM),
        *_conv_bn(64),
        layers.MaxPooling2D(),                                      # 7x7x64
        *_conv_bn(128),
        *_conv_bn(128),                                             # 7x7x128
        layers.Flatten(),
        layers.Dropout(0.4),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name="cnn_best")


MLP_LIMITS = {"layers": (0, 4), "units": (8, 1024), "dropout": (0.0, 0.8)}
CNN_LIMITS = {"blocks": (1, 3), "filters": (4, 128), "kernel_size": (2, 7), "dropout": (0.0, 0.8), "dense_units": (0, 512)}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")


def _check_range(name: str, value: float, limits: tuple[float, float]) -> None:
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ArchitectureError(f"{name} must be between {low} and {high}, got {value}.")


def check_mlp(hidden=(128,), activation="relu", dropout=0.0) -> None:
    """Refuse impossible MLP options before anything is built."""
    _check_range("Number of hidden layers", len(hidden), MLP_LIMITS["layers"])
    for units in hidden:
        _check_range("Units per layer", units, MLP_LIMITS["units"])
    _check_range("Dropout", dropout, MLP_LIMITS["dropout"])
    if activation not in ACTIVATIONS:
        raise ArchitectureError(f"Activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}.")


def check_cnn(blocks=2, filters=32, kernel_size=3, batch_norm=True, dropout=0.25, dense_units=128) -> None:
    """Refuse impossible CNN options before anything is built."""
    for name, value in (("blocks", blocks), ("filters", filters), ("kernel_size", kernel_size),
                        ("dropout", dropout), ("dense_units", dense_units)):
        _check_range(name.replace("_", " ").capitalize(), value, CNN_LIMITS[name])


def custom_mlp(hidden: tuple[int, ...] = (128,), activation: str = "relu", dropout: float = 0.0) -> keras.Model:
    """Configurable MLP for the architecture sliders: hidden layer sizes, activation, dropout after each."""
    hidden = tuple(int(h) for h in hidden)
    check_mlp(hidden, activation, dropout)
    stack: list[Any] = [keras.Input(INPUT_SHAPE), layers.Flatten()]
    for units in hidden:
        stack.append(layers.Dense(units, activation=activation))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(NUM_CLASSES, activation="softmax"))
    return keras.Sequential(stack, name="custom_mlp")


def custom_cnn(blocks: int = 2, filters: int = 32, kernel_size: int = 3, batch_norm: bool = True,
               dropout: float = 0.25, dense_units: int = 128) -> keras.Model:
    """Configurable CNN for the sliders: conv blocks (filters double per block), BN on/off, dropout, dense head.

    Batch norm comes after pooling, as in cnn-fast: on a quarter of the pixels it costs a quarter as much.
    """
    check_cnn(blocks, filters, kernel_size, batch_norm, dropout, dense_units)
    stack: list[Any] = [keras.Input(INPUT_SHAPE)]
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
    stack.append(layers.Dense(NUM_CLASSES, activation="softmax"))
    return keras.Sequential(stack, name="custom_cnn")


@dataclass(frozen=True)
class Preset:
    """A named architecture with the training settings its source used."""

    name: str
    build: Callable[..., keras.Model]
    source: str
    optimizer: str = "adam"
    schedule: str = "constant"
    learning_rate: float = 1e-3
    batch_size: int = 128
    epochs: int = 5
    limit: int | None = None
    logits: bool = False
    augment: bool = False
    early_stopping: bool = False
    reduce_lr: bool = False
    check: Callable[..., None] | None = None
    default_options: dict[str, Any] = field(default_factory=dict)

    @property
    def configurable(self) -> bool:
        return self.check is not None


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("linear", linear, "TensorFlow 2 beginner demo without activations (~92%)", logits=True),
    Preset("mlp-512", mlp_512, "Deep Learning with Python, ch. 2 (97.8% after 5 epochs)", optimizer="rmsprop"),
    Preset("mlp-128-64", mlp_128_64, "Keras MLP tutorial (~97%)", epochs=10, logits=True),
    Preset("tiny-20px", tiny_20px, "400-25-15-10 network trained on 5,000 images (~91%)", batch_size=32,
           epochs=30, limit=5000, logits=True),
    Preset("cnn-basic", cnn_basic, "Classic two-block convnet (~99%)"),
    Preset("cnn-bn", cnn_bn, "CNN tutorial with BN, dropout, early stopping, ReduceLROnPlateau (>98%)",
           epochs=10, early_stopping=True, reduce_lr=True),
    Preset("cnn-fast", cnn_fast, "Digit Studio's fast one: Keras' example + BN, one-cycle (99% in 2 epochs)",
           schedule="one-cycle", learning_rate=5e-3, epochs=2),
    Preset("cnn-best", cnn_best, "Digit Studio's own BN convnet, augmentation, one-cycle (aim 99.6%)",
           schedule="one-cycle", learning_rate=3e-3, epochs=8, augment=True),
    Preset("custom-mlp", custom_mlp, "Your own MLP, built with the sliders", check=check_mlp,
           default_options={"hidden": (128,), "activation": "relu", "dropout": 0.0}),
    Preset("custom-cnn", custom_cnn, "Your own CNN, built with the sliders", check=check_cnn,
           default_options={"blocks": 2, "filters": 32, "kernel_size": 3, "batch_norm": True,
                            "dropout": 0.25, "dense_units": 128}),
]}


def get_preset(name: str) -> Preset:
    """The preset called `name`, or an error listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ArchitectureError(f"Unknown architecture {name!r}; choose one of: {', '.join(PRESETS)}.") from None


def validate_options(arch: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The preset's options merged with `options`, checked; raises ArchitectureError with a plain message."""
    preset = get_preset(arch)
    if options and not preset.configurable:
        raise ArchitectureError(f"{arch} takes no options (got {', '.join(options)}).")
    merged = {**preset.default_options, **(options or {})}
    unknown = set(merged) - set(preset.default_options)
    if unknown:
        raise ArchitectureError(f"{arch} has no option(s) {', '.join(sorted(unknown))}.")
    if preset.check:
        preset.check(**merged)
    return merged


def build_model(arch: str, options: dict[str, Any] | None = None) -> keras.Model:
    """Build a fresh, uncompiled model. Options are only accepted by the configurable architectures."""
    return get_preset(arch).build(**validate_options(arch, options))


def for_inference(model: keras.Model, logits: bool) -> keras.Model:
    """An uncompiled copy that outputs probabilities (logits models get a Softmax on top).

    Uncompiled, so a saved model carries no optimizer state (a third of the file size).
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if not logits:
        return copy
    return keras.Sequential([copy, layers.Softmax()], name=f"{model.name}_probabilities")


def parameter_count(arch: str, options: dict[str, Any] | None = None) -> int:
    """Trainable plus non-trainable parameters of a freshly built model."""
    return build_model(arch, options).count_params()
