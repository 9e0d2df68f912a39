"""Models: every saved model side by side, their learning curves, and what to do with each."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.store import DEFAULT_MODEL, ModelInfo, StoreError
from pages.parts import charts, replay_view, resources
from pages.parts import report_download  # run reports (sweeps issue)
from pages.parts.formatting import duration, plain, settings_line
from pages.parts.session import active_model_name, set_active_model

PENDING_DELETE = "models_pending_delete"
NOTICE = "models_notice"


def run_settings(meta) -> str:
    """The settings that tell runs apart, in one short line (the formatter every page uses)."""
    line = settings_line(meta.config)
    images = meta.test_metrics.images if meta.test_metrics else None
    tested = f", tested on {images:,} test images" if meta.stopped_early and images else ""
    return line + (f" · stopped by user{tested}" if meta.stopped_early else "")


def models_table(infos: list[ModelInfo]) -> pd.DataFrame:
    active = active_model_name()
    rows = []
    for info in infos:
        meta = info.meta
        seconds = meta.train_seconds
        rows.append({
            "model": ("▶ " if info.name == active else "") + info.name,
            "architecture": meta.arch,
            "dataset": meta.dataset,
            "settings": run_settings(meta),
            "test accuracy": meta.test_accuracy,
            "parameters": meta.parameters,
            "training time": duration(seconds) if seconds is not None else "",
            "created": meta.created,
        })
    return pd.DataFrame(rows)


def table_ui(infos: list[ModelInfo]) -> None:
    st.dataframe(
        models_table(infos),
        hide_index=True,
        width="stretch",
        column_config={
            "model": st.column_config.TextColumn("model", help="▶ marks the model the Draw page uses"),
            "test accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
            "parameters": st.column_config.NumberColumn("parameters", format="localized"),
        },
    )


def curves_frame(infos: list[ModelInfo]) -> tuple[pd.DataFrame, list[str]]:
    """Validation accuracy per epoch, long format (charts.LEARNING_COLUMNS); and the models without such a curve."""
    rows, missing = [], []
    for info in infos:
        points = [(entry.get("epoch", i + 1), entry["val_accuracy"])
                  for i, entry in enumerate(info.meta.history)
                  if isinstance(entry.get("val_accuracy"), (int, float))]
        if not points:
            missing.append(info.name)
        rows.extend({"model": info.name, "epoch": int(epoch), "validation accuracy": float(acc)}
                    for epoch, acc in points)
    return pd.DataFrame(rows, columns=charts.LEARNING_COLUMNS), missing


def curves_ui(infos: list[ModelInfo]) -> None:
    st.subheader("Learning curves")
    frame, missing = curves_frame(infos)
    if frame.empty:
        st.info("No model has a validation curve yet: train one with a validation split on the Train page.")
        return
    st.altair_chart(charts.learning_curves_chart(frame), width="stretch")
    st.caption("Validation accuracy after each epoch: higher is better; a curve that flattens has stopped learning."
               + (f" No validation curve for: {plain(', '.join(missing))}." if missing else ""))
    charts.png_download(partial(charts.learning_curves_png, frame), "learning-curves.png", key="models_curves_png")


def use_model(name: str) -> None:
    set_active_model(name)
    st.session_state[NOTICE] = ("success", f"**{plain(name)}** is now used on the Draw page.")


def ask_delete(name: str | None) -> None:
    st.session_state[PENDING_DELETE] = name


def delete_model(name: str) -> None:
    """Delete after confirmation; the outcome is shown on the next run (callbacks cannot draw)."""
    st.session_state[PENDING_DELETE] = None
    try:
        resources.model_store().delete(name)
    except StoreError as exc:
        st.session_state[NOTICE] = ("error", plain(exc))
        return
    finally:
        resources.forget_model(name)  # a deleted model's memory is freed with its cache entries
    if active_model_name() == name:
        set_active_model(DEFAULT_MODEL)
    st.session_state[NOTICE] = ("success", f"Deleted **{plain(name)}**.")


def model_row_ui(info: ModelInfo) -> None:
    """One model: what it is, and Use / Download / Delete."""
    name = info.name
    with st.container(border=True):
        about, use, download, delete = st.columns([5, 2, 2, 2], vertical_alignment="center")
        acc = info.meta.test_accuracy
        summary = f"**{plain(name)}** — {plain(info.meta.arch)}"
        if acc is not None:
            summary += f", {acc:.2%} on the test set"
        about.markdown(summary + (" · *used for drawing*" if name == active_model_name() else ""))
        use.button("Use for drawing", icon=":material/draw:", key=f"use_{name}", on_click=use_model, args=(name,),
                   disabled=name == active_model_name(), width="stretch")
        with download.popover("Download", icon=":material/download:", width="stretch", key=f"downloads_{name}"):
            downloads_ui(info)
        if name != DEFAULT_MODEL:
            delete_ui(name, delete)


def export_file(name: str, fmt: str) -> bytes:
    """The model exported in format `fmt` (Keras' own exporters), made when its button is clicked."""
    from core.nets.export import export_bytes

    data, _, _ = export_bytes(resources.load_model(name), fmt, name=name)
    return data


def downloads_ui(info: ModelInfo) -> None:
    """The stored .keras file, and the model exported for phones (LiteRT), ONNX runtimes and TF Serving."""
    from core.nets.export import FORMATS

    name = info.name
    st.download_button(".keras (as saved)", data=partial(info.path.read_bytes), file_name=f"{name}.keras",
                       mime="application/octet-stream", key=f"download_{name}", on_click="ignore", width="stretch")
    report_download.model_report_button(name, key=f"report_{name}")
    for fmt in FORMATS.values():
        if fmt.name == "keras":
            continue
        st.download_button(fmt.label, data=partial(export_file, name, fmt.name), file_name=f"{name}{fmt.suffix}",
                           mime=fmt.mime, key=f"export_{fmt.name}_{name}", on_click="ignore", width="stretch",
                           help=fmt.description)


def delete_ui(name: str, column) -> None:
    """Delete needs two clicks: the button, then 'Yes, delete'."""
    if st.session_state.get(PENDING_DELETE) != name:
        column.button("Delete", icon=":material/delete:", key=f"delete_{name}", on_click=ask_delete, args=(name,), width="stretch")
        return
    st.warning(f"Delete **{plain(name)}** for good? Its .keras file and metadata are removed; this cannot be undone.")
    yes, no, _ = st.columns([2, 2, 5])
    yes.button("Yes, delete", key=f"confirm_delete_{name}", type="primary",
               on_click=delete_model, args=(name,), width="stretch")
    no.button("Cancel", key=f"cancel_delete_{name}", on_click=ask_delete, args=(None,), width="stretch")


def broken_row_ui(info: ModelInfo) -> None:
    """A store entry that cannot be loaded (unreadable metadata, missing or damaged file): its error, and delete."""
    with st.container(border=True):
        about, delete = st.columns([9, 2], vertical_alignment="center")
        about.error(f"**{plain(info.name)}**: {plain(info.error)}")
        if info.name != DEFAULT_MODEL:
            delete_ui(info.name, delete)


def notice_ui() -> None:
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        kind, text = notice
        (st.success if kind == "success" else st.error)(text)


def main() -> None:
    st.title(":material/inventory_2: Models")
    root = str(resources.model_store().root).replace("`", "")
    st.caption(f"Every model saved in `{root}`. Pick one for the Draw page, "
               "compare how they learned, download or delete them.")
    notice_ui()
    try:
        infos = resources.model_store().list()
    except StoreError as exc:
        st.error(plain(exc))
        return
    except OSError as exc:
        st.error(f"The model folder cannot be read ({plain(exc)}). Check that it exists and is readable.")
        return
    if not infos:
        st.info("No saved models yet, not even the shipped default: train one on the Train page.")
        return
    healthy = [info for info in infos if not info.error]
    broken = [info for info in infos if info.error]
    if healthy:
        table_ui(healthy)
        curves_ui(healthy)
        replay_view.models_replay_ui([info.name for info in healthy])
    st.subheader("Manage")
    for info in healthy:
        model_row_ui(info)
    for info in broken:
        broken_row_ui(info)


if __name__ == "__main__":
    main()
