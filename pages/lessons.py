"""Lessons: the workshop lessons in lessons/ with their steps, a way into each, the room's links for the
presenter, and any lesson file with a problem (its file and line), which leaves the rest working."""
from __future__ import annotations

import streamlit as st

from core.workshop.lessons import Lesson
from pages.parts import lesson_view, visitor


def lesson_ui(lesson: Lesson, presenter: bool) -> None:
    """One lesson: title, description, its steps, and the way in (for the presenter: the room's link too)."""
    with st.container(border=True):
        st.subheader(lesson.title)
        if lesson.description:
            st.markdown(lesson.description)      # the teacher's file: markdown, never HTML
        st.markdown("\n".join(f"{step.number}. {step.title}" + (f" *({lesson_view.PAGE_WORDS[step.page]})*"
                                                              if step.page else "")
                              for step in lesson.steps))
        lesson_view.step_link(lesson, 1, "Start this lesson", icon=":material/play_arrow:")
        if presenter:
            url = lesson_view.room_link(lesson, 1)
            left, right = st.columns([1, 3], vertical_alignment="center")
            left.image(visitor.qr_png(url), width=220, caption="Scan to join step 1")
            right.code(url, language=None, wrap_lines=True)


def problems_ui(problems) -> None:
    """Bad lesson files, each with its file and line; the good lessons are unaffected."""
    st.warning(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the lesson files: "
               "those lessons are not offered until they are fixed.")
    for problem in problems:
        st.text(str(problem))                    # a file's text: shown as text, never as markdown


def main() -> None:
    st.title(":material/school: Lessons")
    at = lesson_view.current()
    if at is not None:
        lesson_view.banner_ui(at, page="lessons")
    lessons, problems = lesson_view.all_lessons()
    st.markdown("Each lesson is a short workshop: its steps fix some settings, hide others and keep every "
                "run short, so the whole room can train at once. Open a step with its link; the presenter "
                "shows the room's link (or QR code) for each step.")
    presenter = visitor.presenter_powers()
    if not lessons:
        st.info("No lessons on this server yet: add a TOML file to the lessons folder (see lessons/README.md).")
    for lesson in lessons.values():
        lesson_ui(lesson, presenter)
    if problems:
        problems_ui(problems)


if __name__ == "__main__":
    main()
