"""What someone changed while a run trained (the learning rate, augmentation) and what the server did to it
(a paused run stopped at the pause limit), as plain data: the curves mark each one with a vertical line and
its label, and the saved history and replay keep them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = ("learning_rate", "augment", "pause_limit")


@dataclass(frozen=True)
class RunEvent:
    """One change during a run, at the moment it took effect."""

    kind: str          # one of KINDS
    step: int          # batches trained when it took effect (the next batch is the first to feel it)
    x: float           # where it sits on the curves' axis: epochs, counting the batches of the current one
    value: float       # the new learning rate; 1/0 for augmentation on/off; the pause limit in seconds
    text: str          # its label on the curves: "learning rate 0.001 → 0.05"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "step": self.step, "x": self.x, "value": self.value, "text": self.text}

    @classmethod
    def from_dict(cls, data: Any) -> "RunEvent":
        """An event from saved data; ValueError for anything that is not one."""
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError(f"not a run event: {str(data)[:80]}")
        step, x, value = data.get("step"), data.get("x"), data.get("value")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      for v in (step, x, value))
        if not numbers or not isinstance(data.get("text"), str):
            raise ValueError(f"a damaged run event: {str(data)[:80]}")
        return cls(str(data["kind"]), int(step), float(x), float(value), str(data["text"])[:200])


def events_from(values: Any) -> tuple[RunEvent, ...]:
    """The readable events of a saved list (a damaged entry is left out, never the whole list)."""
    events = []
    for value in values if isinstance(values, list) else []:
        try:
            events.append(RunEvent.from_dict(value))
        except ValueError:
            continue
    return tuple(events)


def rate_text(old: float | None, new: float) -> str:
    return f"learning rate {old:g} → {new:g}" if old is not None else f"learning rate {new:g}"


def augment_text(on: bool) -> str:
    return "augmentation on" if on else "augmentation off"


def clean_text(epochs: int) -> str:
    """The label of the switch to the clean last epochs (core.fit.recipe.CleanLastEpochs)."""
    return f"augmentation off: the last {epochs} epoch{'s' if epochs != 1 else ''} on plain digits"
