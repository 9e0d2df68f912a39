"""Reading and checking lesson files (lessons/NAME.toml): every problem reported with its file and line,
the good lessons loaded (core.workshop.lessons is what they load into). Nothing in a file is evaluated;
a lesson's name is its file stem, a plain name, so `?lesson=...` can never reach a file outside the folder.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from core.fit.config import SETTINGS, ConfigError
from core.nets.presets import PRESETS, ArchitectureError, get_preset, validate_options
from core.workshop.lessons import (
    CONTROLS,
    FIXABLE,
    PAGES,
    Lesson,
    LessonError,
    LessonProblem,
    LessonStep,
    lesson_name_problem,
)
from core.workshop.lesson_sweep import check_sweep
from core.workshop.setting_text import config_from_values

LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"
MAX_FILE_BYTES = 100_000
LESSON_KEYS = {"title": str, "description": str, "archs": list, "hidden": list, "max_epochs": int, "max_limit": int,
               "steps": list}                               # archs, hidden and the caps: defaults for every step
STEP_KEYS = {"title": str, "text": str, "page": str, "fixed": dict, "hidden": list, "archs": list,
             "max_epochs": int, "max_limit": int, "sweep": dict}
TYPE_WORDS = {str: "text", int: "a whole number", list: "a list", dict: "a table"}


def load_lessons(folder: Path | str | None = None) -> tuple[dict[str, Lesson], list[LessonProblem]]:
    """Every good lesson in `folder` (lessons/ by default) by name, and the problems of the bad ones."""
    folder = Path(folder) if folder is not None else LESSONS_DIR
    if not folder.is_dir():
        return {}, [LessonProblem(str(folder), None, "No lessons folder.")]
    lessons, problems = {}, []
    for path in sorted(folder.glob("*.toml")):
        lesson, found = _load_file(path, folder)
        problems += found
        if lesson is not None:
            lessons[lesson.name] = lesson
    return lessons, problems


def get_lesson(name: Any, folder: Path | str | None = None) -> Lesson:
    """The lesson called `name` (e.g. from ?lesson=); LessonError if the name or its file is bad."""
    problem = lesson_name_problem(name)
    if problem:
        raise LessonError([problem])
    folder = Path(folder) if folder is not None else LESSONS_DIR
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
        raise LessonError([f"No lesson called {name!r} (there are: {', '.join(known) or 'none'})."])
    lesson, problems = _load_file(path, folder)
    if lesson is None:
        raise LessonError(problems)
    return lesson


def _load_file(path: Path, folder: Path) -> tuple[Lesson | None, list[LessonProblem]]:
    shown = f"{folder.name}/{path.name}"

    def bad(message: str, line: int | None = None):
        return None, [LessonProblem(shown, line, message)]

    if lesson_name_problem(path.stem):
        return bad(f"The file name must be a plain name: {lesson_name_problem(path.stem)}")
    if path.resolve().parent != folder.resolve():
        return bad("The file links outside the lessons folder.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return bad(f"Cannot be read: {exc.strerror or exc}.")
    if len(data) > MAX_FILE_BYTES:
        return bad(f"Too large ({len(data):,} bytes; a lesson is at most {MAX_FILE_BYTES:,}).")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return bad("Not UTF-8 text.", data[:exc.start].count(b"\n") + 1)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"at line (\d+)", str(exc))
        line = int(where.group(1)) if where else text.count("\n") + 1        # "at end of document"
        return bad(f"Not valid TOML: {exc}", line)
    finder = _LineFinder(text)
    problems: list[tuple[str, int | None]] = []
    lesson = _check_lesson(path.stem, shown, document, finder, problems)
    if problems:
        return None, [LessonProblem(shown, line, message) for message, line in problems]
    return lesson, []


class _LineFinder:
    """Best-effort line numbers for keys and values, searched within the step they belong to."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.steps = [i for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*steps\s*\]\]", line)]

    def _span(self, step: int | None) -> range:
        if step is None:
            return range(0, self.steps[0] if self.steps else len(self.lines))
        if step >= len(self.steps):                          # steps = [...] written inline: search all
            return range(len(self.lines))
        end = self.steps[step + 1] if step + 1 < len(self.steps) else len(self.lines)
        return range(self.steps[step], end)

    def key(self, key: str, step: int | None = None) -> int | None:
        name = re.escape(key)
        pattern = re.compile(rf"""(^\s*|[{{,.]\s*)["']?{name}["']?\s*=|^\s*\[[\w.-]*\.{name}\s*\]""")
        for i in self._span(step):
            if pattern.search(self.lines[i]):
                return i + 1
        return self.header(step)

    def value(self, value: str, key: str, step: int | None = None) -> int | None:
        quoted = re.compile(rf"""["']{re.escape(value)}["']""")
        for i in self._span(step):
            if quoted.search(self.lines[i]):
                return i + 1
        return self.key(key, step)

    def header(self, step: int | None) -> int | None:
        return self.steps[step] + 1 if step is not None and step < len(self.steps) else None


def _check_type(table: dict, keys: dict[str, type], where: str, step: int | None, finder: _LineFinder,
                problems: list) -> bool:
    """Unknown keys and values of the wrong type, each reported at its line; True when all is well."""
    ok = True
    for key, value in table.items():
        expected = keys.get(key)
        if expected is None:
            problems.append((f"{where}unknown key {key!r} (known: {', '.join(keys)}).", finder.key(key, step)))
            ok = False
        elif not isinstance(value, expected) or isinstance(value, bool):
            problems.append((f"{where}{key} must be {TYPE_WORDS[expected]} (got {str(value)[:40]!r}).",
                             finder.key(key, step)))
            ok = False
    return ok


def _check_names(table: dict, key: str, known, where: str, step: int | None, finder: _LineFinder,
                 problems: list) -> list[str]:
    """A list of names (hidden controls, architectures), each known; unknown ones reported at their line."""
    names = []
    for item in table.get(key, []):
        if not isinstance(item, str):
            problems.append((f"{where}{key} must list names as text (got {item!r}).", finder.key(key, step)))
        elif item not in known:
            what = "architecture" if key == "archs" else "setting"
            problems.append((f"{where}{key}: unknown {what} {item!r} (known: {', '.join(known)}).",
                             finder.value(item, key, step)))
        else:
            names.append(item)
    if key == "archs" and key in table and not table[key]:
        problems.append((f"{where}archs must name at least one architecture (leave it out to offer all).",
                         finder.key(key, step)))
    return names


def _check_caps(table: dict, where: str, step: int | None, finder: _LineFinder, problems: list) -> None:
    for key, setting in (("max_epochs", "epochs"), ("max_limit", "limit")):
        if key in table:
            problem = SETTINGS[setting].problem(table[key])
            if problem:
                problems.append((f"{where}{key}: {problem}", finder.key(key, step)))


def _check_lesson(name: str, shown: str, document: dict, finder: _LineFinder, problems: list) -> Lesson | None:
    if not _check_type(document, LESSON_KEYS, "", None, finder, problems):
        return None
    if not document.get("title", "").strip():
        problems.append(("The lesson needs a title.", 1))
    steps = document.get("steps", [])
    if not steps:
        problems.append(("The lesson needs at least one [[steps]].", None))
    _check_caps(document, "", None, finder, problems)
    defaults = {"max_epochs": document.get("max_epochs"), "max_limit": document.get("max_limit"),
                "archs": _check_names(document, "archs", PRESETS, "", None, finder, problems),
                "hidden": _check_names(document, "hidden", CONTROLS, "", None, finder, problems)}
    checked = [_check_step(i, step, defaults, finder, problems) for i, step in enumerate(steps)]
    if problems:
        return None
    return Lesson(name=name, title=document["title"].strip(), description=document.get("description", "").strip(),
                  steps=tuple(checked), file=shown)


def _check_step(index: int, step: Any, defaults: dict, finder: _LineFinder, problems: list) -> LessonStep | None:
    where = f"step {index + 1}: "
    if not isinstance(step, dict):
        problems.append((f"{where}must be a table ([[steps]]).", finder.header(index)))
        return None
    if not _check_type(step, STEP_KEYS, where, index, finder, problems):
        return None
    found = len(problems)

    def report(message: str, line: int | None) -> None:
        problems.append((where + message, line))

    if not step.get("title", "").strip():
        report("needs a title.", finder.header(index))
    if "page" in step and step["page"] not in PAGES:
        report(f"page must be one of {', '.join(PAGES)} (got {step['page']!r}).", finder.key("page", index))
    hidden = _check_names(step, "hidden", CONTROLS, where, index, finder, problems)
    own_archs = _check_names(step, "archs", PRESETS, where, index, finder, problems)
    _check_caps(step, where, index, finder, problems)
    caps = {key: step.get(key, defaults[key]) for key in ("max_epochs", "max_limit")}
    fixed = _check_fixed(step.get("fixed", {}), own_archs, caps, report, finder, index)
    sweep = check_sweep(step["sweep"], own_archs or defaults["archs"] or [], report,
                        lambda key: finder.key(key, index)) if "sweep" in step else {}
    if len(problems) > found:
        return None
    # A step's own lists replace the lesson's; a fixed arch is the only one offered unless the step lists others.
    archs = own_archs or ([fixed["arch"]] if "arch" in fixed else defaults["archs"])
    for arch in archs or PRESETS:
        try:
            config_from_values({**fixed, "arch": fixed.get("arch", arch)})
        except ConfigError as exc:
            report(f"the fixed settings make no valid run with {arch}: {' '.join(exc.problems)}",
                   finder.key("fixed", index))
            return None
    return LessonStep(number=index + 1, title=step["title"].strip(), text=step.get("text", "").strip(),
                      page=step.get("page"), fixed=fixed, hidden=tuple(hidden if "hidden" in step else defaults["hidden"]),
                      archs=tuple(archs), max_epochs=caps["max_epochs"], max_limit=caps["max_limit"], sweep=sweep)


def _check_fixed(table: dict, archs: list, caps: dict, report, finder: _LineFinder, index: int) -> dict:
    """The fixed settings, each checked by the settings table; limit 0 means all samples."""
    fixed: dict[str, Any] = {}
    for key, value in table.items():
        line = finder.key(key, index)
        if key == "name":
            report("fixed: the model name cannot be fixed (each visitor's model needs its own).", line)
        elif key not in FIXABLE:
            report(f"fixed: unknown setting {key!r} (known: {', '.join(FIXABLE)}).", line)
        elif key == "arch":
            try:
                get_preset(value)
                fixed[key] = value
            except ArchitectureError as exc:
                report(f"fixed: {exc}", line)
            if archs and value not in archs:
                report(f"fixed: arch {value!r} is not among this step's archs ({', '.join(archs)}).", line)
        elif key == "options":
            fixed[key] = value                               # checked below, with the arch
        else:
            value = None if key == "limit" and value == 0 else value
            problem = SETTINGS[key].problem(value)
            if problem:
                report(f"fixed: {problem}", line)
            else:
                fixed[key] = value
    if "options" in fixed:
        options = fixed["options"]
        try:
            if "arch" not in fixed:
                raise ArchitectureError("fixed options need a fixed arch.")
            if isinstance(options, dict):
                options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
            validate_options(fixed["arch"], options)
            fixed["options"] = options
        except ArchitectureError as exc:
            report(f"fixed: {exc}", finder.key("options", index))
    for key, cap_key in (("epochs", "max_epochs"), ("limit", "max_limit")):
        cap = caps[cap_key]
        if key in fixed and cap is not None and (fixed[key] is None or fixed[key] > cap):
            shown = "0 (all samples)" if fixed[key] is None else fixed[key]
            report(f"fixed: {key} = {shown} is above the step's {cap_key} = {cap}.", finder.key(key, index))
    return fixed
