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
CREATE TABLE IF NOT EXISTS chunks (
    processor TEXT NOT NULL, partition TEXT NOT NULL, seq INTEGER NOT NULL,
    base INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (processor, partition, seq)
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
    """One SQLite file, `<state_dir>/state.sqlite3`, in WAL mode; a checkpoint is one transaction
    that adds one row (a chunk) per changed partition.

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
        """The last base chunk and the deltas after it, and the stream positions."""
        with self._lock:
            db = self._connection()
            chunks = db.execute(
                "SELECT seq, base, data FROM chunks WHERE processor = ? AND partition = ? "
                "ORDER BY seq",
                (processor, partition),
            ).fetchall()
            positions = db.execute(
                "SELECT stream, position FROM positions WHERE processor = ? AND partition = ?",
                (processor, partition),
            ).fetchall()
        bases = [i for i, (_, base, _) in enumerate(chunks) if base]
        first = bases[-1] if bases else 0
        return Restored(
            [data for _, _, data in chunks[first:]],
            dict(positions),
            chunks[-1][0] if chunks else -1,
        )

    def write(self, snapshot: Snapshot) -> None:
        """One transaction: a chunk and the positions of every changed partition."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                for c in snapshot.changes:
                    where = (c.processor, c.partition)
                    if c.data is not None:
                        seq = c.seq
                        if c.base:
                            db.execute(
                                "DELETE FROM chunks WHERE processor = ? AND partition = ?", where
                            )
                        db.execute(
                            "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?)",
                            (*where, seq, int(c.base), c.data),
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

    def partitions(self) -> list[tuple[str, str]]:
        """Every (processor, partition) with checkpointed values."""
        with self._lock:
            return [
                (processor, partition)
                for processor, partition in self._connection().execute(
                    "SELECT DISTINCT processor, partition FROM chunks"
                )
            ]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def describe(self) -> str:
        return f"sqlite {self.path}"
