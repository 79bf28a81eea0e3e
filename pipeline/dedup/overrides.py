"""Read the hand-made pin/forbid decisions (overrides.toml) and resolve them to sightings.

A person who knows better than the rules writes a decision once, under version control, and
every later run respects it: `pin` joins two things (must-link), `forbid` keeps them apart
(cannot-link) and beats every rule, including a pin and one canonical URL.

A side of a decision is referenced by something that stays stable across runs:
- a sighting id `<page_id>:<position>` (page ids are hashes of source, URL and body);
- a canonical URL `https://...` (every sighting of that node);
- a page and a position `<page label or page URL>#<position>` (seed dumps have labels);
- an edition id `ed_...` or a work id `wk_...` (the sightings it holds now).

level = "edition" (default): pin = one edition; forbid = never one edition (they may still be
one work). level = "work": pin = one work; forbid = never one work (hence never one edition).
A reference that matches nothing is reported in the run summary, never silently dropped; a file
that is not valid TOML or has unknown keys stops the run (ConfigError).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.errors import ConfigError
from pipeline.urls import canonical_url

_SIGHTING = re.compile(r"^[0-9a-f]{16}:\d+$")
_PAGE_POSITION = re.compile(r"^(?P<page>.+)#(?P<position>\d+)$")
LEVELS = ("edition", "work")
_KEYS = {"a", "b", "level", "reason"}


@dataclass(frozen=True)
class Decision:
    kind: str  # pin | forbid
    a: str
    b: str
    level: str
    reason: str
    number: int  # 0-based position among the decisions of its kind, reported 1-based


@dataclass
class Overrides:
    decisions: list[Decision] = field(default_factory=list)
    path: Path | None = None

    def of_kind(self, kind: str) -> list[Decision]:
        return [d for d in self.decisions if d.kind == kind]


def load(path: Path | None) -> Overrides:
    """Parse the file; a missing file means no overrides."""
    if path is None or not Path(path).exists():
        return Overrides(path=path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read overrides file {path}: {exc}") from exc
    unknown = set(data) - {"pin", "forbid"}
    if unknown:
        raise ConfigError(
            f"overrides file {path}: unknown sections {sorted(unknown)} (expected [[pin]] and [[forbid]])"
        )
    decisions: list[Decision] = []
    for kind in ("pin", "forbid"):
        entries = data.get(kind, [])
        if not isinstance(entries, list):
            raise ConfigError(f"overrides file {path}: '{kind}' must be an array of tables ([[{kind}]])")
        for k, entry in enumerate(entries, start=1):
            where = f"overrides file {path}, {kind} #{k}"
            if not isinstance(entry, dict) or not {"a", "b"} <= set(entry) or set(entry) - _KEYS:
                raise ConfigError(f"{where}: needs keys a and b (optional: level, reason), got {sorted(entry)}")
            level = str(entry.get("level", "edition"))
            if level not in LEVELS:
                raise ConfigError(f"{where}: level must be one of {LEVELS}, got {level!r}")
            decisions.append(
                Decision(
                    kind, str(entry["a"]).strip(), str(entry["b"]).strip(), level, str(entry.get("reason", "")), k - 1
                )
            )
    return Overrides(decisions, path)


def resolve(con: duckdb.DuckDBPyConnection, ref: str, url_members: dict[str, list[int]]) -> list[int]:
    """Sighting indices (features.dd_s.idx) a reference names; empty when it names nothing."""
    if _SIGHTING.match(ref):
        return _indices(con, "SELECT idx FROM dd_s WHERE sighting_id = ?", [ref])
    if ref.startswith(("ed_", "wk_")):
        column = "edition_id" if ref.startswith("ed_") else "work_id"
        return _indices(
            con,
            f"SELECT d.idx FROM edition_members AS m JOIN dd_s AS d USING (sighting_id) WHERE m.{column} = ?",
            [ref],
        )
    is_url = ref.startswith(("http://", "https://"))
    match = _PAGE_POSITION.match(ref)
    if match and (not is_url or _is_page(con, match.group("page"))):
        page, position = match.group("page"), match.group("position")
        return _indices(
            con,
            "SELECT d.idx FROM raw_pages AS p JOIN dd_s AS d ON d.sighting_id = p.page_id || ':' || ? "
            "WHERE p.label = ? OR p.url = ?",
            [position, page, page],
        )
    if is_url:
        return sorted(url_members.get(canonical_url(ref) or "", []))
    return []


def _indices(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> list[int]:
    return sorted({int(r[0]) for r in con.execute(sql, params).fetchall()})


def _is_page(con: duckdb.DuckDBPyConnection, page: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM raw_pages WHERE url = ?", [page]).fetchall()[0][0])
