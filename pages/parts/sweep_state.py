"""Which sweep a tab follows (?sweep=N in its address, and the session), and the process's sweeps.

A sweep belongs to core (core.sweeps.live.SweepRegistry, one per server process): a reloaded tab or a
return from another page finds it again by its id; a finished one is read back from the sweeps file.
"""
from __future__ import annotations

import streamlit as st

from core.sweeps.live import SweepRegistry
from pages.parts import visitor

SWEEP_KEY = "sweep_attached"
MINE_KEY = "sweep_started_here"
PARAM = "sweep"


@st.cache_resource(show_spinner=False)
def sweeps() -> SweepRegistry:
    """The server's sweeps, kept in sweeps.sqlite3 beside the saved models ($DIGIT_STUDIO_SWEEPS)."""
    return SweepRegistry()


def attach(sweep_id: int, mine: bool = False) -> None:
    """This tab follows `sweep_id` (in the session and the address)."""
    st.session_state[SWEEP_KEY] = sweep_id
    st.query_params[PARAM] = str(sweep_id)
    if mine:
        st.session_state.setdefault(MINE_KEY, set()).add(sweep_id)


def detach() -> None:
    st.session_state.pop(SWEEP_KEY, None)
    st.query_params.pop(PARAM, None)


def attached_id() -> int | None:
    """The sweep this tab follows: from its address (text: a plain number or nothing) or the session."""
    text = st.query_params.get(PARAM)
    if text is not None:
        return int(text) if text.isdigit() and len(text) < 10 else None
    value = st.session_state.get(SWEEP_KEY)
    return value if isinstance(value, int) else None


def can_stop(sweep) -> bool:
    """Who started it (this session, or the visitor of its name) or the presenter."""
    if visitor.presenter_powers() or sweep.id in st.session_state.get(MINE_KEY, set()):
        return True
    return sweep.owner is not None and sweep.owner == visitor.name()
