"""What every command shares: one-line refusals (UsageError, exit 2), loading a stored model with its dataset,
reading a picture file, writing a picture."""
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


def load_model_and_spec(name: str):
    """(model, its dataset's spec) of a stored model; a missing or damaged one is a UsageError."""
    from core.data import datasets
    from core.store import ModelStore, StoreError

    model = load_model(name)
    try:
        return model, datasets.get(ModelStore().read_meta(name).dataset)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def class_number(text: str, class_names) -> int:
    """A class given as its number or its name (any case); UsageError naming the choices otherwise."""
    names = [name.lower() for name in class_names]
    if text.strip().lower() in names:
        return names.index(text.strip().lower())
    if text.strip().isdigit() and int(text) < len(names):
        return int(text)
    raise UsageError(f"unknown class {text!r}: give 0 to {len(names) - 1} or one of {', '.join(class_names)}")


def read_picture(path: str):
    """A PNG or JPEG file as the app reads a drawing (ink found, cropped, centred, 28x28 in [0, 1])."""
    from pathlib import Path

    from core.data.preprocess import BlankImageError, ImageError, canvas_to_mnist, load_image_bytes

    if not Path(path).is_file():
        raise UsageError(f"no such image file: {path}")
    try:
        return canvas_to_mnist(load_image_bytes(Path(path).read_bytes())).image
    except (BlankImageError, ImageError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def write_picture(images, path: str, scale: int = 10) -> None:
    """One (H, W) or several (n, H, W) pictures in [0, 1] side by side, each pixel `scale` px, as a PNG or JPEG."""
    import numpy as np
    from PIL import Image

    stack = np.asarray(images, np.float32).reshape(-1, *np.asarray(images).shape[-2:])
    gap = np.full((stack.shape[1], 1), 0.5, np.float32)
    strip = np.concatenate([part for image in stack for part in (image, gap)][:-1], axis=1)
    grey = np.round(np.clip(strip, 0, 1) * 255).astype(np.uint8)
    try:
        Image.fromarray(np.kron(grey, np.ones((scale, scale), np.uint8))).save(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None
