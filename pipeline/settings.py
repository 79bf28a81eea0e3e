"""Build the one settings object: committed defaults, then environment overrides."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError, WarehouseError

if TYPE_CHECKING:
    from pipeline.lake import LakeSpec

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")

#: environment variable -> settings field. Kept as data so `grep IOM_` finds every override.
ENV_OVERRIDES = {
    "IOM_DB": "db_path",
    "IOM_WAREHOUSE": "db_path",
    "IOM_LAKE_DATA": "lake_data",
    "IOM_RAW": "raw_dir",
    "IOM_SOURCES": "sources_file",
    "IOM_OVERRIDES": "overrides_file",
    "IOM_USER_AGENT": "user_agent",
    "IOM_CONTACT": "contact",
    "IOM_EMBED_BUDGET": "embed_budget",
    "IOM_PARSE_TIMEOUT": "parse_timeout_s",
    "IOM_LOAD_BATCH_PAGES": "load_batch_pages",
    "IOM_PARSE_WORKERS": "parse_workers",
    "IOM_WALK_TO_END": "walk_to_end",
    "IOM_WITHDRAW_AFTER_WALKS": "withdraw_after_walks",
}


@dataclass(frozen=True)
class Settings:
    #: the warehouse: a DuckDB file, or a lake (`ducklake:postgres:<conninfo>`, pipeline/lake.py)
    db_path: Path | LakeSpec
    raw_dir: Path
    sources_file: Path
    overrides_file: Path
    user_agent: str
    contact: str
    load_batch_pages: int = 200
    #: new texts a dedup pass embeds for cross-language matching (0: stored vectors only, <0: off)
    embed_budget: int = 20_000
    #: seconds one page may take to parse before it is a reject ("parse timeout"); <= 0: no limit
    parse_timeout_s: float = 20.0
    #: where a new lake puts its Parquet files (an existing lake remembers its own)
    lake_data: Path | None = None
    #: parse processes per ingest; `lake workers` lowers it so N workers share the machine's cores
    parse_workers: int = 2
    #: walk every listing section to its end each run; False stops paging at the first page of
    #: known cards, which is cheaper but leaves no walk that can withdraw an item
    walk_to_end: bool = True
    #: complete walks of every section that showed an edition, none showing it, before it is withdrawn
    withdraw_after_walks: int = 2

    def with_overrides(self, **changes: object) -> Settings:
        """Apply command-line values; None means 'not given' so defaults survive.

        `db_path` may be given as the `--warehouse` text: a lake spec there takes `lake_data`
        (from `--data-path`, or the configured one) as its data folder.
        """
        given = changes.pop("lake_data", None)
        updated = replace(self, **{k: v for k, v in changes.items() if v is not None})
        if isinstance(changes.get("db_path"), (str, Path)):  # as typed: relative to where the command runs
            updated = replace(updated, db_path=_warehouse(None, updated.db_path, self.lake_data, given))
        elif given is not None and not isinstance(updated.db_path, Path):
            updated = replace(updated, db_path=replace(updated.db_path, data_path=Path(str(given))))
        if given is not None and isinstance(updated.db_path, Path):
            raise ConfigError(f"--data-path is for a lake; {updated.db_path} is a DuckDB file")
        return updated


def load_settings(environ: dict[str, str] | None = None, root: Path | None = None) -> Settings:
    """Read defaults.toml and apply IOM_* environment variables.

    Relative paths are taken from the project root (the parent of `pipeline/`), so a cron job
    started from another directory still finds `raw/` and `warehouse/`.
    """
    env = os.environ if environ is None else environ
    root = root or DEFAULTS_FILE.parent.parent
    try:
        data = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {DEFAULTS_FILE}: {exc}") from exc
    for var, field in ENV_OVERRIDES.items():
        if env.get(var):
            data[field] = env[var]
    try:
        lake_data = _rooted(root, data["lake_data"]) if data.get("lake_data") else None
        return Settings(
            db_path=_warehouse(root, data["db_path"], lake_data),
            lake_data=lake_data,
            raw_dir=_rooted(root, data["raw_dir"]),
            sources_file=_rooted(root, data["sources_file"]),
            overrides_file=_rooted(root, data["overrides_file"]),
            user_agent=str(data["user_agent"]),
            contact=str(data["contact"]),
            load_batch_pages=int(data.get("load_batch_pages", 200)),
            embed_budget=int(data.get("embed_budget", 20_000)),
            parse_timeout_s=float(data.get("parse_timeout_s", 20.0)),
            parse_workers=max(1, int(data.get("parse_workers", 2))),
            walk_to_end=_flag(data.get("walk_to_end", True)),
            withdraw_after_walks=max(1, int(data.get("withdraw_after_walks", 2))),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"bad setting in {DEFAULTS_FILE}: {exc}") from exc


def _flag(value: object) -> bool:
    """A true/false setting, from TOML (a boolean) or the environment (text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _rooted(root: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _warehouse(
    root: Path | None, value: str | Path, lake_data: Path | None, given_data: object = None
) -> Path | LakeSpec:
    """A warehouse: a lake spec as such, a file path taken from `root` (the project root for
    configured ones; None leaves a command-line path as typed, `:memory:` and `s3://` included,
    so that opening it can refuse them by name)."""
    if isinstance(value, str) and value.endswith(("/", os.sep)):  # Path() would drop the slash and make a file
        raise ConfigError(
            f"warehouse path {value!r} ends in '/', a folder, not a warehouse file: give a file path such as "
            f"{value}iom.duckdb"
        )
    if str(value).startswith("ducklake:"):  # checked before importing: reading settings must stay cheap
        from pipeline.warehouse import location

        try:
            return location(str(value), Path(given_data) if given_data else None, lake_data)  # type: ignore[arg-type]
        except WarehouseError as exc:
            raise ConfigError(str(exc)) from exc
    return _rooted(root, value) if root is not None else Path(value)
