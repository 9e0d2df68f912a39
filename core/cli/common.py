"""What every command shares: one-line refusals (UsageError, exit 2) and loading a stored model."""
from __future__ import annotations

import argparse
import json


class UsageError(Exception):
    """Bad arguments: reported on one line, exit status 2."""


class ExitNow(Exception):
    """The command is over (a Ctrl-C'd run): what happened is printed, and `python -m core` ends the process with
    `status` through os._exit, skipping the interpreter's teardown (with TensorFlow loaded, 3-6 s here) and,
    unless `hooks`, the atexit hooks too (a second Ctrl-C: a run may still be busy in a thread)."""

    def __init__(self, status: int, hooks: bool = True):
        super().__init__(status)
        self.status, self.hooks = status, hooks


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
