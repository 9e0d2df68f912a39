"""The Train page's settings panel: architecture and training widgets -> the pieces of a TrainConfig.

Every widget is keyed by architecture, so choosing a preset shows that preset's own defaults.
Validation is left to TrainConfig: the widgets allow a few impossible values (a limit of 10,
a learning rate of 0) so that the page can explain why they are refused.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.config import OPTIMIZERS, SCHEDULES, SETTINGS, TrainConfig
from core.models import parameter_count
from core.presets import ACTIVATIONS, CNN_LIMITS, MLP_LIMITS, PRESETS, ArchitectureError

DEFAULT_ARCH = "cnn-basic"
BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]


@st.cache_data(show_spinner=False, max_entries=256)
def cached_parameter_count(arch: str, options: tuple[tuple[str, Any], ...]) -> int:
    """parameter_count builds a Keras model (tens of ms); each architecture/option set is built once."""
    return parameter_count(arch, dict(options))


def _bounds(name: str) -> tuple[int, int]:
    """A whole-number setting's limits, from core.config's settings table."""
    return int(SETTINGS[name].low), int(SETTINGS[name].high)


def _key(arch: str, name: str) -> str:
    return f"train_{arch}_{name}"


def mlp_options_ui(arch: str) -> dict[str, Any]:
    """Sliders for custom-mlp: how many hidden layers, how wide, which activation, how much dropout."""
    defaults = PRESETS[arch].default_options
    low, high = MLP_LIMITS["layers"]
    n_layers = st.slider("Hidden layers", low, high, len(defaults["hidden"]), key=_key(arch, "layers"))
    low, high = MLP_LIMITS["units"]
    units = st.slider("Units per hidden layer", low, high, int(defaults["hidden"][0]), step=8,
                      key=_key(arch, "units"), disabled=n_layers == 0)
    activation = st.selectbox("Activation", ACTIVATIONS, index=ACTIVATIONS.index(defaults["activation"]),
                              key=_key(arch, "activation"))
    low, high = MLP_LIMITS["dropout"]
    dropout = st.slider("Dropout after each hidden layer", low, high, float(defaults["dropout"]), step=0.05,
                        key=_key(arch, "dropout"))
    return {"hidden": tuple([units] * n_layers), "activation": activation, "dropout": dropout}


def cnn_options_ui(arch: str) -> dict[str, Any]:
    """Sliders for custom-cnn: conv blocks, filters (doubling per block), kernel, batch norm, dropout, dense head."""
    d = PRESETS[arch].default_options
    c1, c2 = st.columns(2)
    blocks = c1.slider("Conv blocks", *CNN_LIMITS["blocks"], d["blocks"], key=_key(arch, "blocks"))
    filters = c2.slider("Filters in block 1", *CNN_LIMITS["filters"], d["filters"], step=4,
                        key=_key(arch, "filters"), help="Each further block doubles the filters.")
    kernel = c1.slider("Kernel size", *CNN_LIMITS["kernel_size"], d["kernel_size"], key=_key(arch, "kernel"))
    dense = c2.slider("Dense units (0 = none)", *CNN_LIMITS["dense_units"], d["dense_units"], step=16,
                      key=_key(arch, "dense"))
    dropout = c1.slider("Dropout", *CNN_LIMITS["dropout"], float(d["dropout"]), step=0.05, key=_key(arch, "dropout"))
    batch_norm = c2.toggle("Batch normalisation", d["batch_norm"], key=_key(arch, "bn"))
    return {"blocks": blocks, "filters": filters, "kernel_size": kernel, "batch_norm": batch_norm,
            "dropout": dropout, "dense_units": dense}


def architecture_ui() -> tuple[str, dict[str, Any]]:
    """Preset picker with its source line, the sliders of a custom architecture, and the parameter count."""
    names = list(PRESETS)
    arch = st.selectbox("Architecture", names, index=names.index(DEFAULT_ARCH), key="train_arch")
    st.caption(PRESETS[arch].source)
    options: dict[str, Any] = {}
    if arch == "custom-mlp":
        options = mlp_options_ui(arch)
    elif arch == "custom-cnn":
        options = cnn_options_ui(arch)
    try:
        count = cached_parameter_count(arch, tuple(sorted(options.items())))
        st.markdown(f"**{count:,} parameters** to learn")
    except ArchitectureError as exc:  # TrainConfig reports it again when Start is pressed
        st.warning(str(exc))
    return arch, options


def training_ui(arch: str) -> dict[str, Any]:
    """Epochs, batch, optimiser and friends, starting at the preset's own settings; TrainConfig keyword arguments."""
    preset = TrainConfig.for_preset(arch)  # the preset's own settings
    c1, c2 = st.columns(2)
    epochs = c1.number_input("Epochs", *_bounds("epochs"), preset.epochs, key=_key(arch, "epochs"))
    batch_size = c2.select_slider("Batch size", BATCH_SIZES, preset.batch_size, key=_key(arch, "batch"))
    optimizer = c1.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(preset.optimizer),
                             key=_key(arch, "optimizer"))
    learning_rate = c2.number_input("Learning rate", 0.0, 10.0, float(preset.learning_rate), step=0.0001,
                                    format="%g", key=_key(arch, "lr"))
    schedule = c1.selectbox("Learning-rate schedule", SCHEDULES, index=SCHEDULES.index(preset.schedule),
                            key=_key(arch, "schedule"),
                            help="one-cycle: warm up to the learning rate, then ease down to 1% of it.")
    limit = c2.number_input("Training samples (0 = all)", 0, _bounds("limit")[1], preset.limit or 0, step=500,
                            key=_key(arch, "limit"),
                            help="Train on a random subset: fewer samples train faster and learn less.")
    validation_split = c1.slider("Validation share", 0.0, 0.5, 0.1, step=0.05, key=_key(arch, "val"),
                                 help="Held out from the training samples to check the model on unseen images.")
    seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key=_key(arch, "seed"),
                           help="Same seed, same settings: the same run again.")
    augment = st.toggle("Augmentation", preset.augment, key=_key(arch, "augment"),
                        help="Randomly shift, turn and zoom the training images.")
    early_stopping = st.toggle("Early stopping", preset.early_stopping, key=_key(arch, "early"),
                               help="Stop when the validation loss has not improved for 3 epochs.")
    reduce_lr = st.toggle("Reduce learning rate on plateau", preset.reduce_lr, key=_key(arch, "reduce_lr"),
                          help="Halve the learning rate when the validation loss stalls.")
    name = st.text_input("Model name (optional)", key=_key(arch, "name"),
                         placeholder=f"automatic: {arch}-<date>-<time>").strip()
    return dict(epochs=int(epochs), batch_size=int(batch_size), optimizer=optimizer, schedule=schedule,
                learning_rate=float(learning_rate), limit=int(limit) or None,
                validation_split=round(float(validation_split), 2), augment=augment,
                early_stopping=early_stopping, reduce_lr=reduce_lr, seed=int(seed), name=name or None)


def settings_ui() -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The whole settings panel: (architecture, its options, training settings)."""
    st.subheader("1 · Network")
    arch, options = architecture_ui()
    st.subheader("2 · Training")
    return arch, options, training_ui(arch)
