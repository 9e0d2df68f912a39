"""What every command shares: one-line refusals (UsageError, exit 2) and loading a stored model."""
from __future__ import annotations

import argparse
import json


class UsageError(Exception):
    """Bad arguments: reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def json_value(text: str):
    """An argument given as JSON (argparse type)."""
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r}") from None


def load_model(name: str):
    """A stored model; a missing or damaged one is a UsageError."""
    from core.store import ModelStore, StoreError

    try:
        return ModelStore().load(name)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
