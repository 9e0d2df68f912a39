"""Leaderboard: every run on this server (the job registry's runs and the saved models with an author),
with who, which network, its settings, accuracy and time, and the curves of the chosen ones overlaid.

The presenter can pin the best run of each architecture and clear the board. The board's state
(pins, when it was cleared) is the server's, shared by every visitor and kept while the server runs;
clearing only hides entries from the board, it never deletes a model.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from core.store import StoreError
from pages.parts import charts, resources, visitor
from pages.parts.formatting import UNKNOWN, duration, plain, settings_line

POLL_SECONDS = 3.0
PRESENTER_COLUMNS = ["Pinned", "Who", "Network", "Accuracy", "Time", "State"]
CURVES_KEY = "leaderboard_curves"
STATE_WORDS = {"queued": "waiting", "running": "training", "stopping": "stopping", "stopped": "stopped",
               "finished": "finished", "failed": "failed"}


@dataclass(frozen=True)
class Entry:
    """One row of the board: a run of the registry, or a saved model with an author."""

    key: str                        # "job:<id>" or "model:<name>": what pins and hiding refer to
    who: str | None
    arch: str
    settings: str
    accuracy: float | None
    seconds: float | None
    state: str                      # a JobState value; saved models are "finished" (or "stopped")
    created: float                  # unix time
    model: str | None = None
    place: int | None = None        # in the queue, while waiting
    curve: tuple[tuple[int, float], ...] = ()   # (epoch, validation accuracy)

    @property
    def label(self) -> str:
        return f"{self.who or 'someone'} · {self.arch} · {self.model or self.key.split(':', 1)[1]}"


@dataclass
class Board:
    """The server's board: pinned entries, and the moment it was last cleared (older entries are hidden)."""

    pinned: set[str] = field(default_factory=set)
    cleared_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def visible(self, entries: list[Entry]) -> list[Entry]:
        with self.lock:
            return [e for e in entries if e.key in self.pinned or e.created > self.cleared_at]

    def pin_best(self, entries: list[Entry]) -> None:
        """Pin the most accurate entry of each architecture among `entries`."""
        best: dict[str, Entry] = {}
        for entry in entries:
            if entry.accuracy is not None and (entry.arch not in best or entry.accuracy > best[entry.arch].accuracy):
                best[entry.arch] = entry
        with self.lock:
            self.pinned |= {entry.key for entry in best.values()}

    def unpin_all(self) -> None:
        with self.lock:
            self.pinned.clear()

    def clear(self) -> None:
        """Hide every entry there is now (pinned ones stay); new runs appear as they come."""
        with self.lock:
            self.cleared_at = time.time()

    def show_all(self) -> None:
        with self.lock:
            self.cleared_at = 0.0

    def is_pinned(self, key: str) -> bool:
        with self.lock:
            return key in self.pinned


@st.cache_resource(show_spinner=False)
def board() -> Board:
    """One board per server process, shared by every session."""
    return Board()


def _curve(history) -> tuple[tuple[int, float], ...]:
    return tuple((int(e.get("epoch", i + 1)), float(e["val_accuracy"])) for i, e in enumerate(history)
                 if isinstance(e.get("val_accuracy"), (int, float)))


def job_entries() -> tuple[list[Entry], set[str]]:
    """The registry's runs, and the names of the models they saved."""
    entries, saved = [], set()
    for job in resources.registry().jobs():
        p = job.progress()
        result = p.result
        if result is not None:
            saved.add(result.model_name)
        entries.append(Entry(
            key=f"job:{job.id}", who=getattr(job, "owner", None), arch=p.config.arch,
            settings=settings_line(p.config.to_dict()), accuracy=result.test_accuracy if result else None,
            seconds=result.train_seconds if result else (p.elapsed or None), state=p.state.value,
            created=getattr(job, "created", 0.0), model=result.model_name if result else None,
            place=p.queue_position, curve=_curve(p.epoch_log)))
    return entries, saved


def model_entries(skip: set[str]) -> list[Entry]:
    """Saved models with an author (trained here by a visitor), less those a registry run already shows."""
    try:
        infos = resources.model_store().list()
    except StoreError:
        return []
    entries = []
    for info in infos:
        meta = info.meta
        if meta is None or meta.author is None or info.name in skip:
            continue
        entries.append(Entry(
            key=f"model:{info.name}", who=meta.author, arch=meta.arch, settings=settings_line(meta.config),
            accuracy=meta.test_accuracy, seconds=meta.train_seconds,
            state="stopped" if meta.stopped_early else "finished", created=meta.created_unix, model=info.name,
            curve=_curve(meta.history)))
    return entries


def all_entries() -> list[Entry]:
    """Every run on this server, pinned first, then the most accurate, then the newest."""
    jobs, saved = job_entries()
    entries = jobs + model_entries(saved)
    shown = board()
    return sorted(entries, key=lambda e: (not shown.is_pinned(e.key), -(e.accuracy if e.accuracy is not None else -1),
                                          -e.created))


def table(entries: list[Entry]) -> pd.DataFrame:
    shown = board()
    return pd.DataFrame({
        "Pinned": ["★" if shown.is_pinned(e.key) else "" for e in entries],
        "Who": [e.who or "–" for e in entries],
        "Network": [e.arch for e in entries],
        "Accuracy": [e.accuracy for e in entries],
        "Time": [duration(e.seconds) if e.seconds else UNKNOWN for e in entries],
        "State": [STATE_WORDS.get(e.state, e.state) + (f", place {e.place}" if e.place else "") for e in entries],
        "Settings": [e.settings for e in entries],
        "Model": [e.model or "" for e in entries],
        "Started": [time.strftime("%H:%M", time.localtime(e.created)) if e.created else "" for e in entries],
    })


def board_ui(was_active: bool) -> None:
    """The table and the curves; re-run on a timer while runs are active."""
    if was_active and not resources.active_jobs():
        st.rerun()                               # the last run ended: a full run turns the timer off
    entries = board().visible(all_entries())
    mine = visitor.name()
    waiting = [e for e in entries if e.place and mine and e.who == mine]
    if waiting:
        st.info("Your runs waiting: " + ", ".join(f"{plain(e.arch)} at place {e.place}" for e in waiting)
                + ". Runs take turns between visitors.")
    if not entries:
        st.info("No runs on the board yet. Train one on the Train page: it appears here with your name.")
        return
    large = visitor.presenting()
    rows = table(entries)
    if large:                                    # an HTML table: the presenter style's large type reaches it
        shown = rows[PRESENTER_COLUMNS].assign(Accuracy=[f"{a:.2%}" if a is not None else UNKNOWN
                                                         for a in rows["Accuracy"]])
        st.table(shown, hide_index=True)
    else:
        st.dataframe(rows, hide_index=True, width="stretch", key="leaderboard_table",
                     column_config={"Accuracy": st.column_config.NumberColumn("Accuracy", format="percent"),
                                    "Pinned": st.column_config.TextColumn("Pinned", width="small")})
    curves_ui(entries, large)


def curves_ui(entries: list[Entry], large: bool) -> None:
    """Validation accuracy per epoch of the chosen runs, in one chart."""
    with_curves = {e.key: e for e in entries if e.curve}
    if not with_curves:
        st.caption("Curves appear once a run has finished an epoch with a validation split.")
        return
    keys = list(with_curves)
    chosen = [k for k in st.session_state.get(CURVES_KEY, keys[:3]) if k in with_curves]
    st.session_state[CURVES_KEY] = chosen
    picked = st.multiselect("Curves of", keys, key=CURVES_KEY, format_func=lambda k: with_curves[k].label,
                            max_selections=len(charts.CATEGORICAL))
    rows = [{"model": with_curves[k].label, "epoch": epoch, "validation accuracy": accuracy}
            for k in picked for epoch, accuracy in with_curves[k].curve]
    if rows:
        frame = pd.DataFrame(rows, columns=charts.LEARNING_COLUMNS)
        st.altair_chart(charts.learning_curves_chart(frame, large=large), width="stretch")
        st.caption("Validation accuracy after each epoch, for the runs chosen above.")


def presenter_ui() -> None:
    """Pin the best of each architecture, clear the board (models are kept), or undo either."""
    st.subheader("For the presenter")
    pin, unpin, clear, restore = st.columns(4)
    shown = board()
    pin.button("📌 Pin the best of each network", key="leaderboard_pin", width="stretch",
               on_click=lambda: shown.pin_best(shown.visible(all_entries())))
    unpin.button("Unpin all", key="leaderboard_unpin", width="stretch", on_click=shown.unpin_all)
    clear.button("Clear the board", key="leaderboard_clear", width="stretch", on_click=shown.clear,
                 help="Hides every run shown now, except the pinned ones. No model is deleted.")
    restore.button("Show everything again", key="leaderboard_restore", width="stretch", on_click=shown.show_all)


def main() -> None:
    st.title(":material/leaderboard: Leaderboard")
    st.markdown("Every run on this server: who trained it, which network, how it did on the 10,000 test images.")
    active = bool(resources.active_jobs())
    st.fragment(run_every=POLL_SECONDS if active else None)(board_ui)(active)
    if visitor.presenter_powers():
        presenter_ui()


if __name__ == "__main__":
    main()
