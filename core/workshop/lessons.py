"""Lessons: a workshop's steps, from small TOML files (lessons/NAME.toml; read and checked by
core.workshop.lesson_checker).

A step fixes some settings (applied and locked), hides controls, limits the architectures offered
and caps epochs and training samples so that every run in the room stays short. The format is
described in lessons/README.md. A bad file is reported as LessonProblem(file, line, message) and
the other lessons still load; a lesson's name is its file stem, a plain name, so `?lesson=...`
can never reach a file outside the lessons folder. Nothing in a file is evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from core.fit.config import SETTINGS
from core.nets.presets import PRESETS
from core.workshop.setting_text import DEFAULT_ARCH, PLAIN_NAME, Refusal, config_from_values, resolve_clashes

PAGES = ("home", "draw", "train", "mistakes", "inside", "dataset", "models", "leaderboard")
TOOLS = ("steer", "finder")     # Pause/Step/a new rate while a run trains, and the learning-rate finder
CONTROLS = ("arch", "options", *SETTINGS, *TOOLS)          # what `hidden` may name
FIXABLE = ("arch", "options", *(name for name in SETTINGS if name != "name"))


class LessonError(ValueError):
    """A lesson or step that cannot be opened; `problems` says why, in plain words."""

    def __init__(self, problems: list):
        self.problems = problems
        super().__init__(" ".join(map(str, problems)))


@dataclass(frozen=True)
class LessonProblem:
    """What is wrong with a lesson file, and where (line None when no line could be found)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass(frozen=True)
class LessonStep:
    """One step: teacher's text, the settings it fixes, what it hides, the architectures and caps it allows."""

    number: int
    title: str
    text: str = ""
    page: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    archs: tuple[str, ...] = ()                              # empty: every architecture
    max_epochs: int | None = None
    max_limit: int | None = None
    sweep: dict[str, Any] = field(default_factory=dict)      # a sweep the step offers (core.workshop.lesson_sweep)

    @property
    def allowed_archs(self) -> tuple[str, ...]:
        return self.archs or tuple(PRESETS)

    def control(self, name: str) -> str:
        """How the page shows a control: 'hidden', 'locked' (fixed, or the only architecture) or 'free'."""
        if name in self.hidden:
            return "hidden"
        if name in self.fixed or (name == "arch" and len(self.allowed_archs) == 1):
            return "locked"
        return "free"

    def apply(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Refusal]]:
        """This step's version of `values` (TrainConfig fields, e.g. LinkSettings.values or the widgets').

        An architecture the step does not offer is refused (its options go with it) and the step's
        first is used; fixed settings override silently (the page shows them locked); epochs and
        limit above the caps are lowered to the caps (a refusal says so when the value was given,
        not when it is a preset default; limit None = all samples counts as above max_limit);
        values that then clash with the fixed ones are dropped. The result always has `arch`
        and makes a valid config with config_from_values.
        """
        values, refusals = dict(values), []
        arch = values.get("arch", self.allowed_archs[0] if self.archs else DEFAULT_ARCH)
        if arch not in self.allowed_archs:
            refusals.append(Refusal("arch", f"This step offers {', '.join(self.allowed_archs)} (got {arch!r})."))
            arch = self.allowed_archs[0]
            if values.pop("options", None):
                refusals.append(Refusal("options", "Not used: they were for the refused architecture."))
        values["arch"] = arch
        values.update(self.fixed)
        preset = config_from_values({"arch": values["arch"]})
        for name, cap in (("epochs", self.max_epochs), ("limit", self.max_limit)):
            current = values.get(name, getattr(preset, name))
            if cap is not None and (current is None or current > cap):
                if name in values and name not in self.fixed:
                    shown = "all" if current is None else f"{current:,}"
                    refusals.append(Refusal(name, f"{SETTINGS[name].label} lowered from {shown} to {cap:,}: "
                                                  f"this step allows at most {cap:,}."))
                values[name] = cap
        values, clashes = resolve_clashes(values, keep=("arch", "epochs", "limit", *self.fixed))
        return values, refusals + clashes


@dataclass(frozen=True)
class Lesson:
    """A lesson file: its name (the file stem), title, description and steps (numbered from 1)."""

    name: str
    title: str
    description: str
    steps: tuple[LessonStep, ...]
    file: str = ""

    def step(self, number: Any) -> LessonStep:
        """Step `number` (1-based); anything else is refused with a message."""
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(self.steps):
            raise LessonError([f"{self.title!r} has steps 1 to {len(self.steps)} (got {number!r})."])
        return self.steps[number - 1]

    def step_params(self, number: int) -> dict[str, str]:
        """Link parameters that open step `number` (for the presenter's Next link)."""
        self.step(number)
        return {"lesson": self.name, "step": str(number)}


def lesson_name_problem(name: Any) -> str | None:
    """Why `name` cannot be a lesson name (None when it can): plain names only, no paths."""
    if isinstance(name, str) and PLAIN_NAME.fullmatch(name):
        return None
    return f"A lesson is named by 1-64 letters, digits, '-' or '_', starting with a letter or digit (got {str(name)[:40]!r})."
