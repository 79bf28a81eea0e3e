"""Build the one settings object: committed defaults, then environment overrides."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import ConfigError

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")

#: environment variable -> settings field. Kept as data so `grep IOM_` finds every override.
ENV_OVERRIDES = {
    "IOM_DB": "db_path",
    "IOM_RAW": "raw_dir",
    "IOM_SOURCES": "sources_file",
    "IOM_OVERRIDES": "overrides_file",
    "IOM_USER_AGENT": "user_agent",
    "IOM_CONTACT": "contact",
    "IOM_EMBED_BUDGET": "embed_budget",
    "IOM_PARSE_TIMEOUT": "parse_timeout_s",
}


@dataclass(frozen=True)
class Settings:
    db_path: Path
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

    def with_overrides(self, **changes: object) -> Settings:
        """Apply command-line values; None means 'not given' so defaults survive."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


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
        return Settings(
            db_path=_rooted(root, data["db_path"]),
            raw_dir=_rooted(root, data["raw_dir"]),
            sources_file=_rooted(root, data["sources_file"]),
            overrides_file=_rooted(root, data["overrides_file"]),
            user_agent=str(data["user_agent"]),
            contact=str(data["contact"]),
            load_batch_pages=int(data.get("load_batch_pages", 200)),
            embed_budget=int(data.get("embed_budget", 20_000)),
            parse_timeout_s=float(data.get("parse_timeout_s", 20.0)),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"bad setting in {DEFAULTS_FILE}: {exc}") from exc


def _rooted(root: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path
