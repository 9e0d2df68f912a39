"""Inside the network: fool it. FGSM or PGD on the input, untargeted or towards a class, ε set in grey levels;
for each model the changed input, the change amplified on a colour scale, the new answer, and on request the
smallest ε that flips it; and a robustness curve (accuracy against ε on 500 test images) for one or two models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import explain
from core.fit.config import settings_differences
from pages.parts import charts, resources
from pages.parts.formatting import percent, plain
from pages.parts.inside_input import Subject
from pages.parts.inside_models import Opened
from pages.parts.inside_views import INPUT_SCALE, input_picture, probability_bars_html

METHOD_KEY, GOAL_KEY, EPS_KEY = "inside_attack_method", "inside_attack_goal", "inside_attack_eps"
SMALLEST_KEY, CURVE_KEY = "inside_attack_smallest", "inside_attack_curve"
FGSM, PGD = "FGSM (one step)", f"PGD ({explain.PGD_STEPS} steps)"
METHODS = {FGSM: "fgsm", PGD: "pgd"}
DEFAULT_LEVELS = 26  # about 0.1
CURVE_IMAGES, CURVE_EPS = 500, (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
CURVE_PGD_STEPS = 10


def _eps_levels_ui() -> int:
    """The ε slider, in grey levels; a value out of range from elsewhere (a link, an old session) is refused
    with a message and put back to the default."""
    kept = st.session_state.get(EPS_KEY)
    if kept is not None:
        try:
            explain.check_eps(kept / 255 if isinstance(kept, (int, float)) and not isinstance(kept, bool) else kept)
            if not float(kept).is_integer():
                raise explain.ExplainError(f"ε is counted in whole grey levels, got {kept!r}.")
        except (explain.ExplainError, TypeError, ValueError) as exc:
            st.warning(f"{plain(exc)} ε is set back to {DEFAULT_LEVELS} grey levels.")
            st.session_state[EPS_KEY] = DEFAULT_LEVELS
    return st.slider("ε: the most any pixel may change, in grey levels (of 255)", 0, 255, DEFAULT_LEVELS,
                     key=EPS_KEY, help="Pixel-intensity units: 255 is the whole way from black to white, so "
                                       "26 grey levels is ε = 0.10.")


def change_picture(change: np.ndarray, eps: float, scale: int = INPUT_SCALE) -> np.ndarray:
    """The change, amplified so ±ε is full colour: blue darker, red brighter, white unchanged; with its colour bar."""
    from matplotlib import colormaps

    limit = eps if eps > 0 else 1.0
    rgb = colormaps["RdBu_r"]((np.clip(change / limit, -1, 1) + 1) / 2)[..., :3]
    picture = np.kron(np.round(rgb * 255).astype(np.uint8), np.ones((scale, scale, 1), np.uint8))
    bar = colormaps["RdBu_r"](np.linspace(0, 1, picture.shape[1]))[:, :3]
    strip = np.repeat(np.round(bar * 255).astype(np.uint8)[None], 18, axis=0)
    return np.concatenate([picture, np.full((6, picture.shape[1], 3), 255, np.uint8), strip])


def _goal_ui(names: list[str]) -> int | None:
    if st.session_state.get(GOAL_KEY) not in (None, *range(len(names))):
        st.session_state[GOAL_KEY] = None
    return st.selectbox("Goal", [None, *range(len(names))], key=GOAL_KEY,
                        format_func=lambda k: "any wrong answer" if k is None else f"make it read {names[k]}")


def _smallest_key(opened: Opened, subject: Subject, method: str, target: int | None) -> tuple:
    return opened.name, opened.version, method, target, subject.title, subject.image.tobytes()


def model_attack_ui(opened: Opened, subject: Subject, method: str, target: int | None, levels: int) -> None:
    """One model: the changed input, the change, the new answer and (once asked for) the smallest flipping ε."""
    names = list(opened.spec.class_names)
    eps = levels / 255
    result = explain.attack(opened.model, subject.image, eps, method, target=target, label=subject.label)
    st.markdown(f"### {plain(opened.name)}")
    changed, change = st.columns(2)
    changed.image(input_picture(result.adversarial), output_format="PNG", width=28 * INPUT_SCALE,
                  caption=f"The changed input: each pixel moved by at most {levels}/255")
    change.image(change_picture(result.change, eps), output_format="PNG", width=28 * INPUT_SCALE,
                 caption=f"The change, amplified: blue = darker by {eps:.3f}, white = none, "
                         f"red = brighter by {eps:.3f}")
    before, after = names[result.original_class], names[result.predicted]
    if result.succeeded:
        st.error(f"Fooled: it now reads **{plain(after)}** ({percent(result.probabilities.max())}), "
                 f"not {plain(before)}.", icon=":material/theater_comedy:")
    else:
        st.success(f"Not fooled: it still reads **{plain(after)}** ({percent(result.probabilities.max())}).")
    st.markdown(probability_bars_html(result.probabilities, names, result.predicted), unsafe_allow_html=True)
    found = st.session_state.get(SMALLEST_KEY, {}).get(_smallest_key(opened, subject, method, target))
    if found is not None:
        st.info(f"The smallest ε that fools {opened.name} here: **{found.levels}/255 = {found.eps:.3f}** "
                f"(it then reads {plain(names[found.attack.predicted])}); one grey level less does not."
                if found.eps is not None else f"Not even ε = 1 fools {opened.name} here.")


def find_smallest_ui(models: list[Opened], subject: Subject, method: str, target: int | None) -> None:
    if not st.button("Find the smallest ε that fools it", key="inside_attack_find", icon=":material/search:"):
        return
    kept = st.session_state.setdefault(SMALLEST_KEY, {})
    with st.spinner("Trying ever smaller changes..."):
        for opened in models:
            kept[_smallest_key(opened, subject, method, target)] = explain.smallest_flip(
                opened.model, subject.image, method, target=target, label=subject.label)


def differences_words(models: list[Opened]) -> str:
    """What two models' training settings differ in, from their stored settings ("" for one model)."""
    if len(models) < 2:
        return ""
    first, second = models[0], models[1]
    differences = settings_differences(first.settings, second.settings)
    if differences is None:
        missing = " and ".join(m.name for m in models[:2] if not m.settings)
        return f"The training settings of {missing} were not stored, so what the two models differ in is not known."
    if not differences:
        return f"{first.name} and {second.name} were trained with the same settings: only their weights differ."
    return f"Trained differently ({first.name} / {second.name}): " + "; ".join(differences) + "."


@st.cache_resource(show_spinner=False)
def _curves() -> dict:
    """Robustness curves made so far, by (model, version, method): shared by every session."""
    return {}


def robustness_ui(models: list[Opened], method: str) -> None:
    """Accuracy under attack against ε on the first 500 test images, one line per model; made on request."""
    import altair as alt

    st.markdown("#### How robust is it?")
    differences = differences_words(models)
    if differences:
        st.caption(plain(differences))
    data = resources.dataset(models[0].spec.name)
    steps = CURVE_PGD_STEPS if method == "pgd" else 0
    keys = [(m.name, m.version, method) for m in models]
    missing = [(m, k) for m, k in zip(models, keys) if k not in _curves()]
    how = f"{method.upper()}" + (f" ({steps} steps)" if steps else "")
    if missing and st.button(f"Draw the robustness curve ({how}, {CURVE_IMAGES} test images)",
                             key="inside_attack_curve", icon=":material/show_chart:"):
        bar = st.progress(0.0, text="Attacking the test images...")
        for number, (opened, key) in enumerate(missing):
            def progress(done, total, number=number):
                bar.progress((number + done / total) / len(missing),
                             text=f"Attacking {opened.name}: {done:,} of {total:,}")
            _curves()[key] = explain.robustness_curve(opened.model, data.x_test[:CURVE_IMAGES],
                                                      data.y_test[:CURVE_IMAGES], CURVE_EPS, method,
                                                      steps=CURVE_PGD_STEPS, progress=progress)
        bar.empty()
    made = [(m, _curves()[k]) for m, k in zip(models, keys) if k in _curves()]
    if not made:
        st.caption(f"Accuracy on the first {CURVE_IMAGES} test images when each is attacked with ε from 0 to "
                   f"{CURVE_EPS[-1]}: a few seconds per model for FGSM, about a minute for PGD.")
        return
    frame = pd.DataFrame([{"model": m.name, "ε": e, "accuracy": a}
                          for m, c in made for e, a in zip(c.eps, c.accuracy)])
    chart = alt.Chart(frame).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("ε:Q", title="ε (1 = black to white)"),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("model:N", scale=alt.Scale(range=charts.CATEGORICAL)),
        tooltip=["model", "ε", alt.Tooltip("accuracy:Q", format=".1%")],
    ).properties(height=360)
    st.altair_chart(charts.style(chart), width="stretch", key="inside_attack_chart")
    st.caption(f"Accuracy on the first {CURVE_IMAGES} test images under {how} at each ε, untargeted. An image counts "
               "as fooled at ε if any attack up to that ε fooled it (an attacker allowed ε may always change less), "
               "so the curve never rises; at ε = 0 it is the ordinary accuracy.")


def fool_ui(models: list[Opened], subject: Subject) -> None:
    st.subheader("Fool it")
    st.caption(f"Change {subject.title} by a little in every pixel, in the direction that hurts the answer most "
               "(FGSM: one step; PGD: many small steps, kept within ε).")
    names = list(models[0].spec.class_names)
    method_column, goal_column = st.columns(2)
    with method_column:
        if st.session_state.get(METHOD_KEY) not in METHODS:
            st.session_state[METHOD_KEY] = PGD
        method = METHODS[st.segmented_control("Attack", list(METHODS), key=METHOD_KEY, required=True)]
    with goal_column:
        target = _goal_ui(names)
    levels = _eps_levels_ui()
    st.caption(f"ε = {levels}/255 = {levels / 255:.3f}")
    find_smallest_ui(models, subject, method, target)
    for column, opened in zip(st.columns(len(models), gap="large"), models):
        with column:
            model_attack_ui(opened, subject, method, target, levels)
    robustness_ui(models, method)
