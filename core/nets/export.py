"""Exports of a trained model for other runtimes: .keras, LiteRT, ONNX and TensorFlow SavedModel.

Built on Keras' own `model.export` (and `model.save` for .keras). Importing this module
does not import TensorFlow, so the format table is cheap to read.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

INPUT_NAME = "image"  # the input's name in every export (ONNX input, SavedModel/LiteRT signature key)
_export_lock = threading.Lock()  # one conversion at a time: converters keep process-wide state


class ExportError(RuntimeError):
    """An export cannot be made; the message says why in plain words."""


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its name, label, file ending, download mime type and what it is for."""

    name: str
    label: str
    suffix: str                 # ending of the exported file; of the downloaded zip for a SavedModel
    mime: str
    description: str
    keras_format: str | None    # `model.export` format; None means `model.save` (.keras)
    directory: bool = False     # export_model writes a folder (export_bytes zips it)


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("keras", "Keras", ".keras", "application/octet-stream",
                 "Keras 3 model file: reload with keras.saving.load_model to inspect or train further.", None),
    ExportFormat("litert", "LiteRT", ".tflite", "application/octet-stream",
                 "LiteRT (TensorFlow Lite) flatbuffer for Android, iOS and embedded devices.", "litert"),
    ExportFormat("onnx", "ONNX", ".onnx", "application/octet-stream",
                 "ONNX graph for ONNX Runtime (Python, C++, C#, Java, JavaScript) and other ONNX tools.", "onnx"),
    ExportFormat("saved-model", "SavedModel", "-saved-model.zip", "application/zip",
                 "TensorFlow SavedModel folder (zipped) for tf.saved_model.load, TF Serving and TF.js.",
                 "tf_saved_model", directory=True),
)}


def get_format(fmt: str) -> ExportFormat:
    """The format named `fmt`, or an ExportError listing the known ones."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def check_destination(fmt: str, out_path: str | os.PathLike) -> Path:
    """The path an export of `fmt` would be written to, or an ExportError saying why it cannot be.

    A file export needs the format's ending and may replace an existing file; a SavedModel
    needs a folder name that does not exist yet. The parent folder must exist and be writable.
    """
    spec = get_format(fmt)
    out = Path(out_path).expanduser()
    if str(out_path).strip() == "" or out.name in ("", ".", ".."):
        raise ExportError(f"{str(out_path)!r} is not a usable output path")
    if spec.directory:
        if out.exists() or out.is_symlink():
            raise ExportError(f"{out} already exists: a SavedModel is written to a new folder")
    else:
        if out.is_dir():
            raise ExportError(f"{out} is a folder: give a file name ending in {spec.suffix}")
        if out.suffix.lower() != spec.suffix:
            raise ExportError(f"{spec.label} exports are {spec.suffix} files: {out.name} does not end in {spec.suffix}")
    parent = out.parent
    if not parent.exists():
        raise ExportError(f"folder {parent} does not exist")
    if not parent.is_dir():
        raise ExportError(f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to folder {parent}")
    return out


def export_model(model, fmt: str, out_path: str | os.PathLike) -> Path:
    """Write `model` as `fmt` to `out_path` (a folder for saved-model) and return that path.

    The export is written under a hidden temporary name beside `out_path` and renamed into
    place, so a failed export leaves nothing behind. The model itself is not changed.
    """
    spec = get_format(fmt)
    out = check_destination(fmt, out_path)
    try:
        if spec.directory:
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
            os.chmod(tmp, 0o755)
        else:
            fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=spec.suffix)
            os.close(fd)
            tmp = Path(name)
            os.chmod(tmp, 0o644)
    except OSError as exc:
        raise ExportError(f"cannot write to folder {out.parent}: {exc.strerror or exc}") from exc
    try:
        if spec.directory:
            tmp.rmdir()  # the SavedModel writer creates the folder itself
        _write(model, spec, tmp)
        if spec.directory and out.exists():
            raise ExportError(f"{out} already exists: a SavedModel is written to a new folder")
        os.replace(tmp, out)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    return out


def export_bytes(model, fmt: str, name: str = "model") -> tuple[bytes, str, str]:
    """One downloadable file of `model` as `fmt`: (contents, filename suffix, mime type).

    A SavedModel folder comes zipped, as a folder `<name>-saved-model/` inside the zip.
    """
    spec = get_format(fmt)
    folder = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "model"
    with tempfile.TemporaryDirectory(prefix="digit-studio-export-") as tmp:
        if not spec.directory:
            path = Path(tmp) / f"{folder}{spec.suffix}"
            _write(model, spec, path)
            return path.read_bytes(), spec.suffix, spec.mime
        root = Path(tmp) / f"{folder}{spec.suffix.removesuffix('.zip')}"
        _write(model, spec, root)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(root.rglob("*")):
                archive.write(file, file.relative_to(root.parent).as_posix())
        return buffer.getvalue(), spec.suffix, spec.mime


def _write(model, spec: ExportFormat, path: Path) -> None:
    """Run Keras' exporter for `spec` into `path`; any failure becomes an ExportError."""
    try:
        with _export_lock, warnings.catch_warnings():
            # Keras' tf2onnx patch probes `np.object`, which numpy 2.4 answers with a FutureWarning.
            warnings.filterwarnings("ignore", message=r"In the future `np\.object`", category=FutureWarning)
            if spec.keras_format is None:
                model.save(path)
            else:
                model.export(str(path), format=spec.keras_format, verbose=False,
                             input_signature=_input_signature(model))
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"could not write the {spec.label} export: {exc.strerror or exc}") from exc
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__
        raise ExportError(f"could not convert the model to {spec.label}: {reason}") from exc


def _input_signature(model):
    """A named, batch-flexible signature from the model's input, so models never called can export too.

    Keras' ONNX exporter refuses a model that was built but never called (a model fresh from
    `load_model`, or a nested Sequential from `for_inference`); an explicit signature avoids that.
    """
    import tensorflow as tf

    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None  # a subclassed model: Keras infers the signature from its first call
    if not inputs or len(inputs) != 1:
        return None
    shape = (None, *tuple(inputs[0].shape)[1:])
    return [tf.TensorSpec(shape, inputs[0].dtype or "float32", name=INPUT_NAME)]


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to a scratch file for the duration (TensorFlow's and the converters'
    C++ log lines bypass Python). Process-wide: for the single-threaded command line only."""
    import sys

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (an embedded interpreter): nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
