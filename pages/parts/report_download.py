"""Download buttons for run reports: one self-contained HTML file per model or sweep (core.reports), made
only when the button is clicked (testing the model for its mistakes takes a few seconds)."""
from __future__ import annotations

from functools import partial

import streamlit as st

from pages.parts import resources

HTML = "text/html"


def _model_html(name: str) -> bytes:
    from core.reports.model_report import model_report

    return model_report(resources.model_store(), name, evaluation=resources.evaluation(name)).encode("utf-8")


def _sweep_html(sweep_id: int) -> bytes:
    from core.reports.sweep_report import sweep_report
    from pages.parts import sweep_state

    record = sweep_state.sweeps().record(sweep_id)
    return sweep_report(record, resources.model_store()).encode("utf-8")


def model_report_button(name: str, key: str, label: str = "Report (HTML)") -> None:
    st.download_button(label, data=partial(_model_html, name), file_name=f"{name}-report.html", mime=HTML, key=key,
                       icon=":material/description:", on_click="ignore", width="stretch",
                       help="Settings, curves, confusion matrix, a sample of its mistakes and its replay's frames, "
                            "in one HTML file that opens offline in any browser.")


def sweep_report_button(sweep_id: int, key: str) -> None:
    st.download_button(f"Report of sweep {sweep_id} (HTML)", data=partial(_sweep_html, sweep_id),
                       file_name=f"sweep-{sweep_id}-report.html", mime=HTML, key=key, icon=":material/description:",
                       on_click="ignore",
                       help="Every run, the parallel coordinates, the curves, what mattered and the best run's own "
                            "report, in one HTML file that opens offline in any browser.")
