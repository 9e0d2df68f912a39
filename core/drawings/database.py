"""DrawingStore: the drawings in one SQLite file, shared safely by threads and processes.

WAL mode: readers never wait for writers; writers take the write lock up front
(`BEGIN IMMEDIATE`) and queue behind a busy timeout, one short transaction per write.
Connections are kept in a small pool and reused, because closing the last connection to
a WAL database checkpoints it (an fsync per kept drawing). The pool is dropped when the
process forks or the file is replaced (moved aside, deleted), so a new file is set up.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from core.drawings.values import (
    DRAWINGS_ENV,
    SIDE,
    Drawing,
    DrawingsError,
    InvalidDrawingError,
    damaged,
    record,
    validate_author,
    validate_ids,
    validate_label,
)

FILE_NAME = "drawings.sqlite3"
APPLICATION_ID = 0x44535444  # "DSTD" in the file header: this file is a Digit Studio drawings database
SCHEMA_VERSION = 1
POOL_SIZE = 8
_COLUMNS = "id, label, author, created_unix, model, predicted, confidence, image"
_INSERT = ("INSERT INTO drawings (label, author, created_unix, model, predicted, confidence, image, canvas) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS drawings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a selection of ids stays valid
    label        INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    author       TEXT,
    created_unix REAL NOT NULL,
    model        TEXT,                               -- which model said what, when it was kept
    predicted    INTEGER CHECK (predicted IS NULL OR predicted BETWEEN 0 AND 9),
    confidence   REAL,
    image        BLOB NOT NULL,                      -- the 28x28 network input: 784 raw uint8, row by row
    canvas       BLOB                                -- the original canvas as PNG (last: lists skip it)
);
CREATE INDEX IF NOT EXISTS drawings_label ON drawings (label);
CREATE INDEX IF NOT EXISTS drawings_author ON drawings (author);
"""
_INHERITED: list[sqlite3.Connection] = []  # a forked child's copies of its parent's connections: never closed


def default_path() -> Path:
    """$DIGIT_STUDIO_DRAWINGS, else drawings.sqlite3 beside the saved models (core.store.ModelStore().root)."""
    if os.environ.get(DRAWINGS_ENV):
        return Path(os.environ[DRAWINGS_ENV]).expanduser()
    from core.store import ModelStore

    return ModelStore().root / FILE_NAME


def _explain(path: Path, exc: sqlite3.Error, timeout: float) -> DrawingsError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DrawingsError(f"The drawings database {path} stayed busy for {timeout:g} s (another program "
                             "holds it); try again.")
    if any(words in text for words in ("unable to open", "readonly", "read-only", "disk is full")):
        return DrawingsError(f"The drawings database {path} cannot be written ({text}): check its folder, or "
                             f"set {DRAWINGS_ENV} to another file.")
    if isinstance(exc, sqlite3.OperationalError) and "malformed" not in text:
        return DrawingsError(f"The drawings database {path} failed: {text}.")
    return damaged(path, text)  # "file is not a database", "database disk image is malformed"


def _drawing(row: tuple, with_canvas: bool) -> Drawing:
    id_, label, author, created, model, predicted, confidence, image, canvas = row
    return Drawing(id_, label, np.frombuffer(image, np.uint8).reshape(SIDE, SIDE), author, created, model,
                   predicted, confidence, bool(canvas), canvas if with_canvas else None)


def _count(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidDrawingError(f"{name} must be a whole number of at least 0 (got {value!r}).")


class DrawingStore:
    """The drawings database at `path` (default_path() if None); share one per process, or make many.

    Constructing it touches nothing; the first call opens (or creates) the file and its folder.
    Every failure is a DrawingsError whose message can be shown as it is.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 30.0, synchronous: str = "NORMAL"):
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.timeout = float(timeout)
        self.synchronous = synchronous
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._identity: tuple[int, int, int] | None = None  # (pid, device, inode) the pooled connections belong to

    def __repr__(self) -> str:
        return f"DrawingStore({str(self.path)!r})"

    # --- connections -------------------------------------------------------------------------------------

    def _file_identity(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return os.getpid(), stat.st_dev, stat.st_ino

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise DrawingsError(f"The drawings database {self.path} is a folder; set {DRAWINGS_ENV} to a file "
                                f"path such as {self.path / FILE_NAME}.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DrawingsError(f"The folder for the drawings database {self.path} cannot be created "
                                f"({exc.strerror}); set {DRAWINGS_ENV} to another file.") from None
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            con.execute(f"PRAGMA synchronous={self.synchronous}")
        except BaseException:
            con.close()
            raise
        return con

    def _prepare(self, con: sqlite3.Connection) -> None:
        """Check the file is ours (or new), switch it to WAL (kept in the file) and create the table."""
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables - {"drawings", "sqlite_sequence"}):
            raise damaged(self.path, "it is an SQLite database of another program")
        if version > SCHEMA_VERSION:
            raise DrawingsError(f"The drawings database {self.path} was written by a newer Digit Studio "
                                f"(schema {version}); update, or set {DRAWINGS_ENV} to another file.")
        deadline = time.monotonic() + self.timeout
        while True:  # WAL is kept in the file; it cannot be set while another process is setting up the file
            try:
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                mode = None
            if mode == "wal":
                break
            if time.monotonic() > deadline:
                raise DrawingsError(f"The drawings database {self.path} cannot be switched to WAL mode (it stays "
                                    f"{mode or 'locked'}); put it on a local disk with {DRAWINGS_ENV}.")
            time.sleep(0.01)
        if app_id == 0 or version < SCHEMA_VERSION:
            con.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA application_id={APPLICATION_ID}; "
                              f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def _acquire(self) -> tuple[sqlite3.Connection, tuple | None]:
        """A pooled connection to the file as it is now, or a new one (setting the file up when it is new
        to this store: first use, a forked child, a file replaced or removed); with the file's identity."""
        identity = self._file_identity()
        with self._lock:
            if identity is not None and identity == self._identity:
                if self._idle:
                    return self._idle.pop(), identity
                fresh = False
            else:
                old, stale, self._idle, self._identity = self._identity, self._idle, [], None
                if old is not None and old[0] != os.getpid():
                    _INHERITED.extend(stale)
                else:
                    for con in stale:
                        con.close()
                fresh = True
        con = self._open()
        try:
            if fresh:
                self._prepare(con)
                identity = self._file_identity()
                with self._lock:
                    self._identity = identity
        except BaseException:
            con.close()
            raise
        return con, identity

    def _release(self, con: sqlite3.Connection, identity: tuple | None, healthy: bool) -> None:
        with self._lock:
            if healthy and identity is not None and identity == self._identity and len(self._idle) < POOL_SIZE:
                self._idle.append(con)
                return
        con.close()

    @contextmanager
    def _transaction(self, write: bool = False):
        """One short transaction: BEGIN IMMEDIATE for writes (waits for the write lock up front), BEGIN for reads."""
        con, identity, healthy = None, None, True
        try:
            con, identity = self._acquire()
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield con
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            healthy = False
            raise _explain(self.path, exc, self.timeout) from exc
        finally:
            if con is not None:
                try:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                except sqlite3.Error:
                    healthy = False
                self._release(con, identity, healthy)

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        with self._lock:
            idle, self._idle, self._identity = self._idle, [], None
        for con in idle:
            con.close()

    # --- writing -----------------------------------------------------------------------------------------

    def add(self, label, image, canvas=None, *, author=None, model=None, predicted=None, confidence=None) -> int:
        """Keep one drawing; returns its id. `image`: the 28x28 network input (floats in [0, 1] or uint8);
        `canvas`: the original drawing (RGBA array or PNG bytes; optional)."""
        row = record(label, image, canvas, author=author, model=model, predicted=predicted, confidence=confidence)
        with self._transaction(write=True) as con:
            return con.execute(_INSERT, row).lastrowid

    def add_records(self, rows: list[tuple], skip_duplicates: bool = True) -> list[int | None]:
        """Write rows made by values.record in one transaction; an id per row, or None where the same drawing
        (image, label, author, time to the second) is already kept and `skip_duplicates` is set."""
        ids: list[int | None] = []
        with self._transaction(write=True) as con:
            for row in rows:
                if skip_duplicates and con.execute(
                        "SELECT 1 FROM drawings WHERE label = ? AND author IS ? AND image = ? "
                        "AND abs(created_unix - ?) < 1 LIMIT 1", (row[0], row[1], row[6], row[2])).fetchone():
                    ids.append(None)
                    continue
                ids.append(con.execute(_INSERT, row).lastrowid)
        return ids

    def relabel(self, drawing_id: int, label) -> bool:
        """Give a drawing a new label; False if there is no such drawing (deleted meanwhile)."""
        (drawing_id,), label = validate_ids(drawing_id), validate_label(label)
        with self._transaction(write=True) as con:
            return con.execute("UPDATE drawings SET label = ? WHERE id = ?", (label, drawing_id)).rowcount == 1

    def delete(self, ids) -> int:
        """Delete one id or many; returns how many there were."""
        ids = validate_ids(ids)
        if not ids:
            return 0
        with self._transaction(write=True) as con:
            return sum(con.execute(f"DELETE FROM drawings WHERE id IN ({','.join('?' * len(chunk))})", chunk).rowcount
                       for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)))

    # --- reading -----------------------------------------------------------------------------------------

    @staticmethod
    def _where(label=None, author=None) -> tuple[str, list]:
        clauses, params = [], []
        if label is not None:
            clauses.append("label = ?")
            params.append(validate_label(label))
        if author is not None:  # "" selects the drawings kept without a name
            clauses.append("author IS ?")
            params.append(validate_author(author))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def get(self, drawing_id: int, *, canvas: bool = True) -> Drawing | None:
        """One drawing with its canvas PNG, or None if there is no such id."""
        (drawing_id,) = validate_ids(drawing_id)
        with self._transaction() as con:
            row = con.execute(f"SELECT {_COLUMNS}, {'canvas' if canvas else 'canvas IS NOT NULL'} FROM drawings "
                              "WHERE id = ?", (drawing_id,)).fetchone()
        return _drawing(row, canvas) if row else None

    def list(self, label=None, author=None, limit: int | None = None, offset: int = 0, *, canvas: bool = False,
             newest_first: bool = True) -> list[Drawing]:
        """Drawings filtered by label and author (author="": kept without a name), newest first;
        their canvas PNGs only with canvas=True (has_canvas says whether there is one)."""
        where, params = self._where(label, author)
        _count("limit", limit)
        _count("offset", offset)
        with self._transaction() as con:
            rows = con.execute(f"SELECT {_COLUMNS}, {'canvas' if canvas else 'canvas IS NOT NULL'} FROM drawings"
                               f"{where} ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?",
                               [*params, -1 if limit is None else limit, offset]).fetchall()
        return [_drawing(row, canvas) for row in rows]

    def count(self, label=None, author=None) -> int:
        """How many drawings match (for paging a gallery)."""
        where, params = self._where(label, author)
        with self._transaction() as con:
            return con.execute(f"SELECT count(*) FROM drawings{where}", params).fetchone()[0]

    def counts(self, author=None) -> dict[int, int]:
        """Drawings per label, all ten digits present (zeros included)."""
        where, params = self._where(None, author)
        with self._transaction() as con:
            rows = con.execute(f"SELECT label, count(*) FROM drawings{where} GROUP BY label", params).fetchall()
        return {digit: 0 for digit in range(10)} | dict(rows)

    def authors(self) -> list[str]:
        """The names drawings were kept under, sorted (drawings without a name: filter with author="")."""
        with self._transaction() as con:
            rows = con.execute("SELECT DISTINCT author FROM drawings WHERE author IS NOT NULL").fetchall()
        return sorted((r[0] for r in rows), key=str.casefold)

    def arrays(self, label=None, author=None, *, ids: bool = False):
        """(x uint8 (N, 28, 28), y uint8 (N,)) in id order, like MNIST's arrays; with ids=True also the ids."""
        where, params = self._where(label, author)
        with self._transaction() as con:
            rows = con.execute(f"SELECT id, label, image FROM drawings{where} ORDER BY id", params).fetchall()
        x = np.frombuffer(b"".join(r[2] for r in rows), np.uint8).reshape(len(rows), SIDE, SIDE).copy()
        y = np.array([r[1] for r in rows], dtype=np.uint8)
        return (x, y, np.array([r[0] for r in rows], dtype=np.int64)) if ids else (x, y)

    # --- the file and exchange ---------------------------------------------------------------------------

    def check(self) -> None:
        """PRAGMA quick_check over the whole file; DamagedDatabaseError if anything is wrong."""
        with self._transaction() as con:
            result = [r[0] for r in con.execute("PRAGMA quick_check")]
        if result != ["ok"]:
            raise damaged(self.path, "; ".join(result[:3]))

    def move_aside(self) -> Path:
        """Rename the file (and its -wal/-shm) to `<name>.damaged-<time>`; the next call starts a new, empty one."""
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for n in range(2, 1000):
            if not target.exists():
                break
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
        try:
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{self.path}{suffix}").exists():
                    Path(f"{self.path}{suffix}").rename(f"{target}{suffix}")
        except OSError as exc:
            raise DrawingsError(f"{self.path} could not be moved aside ({exc.strerror}).") from None
        return target

    def export_zip(self, dest=None, *, canvases: bool = False, label=None, author=None):
        """The 28x28 inputs as PNGs plus labels.csv (and canvas/*.png if asked): bytes, or written to `dest`."""
        from core.drawings.files import export_zip

        return export_zip(self, dest, canvases=canvases, label=label, author=author)

    def export_npz(self, dest=None, *, label=None, author=None):
        """x_test, y_test (uint8, as in mnist.npz) and ids: bytes, or written to `dest`."""
        from core.drawings.files import export_npz

        return export_npz(self, dest, label=label, author=author)

    def import_zip(self, source):
        """Keep the good drawings of a zip laid out as export_zip makes it (bytes or a path): an ImportReport."""
        from core.drawings.files import import_zip

        return import_zip(self, source)
