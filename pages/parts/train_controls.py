"""The Train page's settings panel: architecture and training widgets -> the pieces of a TrainConfig.

Every widget is keyed by architecture, so choosing a preset shows that preset's own defaults.
Each training setting's label, help and bounds come from core.fit.config's SETTINGS table (the same
table that validates a config and makes the command-line flags); starting from a stored model and
the users' drawings are pages/parts/train_source.py; the session keys and `widget_state`, pages/parts/train_state.py. Validation is left to TrainConfig: the widgets allow a few impossible values (a limit of 10,
a learning rate of 0) so that the page can explain why they are refused.
A lesson step (core.workshop.lessons.LessonStep) limits the architectures, locks its fixed settings, hides
controls and starts epochs and samples at its caps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import streamlit as st

from core.data import datasets
from core.fit.config import SETTINGS, TrainConfig
from core.nets.parameters import count_parameters
from core.nets.presets import ACTIVATIONS, CNN_LIMITS, MLP_LIMITS, PRESETS, ArchitectureError
from pages.parts.train_source import drawings_plan_ui, source_ui
from pages.parts.train_state import ARCH_KEY, BATCH_SIZES, shown_arch, widget_key, widget_value

AUTOMATIC_NAME = "automatic: <architecture>-<date>-<time>"
if TYPE_CHECKING:
    from core.workshop.lessons import LessonStep


def mlp_options_ui(arch: str) -> dict[str, Any]:
    """Sliders for custom-mlp: how many hidden layers, how wide, which activation, how much dropout."""
    defaults = PRESETS[arch].default_options
    low, high = MLP_LIMITS["layers"]
    n_layers = st.slider("Hidden layers", low, high, len(defaults["hidden"]), key=widget_key(arch, "layers"))
    low, high = MLP_LIMITS["units"]
    units = st.slider("Units per hidden layer", low, high, int(defaults["hidden"][0]), step=8,
                      key=widget_key(arch, "units"), disabled=n_layers == 0)
    activation = st.selectbox("Activation", ACTIVATIONS, index=ACTIVATIONS.index(defaults["activation"]),
                              key=widget_key(arch, "activation"))
    low, high = MLP_LIMITS["dropout"]
    dropout = st.slider("Dropout after each hidden layer", low, high, float(defaults["dropout"]), step=0.05,
                        key=widget_key(arch, "dropout"))
    return {"hidden": tuple([units] * n_layers), "activation": activation, "dropout": dropout}


def cnn_options_ui(arch: str) -> dict[str, Any]:
    """Sliders for custom-cnn: conv blocks, filters (doubling per block), kernel, batch norm, dropout, dense head."""
    d = PRESETS[arch].default_options
    c1, c2 = st.columns(2)
    blocks = c1.slider("Conv blocks", *CNN_LIMITS["blocks"], d["blocks"], key=widget_key(arch, "blocks"))
    filters = c2.slider("Filters in block 1", *CNN_LIMITS["filters"], d["filters"], step=4,
                        key=widget_key(arch, "filters"), help="Each further block doubles the filters.")
    kernel = c1.slider("Kernel size", *CNN_LIMITS["kernel_size"], d["kernel_size"], key=widget_key(arch, "kernel"))
    dense = c2.slider("Dense units (0 = none)", *CNN_LIMITS["dense_units"], d["dense_units"], step=16,
                      key=widget_key(arch, "dense"))
    dropout = c1.slider("Dropout", *CNN_LIMITS["dropout"], float(d["dropout"]), step=0.05, key=widget_key(arch, "dropout"))
    batch_norm = c2.toggle("Batch normalisation", d["batch_norm"], key=widget_key(arch, "bn"))
    return {"blocks": blocks, "filters": filters, "kernel_size": kernel, "batch_norm": batch_norm,
            "dropout": dropout, "dense_units": dense}


def architecture_ui(archs: Sequence[str] | None = None, locked: bool = False, hidden: frozenset[str] = frozenset(),
                    fixed_options: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Preset picker with its source line, the sliders of a custom architecture, and the parameter count.

    `archs` limits the choice (a lesson step), `locked` shows it without letting it change; `hidden`
    may hold "arch" and "options" (then the first offered architecture and its default options are used);
    `fixed_options` replace the sliders."""
    names = list(archs or PRESETS)
    arch = shown_arch(names, st.session_state.get(ARCH_KEY), "arch" in hidden)
    if st.session_state.get(ARCH_KEY, arch) not in names:
        st.session_state[ARCH_KEY] = arch              # a step that offers other architectures than before
    if "arch" not in hidden:
        arch = st.selectbox("Architecture", names, index=names.index(arch), key=ARCH_KEY, disabled=locked)
        st.caption(PRESETS[arch].source)
    options: dict[str, Any] = {}
    if fixed_options is not None:
        options = dict(fixed_options)
        if options and "options" not in hidden:
            st.caption("Fixed by this step: " + ", ".join(f"{k} {v}" for k, v in options.items()))
    elif "options" in hidden:
        options = {}
    elif arch == "custom-mlp":
        options = mlp_options_ui(arch)
    elif arch == "custom-cnn":
        options = cnn_options_ui(arch)
    try:
        count = count_parameters(arch, options)  # counted, not built: no TensorFlow on the first render
        st.markdown(f"**{count:,} parameters** to learn")
    except ArchitectureError as exc:  # TrainConfig reports it again when Start is pressed
        st.warning(str(exc))
    return arch, options


# How each setting is shown; labels, help and bounds come from core.fit.config's SETTINGS. What a learner came
# for first (the sample limit with them: it is what makes a run take seconds), the rest in a fold.
FIRST = [("epochs", "batch_size"), ("learning_rate", "limit")]
MORE = [("dataset", "optimizer"), ("schedule", "validation_split"), ("seed", "stroke_copies"),
        ("drawings_weight", "drawings_held_out"), ("augment",), ("clean_epochs", "weight_average"),
        ("early_stopping",), ("reduce_lr",), ("name",)]
LAYOUT = FIRST + MORE
MORE_KEY = "train_more_settings"     # the fold's state: open or closed, kept for the session


def setting_widget(name: str, default: Any, key: str, container, disabled: bool = False,
                   placeholder: str = AUTOMATIC_NAME) -> Any:
    """One training setting as a widget, from its entry in the settings table; returns the TrainConfig value.

    Number widgets reach one step past what TrainConfig accepts where that is natural (a learning
    rate of 0, a sample limit of 10), so that Start can explain the refusal instead of hiding it.
    """
    setting = SETTINGS[name]
    label, text = setting.label, setting.help or None
    if setting.choices:
        if name == "dataset":
            return container.selectbox(label, setting.choices, index=setting.choices.index(default), key=key,
                                       help=text, disabled=disabled, format_func=lambda n: datasets.get(n).title)
        return container.selectbox(label, setting.choices, index=setting.choices.index(default), key=key, help=text,
                                   disabled=disabled)
    if setting.kind is bool:
        return container.toggle(label, bool(default), key=key, help=text, disabled=disabled)
    if name == "name":
        value = container.text_input(f"{label} (optional)", key=key, help=text, disabled=disabled,
                                     placeholder=placeholder).strip()
        return value or None
    if name == "batch_size":
        sizes = [b for b in BATCH_SIZES if setting.low <= b <= setting.high]
        return int(container.select_slider(label, sizes, default if default in sizes else 128, key=key, help=text,
                                           disabled=disabled))
    if name == "limit":
        value = container.number_input(f"{label} (0 = all)", 0, int(setting.high), int(default or 0), step=500,
                                       key=key, help=text, disabled=disabled)
        return int(value) or None
    if name == "stroke_copies":
        return int(container.number_input(label, 0, int(setting.high), int(default), step=1000, key=key, help=text,
                                          disabled=disabled))
    if name == "drawings_held_out":
        return round(float(container.slider(label, float(setting.low), float(setting.high), float(default),
                                            step=0.05, key=key, help=text, disabled=disabled)), 2)
    if name == "validation_split":
        return round(float(container.slider(label, float(setting.low), float(setting.high), float(default),
                                            step=0.05, key=key, help=text, disabled=disabled)), 2)
    if setting.kind is float:
        return float(container.number_input(label, 0.0, float(setting.high), float(default), step=0.0001,
                                            format="%g", key=key, help=text, disabled=disabled))
    return int(container.number_input(label, int(setting.low), int(setting.high), int(default), key=key, help=text,
                                      disabled=disabled))


def training_ui(arch: str, defaults: dict[str, Any] | None = None, locked: frozenset[str] = frozenset(),
                hidden: frozenset[str] = frozenset(), name_placeholder: str = AUTOMATIC_NAME) -> dict[str, Any]:
    """Every training setting, starting at the preset's own (or `defaults`); TrainConfig keyword arguments.

    A `locked` setting is shown but cannot be changed; a `hidden` one is not shown and keeps its default.
    `name_placeholder` says what the model is called when no name is given.
    """
    start = {**TrainConfig.for_preset(arch).to_dict(), **(defaults or {})}
    values: dict[str, Any] = {}

    def rows(layout) -> None:
        for row in layout:
            shown = [name for name in row if name not in hidden]
            if "drawings_weight" in shown:
                st.markdown("**Your drawings**", help="The digits kept on the Draw page, as extra training samples.")
            columns = st.columns(len(shown)) if len(shown) > 1 else [st] * len(shown)
            for name, column in zip(shown, columns):
                values[name] = setting_widget(name, start[name], widget_key(arch, name), column,
                                              disabled=name in locked, placeholder=name_placeholder)
            if "drawings_weight" in shown:
                drawings_plan_ui(values["drawings_weight"], values.get("drawings_held_out", start["drawings_held_out"]))

    rows(FIRST)
    more = [name for row in MORE for name in row if name not in hidden]
    if more:
        with st.expander("More settings: dataset, optimizer, schedule, validation, seed, your drawings, "
                         "augmentation and how a run ends, callbacks",
                         key=MORE_KEY, on_change="rerun", icon=":material/tune:"):
            rows(MORE)
    for name in hidden:
        values[name] = start[name]
    return values


def settings_ui(step: "LessonStep | None" = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The whole settings panel: (architecture, its options, training settings), within `step`'s limits if given."""
    st.subheader("1 · Network")
    if step is None:
        base = source_ui()                             # a stored model to train further, or None
        if base is None:
            arch, options = architecture_ui()
        else:
            arch, options = architecture_ui([base.arch], locked=True, hidden=frozenset({"options"}),
                                            fixed_options=base.options)
        st.subheader("2 · Training")
        if base is None:
            return arch, options, {**training_ui(arch), "start_from": None}
        placeholder = f"automatic: {base.name}-tuned"
        return arch, options, {**training_ui(arch, name_placeholder=placeholder), "start_from": base.name}
    hidden = frozenset(step.hidden)
    arch, options = architecture_ui(step.allowed_archs, locked=step.control("arch") == "locked", hidden=hidden,
                                    fixed_options=step.fixed.get("options"))
    st.subheader("2 · Training")
    values, _ = step.apply({"arch": arch})             # fixed settings, and epochs and samples at the caps
    locked = frozenset(name for name in step.fixed if name in SETTINGS)
    for name in locked:                                # shown as fixed whatever was there before
        st.session_state[widget_key(arch, name)] = widget_value(name, values[name])
    caps = [f"{step.max_epochs} epochs" if step.max_epochs else "",
            f"{step.max_limit:,} training samples" if step.max_limit else ""]
    if any(caps):
        st.caption("This step allows at most " + " and ".join(c for c in caps if c) + ".")
    defaults = {name: value for name, value in values.items() if name in SETTINGS}
    return arch, options, training_ui(arch, defaults=defaults, locked=locked, hidden=hidden & frozenset(SETTINGS))


