"""The one settings object, each setting declared once: its default, its variable and its file key.

Every setting is a field of `Settings` declared with `setting(...)`: the default, the `IOM_*`
environment variable(s) and a one-line description live there and nowhere else. The file key is
the field's name, in an optional `settings.toml` at the project root (or `$IOM_SETTINGS`); the
command-line options' help and `pipeline settings` are generated from the same declarations, and
the stages take their defaults from `default(name)`. Precedence, lowest first: the declaration,
the settings file, the environment, the command line.

The contact address is here once: the crawler's From header and User-Agent and OAI-PMH Identify's
adminEmail all read `contact`. The rest of the crawler's manners (timeouts, retries, limits) belong
to the sites they are shown to, under `[crawler]` in the sources file (pipeline/sources.py), which
may also name its own `contact` for its sites.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError, WarehouseError

if TYPE_CHECKING:
    from pipeline.backend import LakeSpec

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "settings.toml"
SETTINGS_FILE_ENV = "IOM_SETTINGS"


def about(*env: str, doc: str) -> dict[str, Any]:
    """A setting's declaration beside its default: the environment variables that set it (the first
    set wins) and why it exists, as `field(default=..., metadata=about(...))`."""
    return {"env": env, "doc": doc}


@dataclass(frozen=True)
class Settings:
    #: the warehouse: a DuckDB file, or a lake (`ducklake:postgres:<conninfo>`, pipeline/lake.py)
    db_path: Path | LakeSpec = field(
        default=Path("warehouse/iom.duckdb"),
        metadata=about(
            "IOM_WAREHOUSE", "IOM_DB", doc="the warehouse: a DuckDB file, or a DuckLake `ducklake:postgres:<conninfo>`"
        ),
    )
    raw_dir: Path = field(default=Path("raw"), metadata=about("IOM_RAW", doc="the raw archive: pages as fetched"))
    sources_file: Path = field(
        default=Path("sources.toml"), metadata=about("IOM_SOURCES", doc="the sites to crawl (TOML)")
    )
    overrides_file: Path = field(
        default=Path("overrides.toml"), metadata=about("IOM_OVERRIDES", doc="hand-made pin/forbid decisions (TOML)")
    )
    #: where a new lake puts its Parquet files (an existing lake remembers its own)
    lake_data: Path | None = field(
        default=Path("warehouse/lake-data"),
        metadata=about("IOM_LAKE_DATA", doc="folder of a new lake's Parquet files (a lake remembers its own)"),
    )
    contact: str = field(
        default="data-team@example.org",
        metadata=about(
            "IOM_CONTACT",
            doc="who runs this: the crawler's From header and User-Agent, and OAI-PMH Identify's adminEmail; "
            "set a real address (a placeholder at example.org crawls no real site)",
        ),
    )
    load_batch_pages: int = field(
        default=200, metadata=about("IOM_LOAD_BATCH_PAGES", doc="archived pages loaded per transaction")
    )
    embed_budget: int = field(
        default=20_000,
        metadata=about(
            "IOM_EMBED_BUDGET",
            doc="new texts a dedup pass embeds for cross-language matching (about 10-15 ms a text of 500 "
            "characters on one core); 0 uses stored vectors only, below 0 turns the rule off",
        ),
    )
    vector_cache: Path | None = field(
        default=None,
        metadata=about(
            "IOM_VECTOR_CACHE",
            doc="an SQLite file of sentence vectors shared by warehouses, so a rebuild or another warehouse "
            "built from the same pages embeds no text twice (unset: each warehouse's own text_vectors only)",
        ),
    )
    parse_timeout_s: float = field(
        default=20.0,
        metadata=about(
            "IOM_PARSE_TIMEOUT",
            doc="seconds one page may take to parse before it is a reject ('parse timeout'); 0 or less: no limit, "
            "parse in process (debugging only)",
        ),
    )
    parse_workers: int = field(
        default=2,
        metadata=about(
            "IOM_PARSE_WORKERS", doc="parse processes per ingest (`lake workers` lowers it so workers share the cores)"
        ),
    )
    walk_to_end: bool = field(
        default=True,
        metadata=about(
            "IOM_WALK_TO_END",
            doc="walk every listing section to its end each run (conditional requests); false stops paging at the "
            "first page of known cards, which is cheaper but can never withdraw an item",
        ),
    )
    withdraw_after_walks: int = field(
        default=2,
        metadata=about(
            "IOM_WITHDRAW_AFTER_WALKS",
            doc="complete walks of every section that showed an edition, none showing it, before it is withdrawn",
        ),
    )
    archive_max_object_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata=about(
            "IOM_ARCHIVE_MAX_OBJECT_BYTES",
            doc="what an archived body may expand to when read back (a gzip bomb stops there); above any "
            "crawler max_body_bytes in use",
        ),
    )

    def with_overrides(self, **changes: object) -> Settings:
        """Apply command-line values; None means 'not given' so defaults survive.

        `db_path` may be given as the `--warehouse` text: a lake spec there takes `lake_data`
        (from `--data-path`, or the configured one) as its data folder.
        """
        given = changes.pop("lake_data", None)
        given_values: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        updated = replace(self, **given_values)
        if changes.get("db_path") is not None:  # as typed: relative to where the command runs
            updated = replace(updated, db_path=_warehouse(None, str(changes["db_path"]), self.lake_data, given))
        if given is not None:
            from pipeline.backend import with_data_path

            try:
                updated = replace(updated, db_path=with_data_path(updated.db_path, Path(str(given))))
            except WarehouseError as exc:  # a DuckDB file
                raise ConfigError(str(exc)) from exc
        return updated


def declared() -> tuple[Field[Any], ...]:
    """Every setting's declaration, in order."""
    return fields(Settings)


def _declaration(name: str) -> Field[Any]:
    for f in declared():
        if f.name == name:
            return f
    raise KeyError(name)


def default(name: str) -> Any:
    """A setting's declared default, for the stages' own defaults (so no number is written twice)."""
    value = _declaration(name).default
    assert value is not MISSING
    return value


def env_names(name: str) -> tuple[str, ...]:
    return tuple(_declaration(name).metadata["env"])


def default_help(name: str) -> str:
    """'Default: raw/, or $IOM_RAW.' for an option's help, from the declaration."""
    shown = default(name)
    shown = f"{shown}/" if name in ("raw_dir", "lake_data") else shown
    variables = env_names(name)
    also = f" (${variables[1]})" if len(variables) > 1 else ""
    return f"Default: {shown}, or ${variables[0]}{also}."


def from_environment(name: str, environ: dict[str, str] | None = None) -> Any:
    """One setting from its declaration and the environment alone, for code in other processes (the
    parse workers build their own archive) that must honour a variable without the whole settings."""
    env = os.environ if environ is None else environ
    decl = _declaration(name)
    for var in decl.metadata["env"]:
        if env.get(var, "").strip():
            try:
                return _typed(decl, env[var].strip())
            except ValueError as exc:
                raise ConfigError(f"{var}={env[var]!r}: {exc}") from exc
    return decl.default


def load_settings(environ: dict[str, str] | None = None, root: Path | None = None) -> Settings:
    """The declarations, then the settings file, then IOM_* environment variables.

    Relative paths are taken from the project root (the parent of `pipeline/`), so a cron job
    started from another directory still finds `raw/` and `warehouse/`.
    """
    env = os.environ if environ is None else environ
    root = root or ROOT
    values: dict[str, Any] = {f.name: f.default for f in declared()}
    values.update(_settings_file(env, root))
    for f in declared():
        for var in f.metadata["env"]:
            if env.get(var, "").strip():
                try:
                    values[f.name] = _typed(f, env[var].strip())
                except ValueError as exc:
                    raise ConfigError(f"{var}={env[var]!r}: {exc}") from exc
                break
    lake_data = _rooted(root, values["lake_data"]) if values.get("lake_data") else None
    return Settings(
        **{
            **values,
            "db_path": _warehouse(root, values["db_path"], lake_data),
            "lake_data": lake_data,
            "raw_dir": _rooted(root, values["raw_dir"]),
            "sources_file": _rooted(root, values["sources_file"]),
            "overrides_file": _rooted(root, values["overrides_file"]),
            "vector_cache": _rooted(root, values["vector_cache"]) if values.get("vector_cache") else None,
            "parse_workers": max(1, values["parse_workers"]),
            "withdraw_after_walks": max(1, values["withdraw_after_walks"]),
        }
    )


def _settings_file(env: os._Environ[str] | dict[str, str], root: Path) -> dict[str, Any]:
    """The optional settings file's values, typed and checked: an unknown key or a bad value is refused."""
    named = env.get(SETTINGS_FILE_ENV, "").strip()
    path = Path(named) if named else root / SETTINGS_FILE.name
    if not named and not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"settings file {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    known = {f.name: f for f in declared()}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"settings file {path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(known)})")
    try:
        return {key: _typed(known[key], value) for key, value in data.items()}
    except ValueError as exc:
        raise ConfigError(f"settings file {path}: {exc}") from exc


def _typed(decl: Field[Any], value: object) -> Any:
    """A value from the file or the environment, as its declaration's default is typed."""
    kind = type(decl.default)
    if kind is bool:
        try:
            return _flag(value)
        except ValueError as exc:
            raise ValueError(f"{decl.name}: {exc}") from None
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{decl.name}: {value!r} is not a number")
        number: Any = kind  # int or float, as the declared default is
        try:
            return number(value)
        except (TypeError, ValueError):
            raise ValueError(f"{decl.name}: {value!r} is not a {'whole ' if kind is int else ''}number") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{decl.name}: {value!r} is not a non-empty text")
    return value


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


def explain(environ: dict[str, str] | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Each setting with its value and where the value came from, for `pipeline settings`: the
    first question about a nightly run that behaves oddly is which of the four homes won."""
    env = os.environ if environ is None else environ
    root = root or ROOT
    current = load_settings(environ, root)
    from_file = _settings_file(env, root)
    rows = []
    for f in declared():
        var = next((v for v in f.metadata["env"] if env.get(v, "").strip()), None)
        origin = f"${var}" if var else ("settings file" if f.name in from_file else "default")
        value = getattr(current, f.name)
        rows.append(
            {
                "name": f.name,
                "value": str(value) if value is not None else "",
                "from": origin,
                "default": str(f.default),
                "env": " ".join(f"${v}" for v in f.metadata["env"]),
                "doc": f.metadata["doc"],
            }
        )
    return rows
