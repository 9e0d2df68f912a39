"""What one Step did (core.fit.control.StepReport), on the Train page while a run is paused: the batch it
trained with its labels and the answers before and after, the loss on that batch before and after, how far
each layer's weights moved, and which of the panel's digits changed their answer. One HTML element for
the pictures (small inline PNGs, as the live panel), a table for the layers."""
from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from core.fit.control import StepReport
from core.store.snapshots import Panel
from pages.parts import charts, snapshot_html

SHOWN = 32          # of the batch's images
PX = 42


def _cell(image, text: str, colour: str, alt: str) -> str:
    return (f"<div style='width:{PX + 6}px;text-align:center;border:2px solid {colour};border-radius:5px;padding:1px;"
            f"line-height:1.1'><img src='{snapshot_html.png_uri(image)}' alt='{html.escape(alt, quote=True)}' "
            f"width='{PX}' height='{PX}' style='image-rendering:pixelated;display:block;margin:0 auto;"
            f"background:#000'><div style='font-size:0.8rem'>{text}</div></div>")


def batch_html(report: StepReport, names: tuple[str, ...]) -> str:
    """The batch's images, each with its label and the network's answer before → after."""
    cells = []
    for image, label, before, after in list(zip(report.images, report.labels, report.predicted_before,
                                                report.predicted_after))[:SHOWN]:
        colour = charts.GREEN if after == label else charts.VERMILLION
        text = (f"<b>{html.escape(names[label])}</b><br>{html.escape(names[before])}→{html.escape(names[after])}")
        cells.append(_cell(image, text, colour, f"a {names[label]}"))
    return ("<div aria-label='the batch of this step' style='display:flex;flex-wrap:wrap;gap:4px'>" + "".join(cells)
            + "</div>")


def changed_html(report: StepReport, panel: Panel) -> str:
    cells = []
    for index, before, after in report.changed:
        names = panel.class_names
        right = after == panel.labels[index]
        colour = charts.GREEN if right else charts.VERMILLION
        cells.append(_cell(panel.images[index], f"{html.escape(names[before])} → <b>{html.escape(names[after])}</b>",
                           colour, f"a {names[panel.labels[index]]}"))
    return ("<div aria-label='panel digits whose answer changed' style='display:flex;flex-wrap:wrap;gap:4px'>"
            + "".join(cells) + "</div>")


def layer_table(report: StepReport) -> pd.DataFrame:
    return pd.DataFrame([{"layer": m.name, "gradient size": m.gradient_norm, "moved by": m.moved,
                          "moved, share of its size": m.relative} for m in report.layers])


def step_report_ui(report: StepReport, panel: Panel | None) -> None:
    names = panel.class_names if panel is not None else tuple(str(i) for i in range(10))
    st.markdown(f"**Step {report.number}: one batch of {report.batch_size} images** · batch {report.step:,} of the "
                f"run · learning rate {report.learning_rate:g}" + (" · augmented" if report.augmented else ""))
    before, after, change, moved = st.columns(4)
    before.metric("Batch loss before", f"{report.loss_before:.3f}",
                  help="The mean loss on this batch with the weights before the step (dropout off).")
    after.metric("Batch loss after", f"{report.loss_after:.3f}", delta=f"{report.loss_after - report.loss_before:+.3f}",
                 delta_color="inverse", help="The same batch, with the weights after the step.")
    change.metric("Panel answers changed", f"{len(report.changed)}",
                  help="Digits of the panel below whose answer is different after this one step.")
    largest = max(report.layers, key=lambda m: m.relative, default=None)
    moved.metric("Largest move", f"{largest.relative:.2%}" if largest is not None else "–",
                 help=(f"Layer {largest.name}: its weights moved by this share of their size." if largest is not None
                       else None))
    st.caption(f"The batch ({min(SHOWN, len(report.labels))} of its {report.batch_size} images): the true label in bold, "
               "then the network's answer before → after the step; green: right after it.")
    st.markdown(batch_html(report, names), unsafe_allow_html=True)
    st.markdown("**How far each layer's weights moved**",
                help="Gradient size: the L2 norm of the gradient of the layer's kernel on this batch. Moved by: "
                     "the L2 norm of the change of its weights. Share: that change over the weights' own size.")
    st.dataframe(layer_table(report), hide_index=True, width="stretch",
                 column_config={"gradient size": st.column_config.NumberColumn(format="%.4g"),
                                "moved by": st.column_config.NumberColumn(format="%.4g"),
                                "moved, share of its size": st.column_config.NumberColumn(format="percent")})
    if report.changed and panel is not None:
        st.markdown("**Panel digits that changed their answer** (before → after)")
        st.markdown(changed_html(report, panel), unsafe_allow_html=True)
    elif panel is not None:
        st.caption("No digit of the panel changed its answer with this step.")
