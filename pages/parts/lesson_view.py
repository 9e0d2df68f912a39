"""Lessons on the pages: which step this visitor is on, its banner (title, the teacher's text, the way on),
and the links that move the room from step to step.

`?lesson=NAME&step=N` opens a step and the session keeps it (page switches drop the query), until the
visitor leaves the lesson. A step shown by a presenter becomes the room's step: everyone else in that
lesson is offered a link to it. Lesson files are trusted text from the server's lessons folder
($DIGIT_STUDIO_LESSONS, default lessons/): their markdown is rendered, never with HTML.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.workshop.lesson_checker import get_lesson, load_lessons
from core.workshop.lessons import Lesson, LessonError, LessonProblem, LessonStep
from core.workshop.links import MAX_STEP, link
from pages.parts import visitor

LESSON_KEY = "lesson_at"            # (lesson name, step number) this session is on
LESSONS_ENV = "DIGIT_STUDIO_LESSONS"
FOLLOW_SECONDS = 10                 # how often a visitor's banner looks for the room's step
# A step's `page` (core.workshop.lessons.PAGES) -> the page script; no page: the Lessons page shows it.
PAGE_SCRIPTS = {"home": "pages/home.py", "draw": "pages/draw.py", "train": "pages/train.py",
                "mistakes": "pages/mistakes.py", "inside": "pages/inside.py", "dataset": "pages/dataset.py",
                "models": "pages/models.py", "leaderboard": "pages/leaderboard.py", None: "pages/lessons.py"}
PAGE_WORDS = {"home": "Home", "draw": "Draw", "train": "Train", "mistakes": "Mistakes",
              "inside": "Inside the network", "dataset": "Dataset", "models": "Models",
              "leaderboard": "Leaderboard", None: "Lessons"}


@dataclass(frozen=True)
class LessonAt:
    """A lesson and the step a visitor is on."""

    lesson: Lesson
    step: LessonStep

    @property
    def number(self) -> int:
        return self.step.number

    @property
    def last(self) -> bool:
        return self.number == len(self.lesson.steps)


def folder() -> Path | None:
    """The lessons folder: $DIGIT_STUDIO_LESSONS, else core's lessons/ (None)."""
    configured = os.environ.get(LESSONS_ENV, "").strip()
    return Path(configured) if configured else None


def all_lessons() -> tuple[dict[str, Lesson], list[LessonProblem]]:
    """Every good lesson, and the problems of the bad files (read each time: a teacher may be editing them)."""
    return load_lessons(folder())


@st.cache_resource(show_spinner=False)
def _room() -> tuple[dict[str, int], threading.Lock]:
    return {}, threading.Lock()


def room_step(lesson: str) -> int | None:
    """The step the presenter last opened in `lesson`, on this server."""
    steps, lock = _room()
    with lock:
        return steps.get(lesson)


def _set_room_step(lesson: str, number: int) -> None:
    steps, lock = _room()
    with lock:
        steps[lesson] = number


def _report(title: str, problems) -> None:
    st.warning(title)
    for problem in problems:
        st.text(str(problem))                   # from a link or a file: shown as text, never as markdown


def _step_number(raw: str | None) -> int | None:
    text = (raw or "1").strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_STEP:
        return int(text)
    return None


def current(report: bool = True) -> LessonAt | None:
    """The step this visitor is on: `?lesson=` (with `?step=`, default 1) opens one, else the session's;
    a link that cannot be opened is reported (unless `report` is False: already said on this page)."""
    asked = st.query_params.get("lesson")
    if asked is not None:
        number = _step_number(st.query_params.get("step"))
        if number is None:
            raw = str(st.query_params.get("step"))[:40]
            if report:
                _report("This lesson link could not be opened.",
                        [f"step: a whole number from 1 to {MAX_STEP} (got {raw!r})."])
            return _kept(report)
        try:
            lesson = get_lesson(asked, folder())
            step = lesson.step(number)
        except LessonError as exc:
            if report:
                _report("This lesson link could not be opened.", exc.problems)
            st.session_state.pop(LESSON_KEY, None)
            return None
        st.session_state[LESSON_KEY] = (lesson.name, number)
        if visitor.presenter_powers():
            _set_room_step(lesson.name, number)
        return LessonAt(lesson, step)
    return _kept(report)


def _kept(report: bool = True) -> LessonAt | None:
    kept = st.session_state.get(LESSON_KEY)
    if not kept:
        return None
    try:
        lesson = get_lesson(kept[0], folder())
        at = LessonAt(lesson, lesson.step(kept[1]))
    except LessonError as exc:                   # the file was changed or removed since
        if report:
            _report("The lesson you were in cannot be shown any more.", exc.problems)
        st.session_state.pop(LESSON_KEY, None)
        return None
    st.query_params["lesson"], st.query_params["step"] = lesson.name, str(at.number)
    return at


def leave() -> None:
    st.session_state.pop(LESSON_KEY, None)
    st.query_params.pop("lesson", None)
    st.query_params.pop("step", None)


def room_link(lesson: Lesson, number: int) -> str:
    """The address that opens step `number` for anyone (no name, not in presenter view)."""
    step = lesson.step(number)
    root = visitor.join_url()[0] or visitor.app_root()
    path = PAGE_SCRIPTS[step.page].removeprefix("pages/").removesuffix(".py")
    path = "" if step.page == "home" else path
    return link(f"{root.rstrip('/')}/{path}", lesson.step_params(number))


def step_link(lesson: Lesson, number: int, label: str, icon: str | None = None) -> None:
    """A link, in this tab, to step `number` on its own page."""
    step = lesson.step(number)
    st.page_link(PAGE_SCRIPTS[step.page], label=label, icon=icon, query_params=lesson.step_params(number))


def banner_ui(at: LessonAt, page: str) -> None:
    """The step: where in the lesson, its title and the teacher's text, then the way on (and back, and out).
    `page` is the page showing it ("train", "draw", ..., "lessons"), to point to the step's own page."""
    lesson, step = at.lesson, at.step
    with st.container(border=True):
        st.caption(f"Lesson: {lesson.title} · step {at.number} of {len(lesson.steps)}")
        st.subheader(step.title)
        if step.text:
            st.markdown(step.text)               # the teacher's file: markdown, never HTML
        if (step.page or "lessons") != page:
            step_link(lesson, at.number, f"This step is on the {PAGE_WORDS[step.page]} page: go there",
                      icon=":material/arrow_forward:")
        back, forward, out = st.columns(3, vertical_alignment="center")
        with back:
            if at.number > 1:
                step_link(lesson, at.number - 1, "Previous step", icon=":material/arrow_back:")
        with forward:
            if not at.last:
                step_link(lesson, at.number + 1, f"Next step: {lesson.step(at.number + 1).title}",
                          icon=":material/arrow_forward:")
            else:
                st.caption("Last step of this lesson.")
        out.button("Leave the lesson", key=f"lesson_leave_{page}", on_click=leave, icon=":material/logout:")
        if visitor.presenter_powers():
            room_ui(lesson, at.number)
        else:
            st.fragment(run_every=FOLLOW_SECONDS)(follow_ui)(lesson.name, at.number)


def room_ui(lesson: Lesson, number: int) -> None:
    """For the presenter: this step's address and QR code, for the room to follow."""
    url = room_link(lesson, number)
    with st.expander("The room's link to this step (QR code)", expanded=False):
        left, right = st.columns([1, 2], vertical_alignment="center")
        left.image(visitor.qr_png(url), width=280, caption="Scan to open this step")
        right.code(url, language=None, wrap_lines=True)
        right.caption("Everyone already in this lesson is offered this step within a few seconds.")


def follow_ui(lesson: str, number: int) -> None:
    """Offer the step the presenter is on, when it is not this one."""
    at = room_step(lesson)
    if at is None or at == number:
        return
    try:
        step_link(get_lesson(lesson, folder()), at, f"The presenter is on step {at}: follow",
                  icon=":material/double_arrow:")
    except LessonError:
        pass
