"""SQLiteBackend: checkpoints in an embedded SQLite database (WAL mode), one per pipeline."""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Literal

from pump.state.backend import Restored, Snapshot, StateBackend

#: Bumped when the tables change shape; a database of another version is refused.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    processor TEXT NOT NULL, partition TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (processor, partition, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    processor TEXT NOT NULL, partition TEXT NOT NULL, stream TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (processor, partition, stream)
) WITHOUT ROWID;
"""


class StateDirError(Exception):
    """The state folder cannot be used (another pipeline's, another schema, not writable)."""


class SQLiteBackend(StateBackend):
    """One SQLite file, `<state_dir>/state.sqlite3`, in WAL mode; a checkpoint is one transaction.

    With `synchronous` FULL (the default) a written checkpoint survives a power loss; NORMAL
    survives a crash or SIGKILL of the process but not of the machine. Several processes of
    the same pipeline may share the folder (SQLite locks it): each writes the partitions it
    owns, and a partition's new owner reads what the previous one checkpointed.
    """

    def __init__(
        self,
        state_dir: str,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 30.0,
    ) -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "state.sqlite3")
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self, pipeline_id: str) -> None:
        """Create the folder and the database; refuse one that holds another pipeline's state."""
        try:
            os.makedirs(self.state_dir, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StateDirError(
                f"state_dir '{self.state_dir}': cannot open {self.path}: {exc}"
            ) from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
            if not meta:
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("pipeline", pipeline_id), ("schema", str(SCHEMA_VERSION))],
                )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.close()
            raise StateDirError(f"state_dir '{self.state_dir}': {self.path}: {exc}") from exc
        if meta and meta.get("pipeline") != pipeline_id:
            db.close()
            raise StateDirError(
                f"state_dir '{self.state_dir}' holds the state of pipeline "
                f"'{meta.get('pipeline')}', not of '{pipeline_id}'; give each pipeline its own"
            )
        if meta and meta.get("schema") != str(SCHEMA_VERSION):
            db.close()
            raise StateDirError(
                f"state_dir '{self.state_dir}': state written by another version of pump "
                f"(schema {meta.get('schema')}, this one reads {SCHEMA_VERSION})"
            )
        self._db = db

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateDirError(f"state_dir '{self.state_dir}': the database is not open")
        return self._db

    def load(self, processor: str, partition: str) -> Restored:
        """Every key and stream position of one processor's partition."""
        with self._lock:
            db = self._connection()
            rows = db.execute(
                "SELECT key, value FROM state WHERE processor = ? AND partition = ?",
                (processor, partition),
            ).fetchall()
            positions = db.execute(
                "SELECT stream, position FROM positions WHERE processor = ? AND partition = ?",
                (processor, partition),
            ).fetchall()
        return Restored(dict(rows), dict(positions))

    def write(self, snapshot: Snapshot) -> None:
        """One transaction: upserts, deletes and positions of every changed partition."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                for c in snapshot.changes:
                    where = (c.processor, c.partition)
                    if c.upserts:
                        db.executemany(
                            "INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)",
                            [(*where, k, v) for k, v in c.upserts],
                        )
                    if c.deletes:
                        db.executemany(
                            "DELETE FROM state WHERE processor = ? AND partition = ? AND key = ?",
                            [(*where, k) for k in c.deletes],
                        )
                    if c.positions:
                        db.executemany(
                            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)",
                            [(*where, s, p) for s, p in c.positions.items()],
                        )
                    if c.forget_streams:
                        db.executemany(
                            "DELETE FROM positions "
                            "WHERE processor = ? AND partition = ? AND stream = ?",
                            [(*where, s) for s in c.forget_streams],
                        )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def describe(self) -> str:
        return f"sqlite {self.path}"
