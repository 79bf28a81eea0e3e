"""Sentence vectors kept outside any one warehouse, so a rebuild does not embed its texts again.

A warehouse keeps its own vectors (`text_vectors`), which is all a nightly run needs. A fresh
warehouse has none: a rebuild into a new file, each `lake workers` trial, a benchmark or a test
suite building many warehouses from the same pages would pay the encoder again for every text
(its weights take a second to load, and a text costs about 10 ms on one core). The cache is an
SQLite file, because many processes may read and add to it at once and SQLite serialises their
writes without a server; it is keyed by model and text hash, so a vector read from it is exactly
the vector the model would give.

A cache is a convenience, never a source of truth: a cache that cannot be opened, read or
written is said once in the log and the pass embeds as if there were none.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: keys per lookup: under SQLite's default limit of host parameters
_CHUNK = 500


class VectorCache:
    """Vectors by (model, text key), in an SQLite file shared by processes."""

    def __init__(self, path: Path, model: str, dims: int) -> None:
        self.path = path
        self.model = model
        self.dims = dims
        self._con: sqlite3.Connection | None = None
        self._broken = False

    def _open(self) -> sqlite3.Connection | None:
        if self._con is None and not self._broken:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute(
                    "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, text_key TEXT NOT NULL, "
                    "vector BLOB NOT NULL, PRIMARY KEY (model, text_key)) WITHOUT ROWID"
                )
                self._con = con
            except (sqlite3.Error, OSError) as exc:
                self._give_up("open", exc)
        return self._con

    def _give_up(self, what: str, exc: Exception) -> None:
        log.warning("vector cache %s: cannot %s it (%s); embedding without it", self.path, what, exc)
        self._broken = True
        self.close()

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of these keys (a key not cached is absent)."""
        con = self._open()
        found: dict[str, np.ndarray] = {}
        if con is None:
            return found
        width = self.dims * 4
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT text_key, vector FROM vectors WHERE model = ? AND text_key IN ({marks})",
                    [self.model, *chunk],
                ).fetchall()
                for key, blob in rows:
                    if isinstance(blob, bytes) and len(blob) == width:  # anything else is not a vector of ours
                        found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        except sqlite3.Error as exc:
            self._give_up("read", exc)
        return found

    def put(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Add vectors; a key already there keeps its vector (the same model gives the same one)."""
        con = self._open()
        if con is None:
            return
        rows = [(self.model, key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items]
        try:
            con.execute("BEGIN IMMEDIATE")
            con.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            self._give_up("write", exc)

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None
