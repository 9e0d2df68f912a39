"""Sweeps kept: one SQLite file (`sweeps.sqlite3` beside the saved models, or $DIGIT_STUDIO_SWEEPS) holding
each sweep's settings and each of its runs (values, state, figures, model, why it was pruned).

The app's house choice for user data, as the drawings (core.drawings). One short transaction per
write, WAL so pages read while a sweep writes. A damaged file is reported with what to do.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from core.sweeps.space import Params, SweepSpec

FILE_NAME = "sweeps.sqlite3"
SWEEPS_ENV = "DIGIT_STUDIO_SWEEPS"
RUN_STATES = ("waiting", "queued", "training", "finished", "pruned", "stopped", "failed")
SWEEP_STATES = ("running", "finished", "stopped", "failed")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: a model names its sweep by id
    created_unix REAL NOT NULL,
    owner        TEXT,
    spec         TEXT NOT NULL,                       -- SweepSpec.to_json()
    state        TEXT NOT NULL,
    note         TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    sweep_id     INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,                    -- 1, 2, ... in the order the search chose them
    params       TEXT NOT NULL,                       -- the values this run tried (JSON)
    state        TEXT NOT NULL,
    job_id       TEXT,
    model        TEXT,
    val_accuracy REAL,
    test_accuracy REAL,
    seconds      REAL,
    epochs_run   INTEGER,
    history      TEXT,                                -- per-epoch figures (JSON list)
    note         TEXT,                                -- why it was pruned, or failed
    PRIMARY KEY (sweep_id, number)
);
"""


class SweepRecordError(RuntimeError):
    """The sweeps file cannot be read or written; the message says what to do."""


def default_path() -> Path:
    """$DIGIT_STUDIO_SWEEPS, else sweeps.sqlite3 beside the saved models."""
    if os.environ.get(SWEEPS_ENV):
        return Path(os.environ[SWEEPS_ENV]).expanduser()
    from core.store import ModelStore

    return ModelStore().root / FILE_NAME


@dataclass
class RunRecord:
    """One run of a sweep, as kept."""

    number: int
    params: Params
    state: str = "waiting"
    job_id: str | None = None
    model: str | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    seconds: float | None = None
    epochs_run: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    note: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("finished", "pruned", "stopped", "failed")


@dataclass
class SweepRecord:
    """A sweep and its runs (in the order they were chosen)."""

    id: int
    created_unix: float
    owner: str | None
    spec: SweepSpec
    state: str
    note: str | None = None
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def title(self) -> str:
        varied = ", ".join(a.label.lower() for a in self.spec.axes)
        return f"sweep {self.id} · {self.spec.search} · {varied}"


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple) else str(v))


def _params(text: str) -> Params:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}


class SweepBook:
    """The sweeps file at `path` (default_path() if None). Safe across threads and processes."""

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 30.0):
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ready = False

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout)
        except (OSError, sqlite3.Error) as exc:
            raise SweepRecordError(f"The sweeps file {self.path} cannot be opened ({exc}): check its folder, or set "
                                   f"{SWEEPS_ENV} to another file.") from None
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            with self._lock:
                if not self._ready:
                    connection.execute("PRAGMA journal_mode = WAL")
                    connection.executescript(_SCHEMA)
                    self._ready = True
            with connection:
                yield connection
        except sqlite3.DatabaseError as exc:
            raise SweepRecordError(f"The sweeps file {self.path} failed ({exc}). If it is damaged, move it aside "
                                   "and the app starts a new one.") from None
        finally:
            connection.close()

    def create(self, spec: SweepSpec, owner: str | None) -> int:
        with self._connection() as db:
            cursor = db.execute("INSERT INTO sweeps (created_unix, owner, spec, state) VALUES (?, ?, ?, 'running')",
                                (time.time(), owner, _json(spec.to_json())))
            return int(cursor.lastrowid)

    def set_state(self, sweep_id: int, state: str, note: str | None = None) -> None:
        if state not in SWEEP_STATES:
            raise ValueError(f"unknown sweep state {state!r}")
        with self._connection() as db:
            db.execute("UPDATE sweeps SET state = ?, note = ? WHERE id = ?", (state, note, sweep_id))

    def save_run(self, sweep_id: int, run: RunRecord) -> None:
        if run.state not in RUN_STATES:
            raise ValueError(f"unknown run state {run.state!r}")
        with self._connection() as db:
            db.execute("INSERT OR REPLACE INTO runs (sweep_id, number, params, state, job_id, model, val_accuracy, "
                       "test_accuracy, seconds, epochs_run, history, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (sweep_id, run.number, _json(run.params), run.state, run.job_id, run.model, run.val_accuracy,
                        run.test_accuracy, run.seconds, run.epochs_run, _json(run.history), run.note))

    def get(self, sweep_id: int) -> SweepRecord | None:
        with self._connection() as db:
            row = db.execute("SELECT id, created_unix, owner, spec, state, note FROM sweeps WHERE id = ?",
                             (sweep_id,)).fetchone()
            if row is None:
                return None
            runs = db.execute("SELECT number, params, state, job_id, model, val_accuracy, test_accuracy, seconds, "
                              "epochs_run, history, note FROM runs WHERE sweep_id = ? ORDER BY number",
                              (sweep_id,)).fetchall()
        record = _sweep(row)
        record.runs = [RunRecord(n, _params(p), s, j, m, va, ta, sec, er, json.loads(h or "[]"), note)
                       for n, p, s, j, m, va, ta, sec, er, h, note in runs]
        return record

    def list(self, owner: str | None = None) -> list[SweepRecord]:
        """Every sweep, newest first, without their runs (get() has them)."""
        query = "SELECT id, created_unix, owner, spec, state, note FROM sweeps"
        args: tuple = ()
        if owner is not None:
            query, args = query + " WHERE owner = ?", (owner,)
        with self._connection() as db:
            rows = db.execute(query + " ORDER BY id DESC", args).fetchall()
        return [_sweep(row) for row in rows]

    def delete(self, sweep_id: int) -> None:
        """Forget a sweep and its runs (its models are the store's: core.sweeps.models deletes those)."""
        with self._connection() as db:
            db.execute("DELETE FROM runs WHERE sweep_id = ?", (sweep_id,))
            db.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,))


def _sweep(row: tuple) -> SweepRecord:
    id_, created, owner, spec, state, note = row
    return SweepRecord(id_, created, owner, SweepSpec.from_json(json.loads(spec)), state, note)
