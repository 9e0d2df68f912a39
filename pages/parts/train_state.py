"""The Train page's settings in session state: the keys its widgets and parts share, and `widget_state`,
which turns TrainConfig values (from a link, a lesson step or a stored model) into what the widgets show.

Kept apart from the widgets (train_controls) and the stored-model source (train_source), which both use it.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from core.fit.config import SETTINGS
from core.workshop.setting_text import DEFAULT_ARCH

ARCH_KEY = "train_arch"
SOURCE_KEY = "train_source"          # "1 · Network": a new network, or a stored model to train further
BASE_KEY = "train_base_model"        # the stored model chosen to start from
BASE_SEEN_KEY = "train_base_applied"  # the stored model whose settings were last put into the widgets
LINK_GIVEN_KEY = "train_link_given"  # a link's own training settings, kept for a stored model chosen in place of its
MISSING_KEY = "train_base_missing"   # (the model a link named and is not here, the one chosen instead)
NEW_NETWORK, STORED_MODEL = "a new network", "a stored model"
BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]
# The custom architectures' sliders: option -> widget key suffix (custom-mlp's `hidden` is two sliders).
OPTION_WIDGETS = {"custom-mlp": {"activation": "activation", "dropout": "dropout"},
                  "custom-cnn": {"blocks": "blocks", "filters": "filters", "kernel_size": "kernel",
                                 "dense_units": "dense", "dropout": "dropout", "batch_norm": "bn"}}


def shown_arch(offered: Sequence[str], chosen: Any, hidden: bool = False) -> str:
    """The architecture the Train page shows among `offered`: the visitor's `chosen` one if offered; the first
    offered if they chose one that is not (a step that offers others) or the picker is hidden; else the usual one
    where offered."""
    if chosen in offered:
        return chosen
    if chosen is not None or hidden or DEFAULT_ARCH not in offered:
        return offered[0]
    return DEFAULT_ARCH


def widget_key(arch: str, name: str) -> str:
    """The session-state key of one of `arch`'s widgets (each architecture keeps its own settings)."""
    return f"train_{arch}_{name}"


def widget_value(name: str, value: Any) -> Any:
    """A TrainConfig setting's value as its widget holds it (the sample limit's 'all' is 0)."""
    return int(value or 0) if name == "limit" else value


def widget_state(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Session state that makes the widgets show `values` (arch, options, settings: TrainConfig fields),
    and the values the widgets cannot show, as (field or option, why)."""
    arch = values.get("arch", DEFAULT_ARCH)
    state: dict[str, Any] = {ARCH_KEY: arch}
    refused: list[tuple[str, str]] = []
    for name, value in values.items():
        if name == "start_from":
            state[SOURCE_KEY] = STORED_MODEL if value else NEW_NETWORK
            if value:
                state[BASE_KEY] = state[BASE_SEEN_KEY] = value   # its settings are these, not the defaults
            continue
        if name not in SETTINGS or name == "name":
            continue
        if name == "batch_size" and value not in BATCH_SIZES:
            refused.append((name, f"The page offers batch sizes {', '.join(map(str, BATCH_SIZES))} (got {value!r})."))
            continue
        state[widget_key(arch, name)] = widget_value(name, value)
    options = dict(values.get("options") or {})
    if arch == "custom-mlp" and "hidden" in options:
        hidden = tuple(options.pop("hidden"))
        if len(set(hidden)) > 1:
            refused.append(("hidden", f"The sliders give every hidden layer the same size (got {', '.join(map(str, hidden))})."))
        else:
            state[widget_key(arch, "layers")] = len(hidden)
            if hidden:
                state[widget_key(arch, "units")] = int(hidden[0])
    for option, value in options.items():
        suffix = OPTION_WIDGETS.get(arch, {}).get(option)
        if suffix is None:
            refused.append((option, f"{arch} has no slider for {option}."))
        else:
            state[widget_key(arch, suffix)] = float(value) if option == "dropout" else value
    return state, refused
