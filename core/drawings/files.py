"""Drawings in and out: a zip of 28x28 PNGs plus labels.csv, and an .npz in mnist.npz's layout.

The zip holds `<id>.png` (the 28x28 network input, 8-bit gray, white ink on black) and
labels.csv (file,label,author,created,model,predicted,confidence,canvas); with
canvases=True also `canvas/<id>.png`, the original drawings. created is ISO 8601 with a
UTC offset; where a row has none, the image file's time in the zip stands for it, so the same zip
imported twice is recognised as already kept. Importing keeps every good row and reports each refused
file with a reason.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

from core.drawings.values import MAX_CANVAS_BYTES, MAX_CANVAS_SIDE, SIDE, DrawingsError, InvalidDrawingError, record

CSV_NAME = "labels.csv"
CSV_COLUMNS = ("file", "label", "author", "created", "model", "predicted", "confidence", "canvas")
MAX_ZIP_BYTES = 512 * 2**20
MAX_ENTRIES = 100_000
MAX_INPUT_BYTES = 64 * 2**10  # a 28x28 PNG is a few hundred bytes
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
BATCH = 200  # rows per write transaction, so an import never holds the write lock for long


@dataclass(frozen=True)
class ImportProblem:
    """One file (or CSV line) that was not imported, and why."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: the ids it added, the files it skipped as already kept, and each refusal."""

    added: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        parts = [f"imported {len(self.added)} drawing{'s' * (len(self.added) != 1)}"]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} already kept")
        if self.problems:
            parts.append(f"{len(self.problems)} refused")
        return ", ".join(parts)


def _write(dest, data: bytes) -> Path:
    """Atomically write `data` to `dest` (temporary file in the same folder, then rename)."""
    dest = Path(dest).expanduser()
    if dest.is_dir():
        raise DrawingsError(f"{dest} is a folder: give a file name.")
    if not dest.parent.is_dir():
        raise DrawingsError(f"Folder {dest.parent} does not exist.")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise DrawingsError(f"{dest} cannot be written ({exc.strerror}).") from None
    return dest


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="seconds")


def export_zip(store, dest=None, *, canvases: bool = False, label=None, author=None):
    """Every matching drawing as `<id>.png` plus labels.csv (and canvas/<id>.png): bytes, or the Path written."""
    drawings = store.list(label, author, canvas=canvases, newest_first=False)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for d in drawings:
            name = f"{d.id:06d}.png"
            archive.writestr(name, _png(d.image), compress_type=zipfile.ZIP_STORED)  # PNG is compressed already
            canvas = ""
            if canvases and d.canvas_png:
                canvas = f"canvas/{name}"
                archive.writestr(canvas, d.canvas_png, compress_type=zipfile.ZIP_STORED)
            confidence = "" if d.confidence is None else f"{d.confidence:.6f}"
            writer.writerow([name, d.label, d.author or "", _iso(d.created_unix), d.model or "",
                             "" if d.predicted is None else d.predicted, confidence, canvas])
        archive.writestr(CSV_NAME, table.getvalue())
    return buffer.getvalue() if dest is None else _write(dest, buffer.getvalue())


def export_npz(store, dest=None, *, label=None, author=None):
    """x_test (N, 28, 28) uint8, y_test (N,) uint8 as in mnist.npz, and ids (N,) int64: bytes, or the Path."""
    x, y, ids = store.arrays(label, author, ids=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_test=x, y_test=y, ids=ids)
    return buffer.getvalue() if dest is None else _write(dest, buffer.getvalue())


def _open_zip(source) -> zipfile.ZipFile:
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            size, handle = len(source), io.BytesIO(bytes(source))
        else:
            path = Path(source).expanduser()
            if not path.is_file():
                raise DrawingsError(f"No such file: {path}.")
            size, handle = path.stat().st_size, path
        if size > MAX_ZIP_BYTES:
            raise DrawingsError(f"The zip is {size / 2**20:.0f} MB; the limit is {MAX_ZIP_BYTES // 2**20} MB.")
        return zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise DrawingsError("This is not a zip file (expected a zip of PNGs plus labels.csv).") from None


def _read_image(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, max_side: int, exact: bool) -> np.ndarray:
    """A member decoded to gray uint8 (exact: it must be 28x28) or RGBA; InvalidDrawingError saying what is wrong."""
    from PIL import Image

    if info.file_size > limit:
        raise InvalidDrawingError(f"Too large for a drawing ({info.file_size / 2**10:.0f} KB).")
    try:
        data = archive.read(info)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if exact and (width, height) != (SIDE, SIDE):
                raise InvalidDrawingError(f"Wrong size: {width}x{height} pixels; network inputs are 28x28.")
            if max(width, height) > max_side:
                raise InvalidDrawingError(f"Too large: {width}x{height} pixels; at most {max_side} a side.")
            image.load()
            if exact:
                return np.asarray(image.convert("L"), dtype=np.uint8).copy()
            return data if image.format == "PNG" else _png(np.asarray(image.convert("RGBA")))
    except InvalidDrawingError:
        raise
    except Exception:  # PIL raises many kinds for non-images and damaged ones
        raise InvalidDrawingError("Not an image that can be read (use PNG).") from None


def _zip_time(member: zipfile.ZipInfo) -> float | None:
    """The member's modification time in the zip (local time, to the second), None if it is not a date."""
    try:
        return datetime(*member.date_time).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None


def _created(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidDrawingError(f"Created {text.strip()[:40]!r} is not a date and time such as "
                                  "2025-01-31T14:05:09+00:00.") from None
    return when.timestamp()  # a time without offset is taken as local time


def import_zip(store, source) -> "ImportReport":
    """Check every row of labels.csv and every file; write the good ones (duplicates of kept drawings skipped)."""
    report = ImportReport()
    with _open_zip(source) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                 and not PurePosixPath(i.filename).name.startswith(".")]
        if len(infos) > MAX_ENTRIES:
            raise DrawingsError(f"The zip holds {len(infos):,} files; the limit is {MAX_ENTRIES:,}.")
        tables = [i for i in infos if PurePosixPath(i.filename).name == CSV_NAME]
        if len(tables) != 1:
            raise DrawingsError(f"The zip must hold exactly one {CSV_NAME} (file,label,... per image); "
                                f"it holds {len(tables)}.")
        folder = str(PurePosixPath(tables[0].filename).parent)
        prefix = "" if folder == "." else folder + "/"
        members = {(i.filename[len(prefix):] if i.filename.startswith(prefix) else i.filename): i
                   for i in infos if i is not tables[0]}
        try:
            rows = list(csv.DictReader(io.StringIO(archive.read(tables[0]).decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error, zipfile.BadZipFile, OSError) as exc:
            raise DrawingsError(f"{CSV_NAME} cannot be read ({exc}).") from None
        if rows and not {"file", "label"} <= set(rows[0]):
            raise DrawingsError(f"{CSV_NAME} needs the columns file and label (it has {', '.join(map(str, rows[0]))}).")
        used, good, names = set(), [], []
        for line, row in enumerate(rows, start=2):
            name = (row.get("file") or "").strip()
            canvas_name = (row.get("canvas") or "").strip()
            try:
                if not name:
                    raise InvalidDrawingError("No file name in this line.")
                if name in used:
                    raise InvalidDrawingError(f"Listed twice in {CSV_NAME} (again on line {line}).")
                used.update({name, canvas_name})
                if name not in members:
                    raise InvalidDrawingError(f"Listed in {CSV_NAME} (line {line}) but not in the zip.")
                image = _read_image(archive, members[name], MAX_INPUT_BYTES, SIDE, exact=True)
                canvas = None
                if canvas_name:
                    if canvas_name not in members:
                        raise InvalidDrawingError(f"Its canvas {canvas_name} is not in the zip.")
                    canvas = _read_image(archive, members[canvas_name], MAX_CANVAS_BYTES, MAX_CANVAS_SIDE, exact=False)
                confidence = (row.get("confidence") or "").strip()
                try:
                    confidence = float(confidence) if confidence else None
                except ValueError:
                    raise InvalidDrawingError(f"Confidence {confidence[:20]!r} is not a number.") from None
                good.append(record(row.get("label"), image, canvas, author=row.get("author"),
                                   model=(row.get("model") or "").strip() or None,
                                   predicted=(row.get("predicted") or "").strip() or None, confidence=confidence,
                                   created_unix=_created(row.get("created") or "") or _zip_time(members[name])))
                names.append(name)
            except InvalidDrawingError as exc:
                report.problems.append(ImportProblem(name or f"{CSV_NAME} line {line}", str(exc)))
        for member in sorted(set(members) - used):
            kind = "Not" if member.lower().endswith(IMAGE_SUFFIXES) else "Not an image, and not"
            report.problems.append(ImportProblem(member, f"{kind} listed in {CSV_NAME}."))
    for start in range(0, len(good), BATCH):
        ids = store.add_records(good[start:start + BATCH])
        for name, new_id in zip(names[start:start + BATCH], ids):
            if new_id is None:
                report.duplicates.append(name)
            else:
                report.added.append(new_id)
    return report
