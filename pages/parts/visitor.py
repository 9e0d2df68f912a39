"""Who is at this browser: the visitor's name, presenter mode, the address to join, and who may control a run.

The name is chosen once and kept in st.session_state and in the URL (`?name=`), so a reloaded
tab or a shared link keeps it; only plain names are taken (core.store.names.VISITOR_NAME). Presenter
mode is `?present=1` or the toggle; with $DIGIT_STUDIO_PRESENTER_KEY set, the presenter's powers
(stopping anyone's run, pinning and clearing the leaderboard) also need that key, entered once.
Names are trusted as given, as in any classroom tool without accounts. A run is also its starter's by the
run's key (core.workshop.run_keys) in the starter's own address, so it stays theirs after a reload without a
name; the key is only ever put in that tab's address, never in a link the app shows.
"""
from __future__ import annotations

import hmac
import io
import os
import socket
import urllib.parse

import streamlit as st

from core.store.names import VISITOR_NAME
from core.workshop import run_keys

NAME_KEY = "visitor_name"
PRESENT_KEY = "presenting"
STARTED_KEY = "visitor_started_runs"      # ids of the runs this session started (or was given the key of)
KEY_OK = "presenter_key_ok"
JOIN_ENV = "DIGIT_STUDIO_JOIN_URL"
PRESENTER_KEY_ENV = "DIGIT_STUDIO_PRESENTER_KEY"
NAME_RULE = "1-24 letters, digits, '-' or '_', starting with a letter or digit"
PAGE_STEMS = ("draw", "drawings", "train", "mistakes", "inside", "dataset", "models", "leaderboard", "lessons")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


# --- the name -----------------------------------------------------------------------------------------

def name_problem(text: str) -> str | None:
    """Why `text` cannot be a visitor's name (None when it can)."""
    if VISITOR_NAME.fullmatch(text):
        return None
    shown = text if len(text) <= 30 else text[:29] + "…"
    return f"A name is {NAME_RULE} (got {shown!r})."


def name() -> str | None:
    """The visitor's name: a plain `?name=` in the URL (a link may set it) wins, else the session's."""
    asked = st.query_params.get("name")
    if asked is not None and asked != st.session_state.get(NAME_KEY) and name_problem(asked) is None:
        st.session_state[NAME_KEY] = asked
    return st.session_state.get(NAME_KEY)


def url_name_problem() -> str | None:
    """What is wrong with the URL's `?name=`, if it is refused."""
    asked = st.query_params.get("name")
    return None if asked is None else name_problem(asked)


def set_name(text: str | None) -> str | None:
    """Take `text` as the name (None forgets it); returns the problem instead when it is not a plain name."""
    if text is None:
        st.session_state.pop(NAME_KEY, None)
        st.query_params.pop("name", None)
        return None
    problem = name_problem(text)
    if problem is None:
        st.session_state[NAME_KEY] = text
        st.query_params["name"] = text
    return problem


def _name_entered(key: str) -> None:
    text = str(st.session_state.get(key, "")).strip()
    problem = set_name(text) if text else None
    st.session_state[f"{key}_problem"] = problem
    if text and problem is None:
        st.session_state[f"{key}_editing"] = False


def name_ui(key: str = "visitor_name_input", compact: bool = False) -> str | None:
    """Ask for the name once; afterwards say who you are, with a way to change it. Returns the name."""
    current = name()
    bad_url = url_name_problem()
    if bad_url:
        st.warning("The name in this link was not used.")
        st.text(bad_url)                            # from the URL: shown as text, never as markdown
    if current and not st.session_state.get(f"{key}_editing"):
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown(f"You are **{_escaped(current)}**")
        right.button("" if compact else "Change", icon=":material/edit:", key=f"{key}_change", help="Change your name",
                     on_click=st.session_state.__setitem__, args=(f"{key}_editing", True))
        return current
    st.text_input("Your name" if compact else "Your name, so the room can see whose runs are whose",
                  key=key, max_chars=24, placeholder="e.g. Sam or table-3",
                  on_change=_name_entered, args=(key,), help=f"{NAME_RULE}. Kept in this tab and its link.")
    problem = st.session_state.get(f"{key}_problem")
    if problem:
        st.warning("That name was not taken.")
        st.text(problem)                            # what was typed: shown as text
    return name()


def _escaped(text: str) -> str:
    from pages.parts.formatting import plain

    return plain(text, limit=40)


# --- presenter mode -------------------------------------------------------------------------------------

def _flag(text: str | None) -> bool | None:
    low = (text or "").strip().lower()
    return True if low in _TRUE else False if low in _FALSE else None


def presenting() -> bool:
    """Presenter view on? `?present=1` / `?present=0` in the URL decide; else this session's toggle."""
    asked = _flag(st.query_params.get("present"))
    if asked is not None:
        st.session_state[PRESENT_KEY] = asked
    return bool(st.session_state.get(PRESENT_KEY, False))


def set_presenting(on: bool) -> None:
    st.session_state[PRESENT_KEY] = on
    if on:
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


def presenter_toggle(key: str = "presenter_toggle") -> bool:
    """The presenter view switch (large type, no sidebar); the key field when $DIGIT_STUDIO_PRESENTER_KEY is set."""
    on = presenting()
    if st.session_state.get(key, on) != on:    # switched elsewhere (the other toggle, the URL)
        st.session_state[key] = on
    st.toggle("Presenter view", value=on, key=key, on_change=lambda: set_presenting(st.session_state[key]),
              help="Large type and charts for a projector, no sidebar. The same as adding ?present=1 to the address.")
    if on and os.environ.get(PRESENTER_KEY_ENV) and not st.session_state.get(KEY_OK):
        st.text_input("Presenter key", type="password", key=f"{key}_key", on_change=_check_key, args=(f"{key}_key",),
                      help="Stopping anyone's run and clearing the leaderboard need the key this server was given.")
    return on


def _check_key(field: str) -> None:
    expected = os.environ.get(PRESENTER_KEY_ENV, "")
    given = str(st.session_state.get(field, ""))
    st.session_state[KEY_OK] = bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def presenter_powers() -> bool:
    """May this session act for the room (stop any run, pin and clear the leaderboard)?"""
    if not presenting():
        return False
    return not os.environ.get(PRESENTER_KEY_ENV) or bool(st.session_state.get(KEY_OK))


# --- runs -----------------------------------------------------------------------------------------------

def started(job_id: str) -> None:
    """Remember that this session started `job_id` (it may control it even without a name)."""
    st.session_state.setdefault(STARTED_KEY, set()).add(job_id)


def _key_in_url() -> str | None:
    """The address's run key, if it gives exactly one (a repeated parameter gives none)."""
    given = st.query_params.get_all(run_keys.PARAMETER)
    return given[0] if len(given) == 1 else None


def owns(job) -> bool:
    """Did this browser start `job`? This session did, this tab's address holds the run's key (a reload, a
    second tab from that address), or the run was started in this visitor's name."""
    if job.id in st.session_state.get(STARTED_KEY, set()) or run_keys.opens(job.id, _key_in_url()):
        return True
    owner = getattr(job, "owner", None)
    return owner is not None and owner == name()


def may_control(job) -> bool:
    """The one check for a run's controls (Stop, and any other that changes a run): its starter or the presenter."""
    return presenter_powers() or owns(job)


def stop_if_allowed(job_id: str, at_once: bool = False) -> None:
    """Stop's callback: checked again here, so a page drawn before a name change cannot stop someone else's run.

    A press does what its button said when the page drew it: "Stop" (or "Cancel") asks the run to end after its
    batch, and does nothing to a run that is stopping already, so one press heard twice (a rerun that replays it)
    never ends the run without saving; only "Stop now" (`at_once`) does that."""
    from core.fit.progress import JobState
    from pages.parts import resources

    job = resources.registry().get(job_id)
    if job is None or not may_control(job) or (not at_once and job.state == JobState.STOPPING):
        return
    job.stop()


def run_url(job_id: str | None) -> None:
    """Put this tab's run in its address (None takes it out): its id, and its key when this browser started it,
    so a reload keeps the run its starter's. A key in the address that opens the run is remembered in the
    session too (a return from another page, whose address has no key); any other key is dropped."""
    if job_id is None:
        st.query_params.pop("job", None)
        st.query_params.pop(run_keys.PARAMETER, None)
        return
    if run_keys.opens(job_id, _key_in_url()):
        started(job_id)
    if st.query_params.get("job") != job_id:
        st.query_params["job"] = job_id
    if job_id in st.session_state.get(STARTED_KEY, set()):
        key = run_keys.key_for(job_id)
        if st.query_params.get_all(run_keys.PARAMETER) != [key]:
            st.query_params[run_keys.PARAMETER] = key
    elif run_keys.PARAMETER in st.query_params:
        st.query_params.pop(run_keys.PARAMETER)


# --- addresses ------------------------------------------------------------------------------------------

def sync_url() -> None:
    """Keep the name and presenter mode in the URL, so a reload or a page switch keeps them."""
    current, on = name(), presenting()
    if current and st.query_params.get("name") != current and url_name_problem() is None:
        st.query_params["name"] = current
    if on and st.query_params.get("present") != "1":
        st.query_params["present"] = "1"


def app_root() -> str:
    """The app's address as this browser reached it, without the page or query ('' when unknown, as in tests)."""
    url = st.context.url or ""
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if last in PAGE_STEMS:
        path = path[: -len(last) - 1]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _network_address() -> str | None:
    """This machine's address on its network (the one a default route would use); sends nothing."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def join_url() -> tuple[str | None, str]:
    """(the address the room should open, where it comes from). $DIGIT_STUDIO_JOIN_URL wins; else the
    address this browser used, with this machine's network address in place of localhost."""
    configured = os.environ.get(JOIN_ENV, "").strip()
    if configured:
        return configured, f"set by {JOIN_ENV}"
    root = app_root()
    if not root:
        return None, f"unknown: set {JOIN_ENV} to the address the room can open"
    parts = urllib.parse.urlsplit(root)
    if parts.hostname in ("localhost", "127.0.0.1", "::1"):
        address = _network_address()
        if address is None:
            return root, f"this browser's address; others cannot open localhost: set {JOIN_ENV}"
        netloc = f"{address}:{parts.port}" if parts.port else address
        return (urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
                f"this server's network address (your browser uses localhost); set {JOIN_ENV} to change it")
    return root, "the address this browser used"


@st.cache_data(show_spinner=False, max_entries=64)
def qr_png(text: str, scale: int = 12) -> bytes:
    """A QR code of `text` as a PNG (black on white, with the quiet zone scanners need)."""
    import segno

    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=scale, border=4, dark="#000000", light="#ffffff")
    return buffer.getvalue()
