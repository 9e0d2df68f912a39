"""Names the store accepts: a model's (a plain file stem) and a visitor's, who may sign a model.

One home for both patterns: core.workshop.links reads a visitor's name from a link with VISITOR_NAME.
"""
from __future__ import annotations

import re

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VISITOR_NAME = re.compile(r"[^\W_][\w-]{0,23}")  # letters (any script), digits, '-', '_'


class StoreError(RuntimeError):
    """A model cannot be saved, found or loaded; the message says which and why."""


def validate_name(name: str) -> str:
    """Model names are plain file stems: letters, digits, '-', '_', '.', no path tricks."""
    if not isinstance(name, str) or not MODEL_NAME.match(name) or ".." in name or name.endswith(".keras"):
        raise StoreError(
            f"Invalid model name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit."
        )
    return name
