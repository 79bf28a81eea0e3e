"""`archive add` and `archive verify`: the raw archive's own commands.

A module of their own, registered lazily by pipeline/cli.py, so that `--help`, `stats` and the
other commands do not import the archive module (and its format table) just to list them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.admit import admit_page
from pipeline.archive import FORMATS, Archive
from pipeline.cli import EXIT_CONFIG, EXIT_USAGE, _fail, _raw_option, os_error_line
from pipeline.errors import PageRefused, PipelineError
from pipeline.settings import load_settings
from pipeline.urls import url_refusal


@click.group()
def archive() -> None:
    """Inspect or add to the raw archive."""


@archive.command("add")
@_raw_option
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--source", required=True, help="Site the page came from, e.g. migrantprotection.iom.int.")
@click.option("--url", default=None, help="URL the page was retrieved from, if known.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("auto", *FORMATS)),
    required=True,
    help="Page format (picks the parser); auto recognises listing, catalogue, detail and news pages by their shape.",
)
@click.option("--retrieved-at", default=None, help="When it was retrieved (ISO 8601); default now.")
def archive_add(file: Path, raw: Path | None, source: str, url: str | None, fmt: str, retrieved_at: str | None) -> None:
    """Add a page supplied as a file (a text dump, a saved page) to the archive, byte for byte.

    Refused with exit 2, and nothing written, when the source is not declared in the sources
    file, the file is not a regular file (a FIFO, a device, a directory, a socket) or is over the
    crawler's size limit, or it is not the text of a page (empty, binary, NUL bytes, neither UTF-8
    nor the charset it declares).
    """
    from datetime import datetime

    from parsers import ParseError
    from parsers.detect import detect_format
    from pipeline.sources import load_sources

    if url is not None and (why := url_refusal(url)):  # stored in the manifest and raw_pages: web URLs only
        _fail(f"{file.name}: not archived: --url {why}", EXIT_USAGE)
    try:
        settings = load_settings().with_overrides(raw_dir=raw)
        body = admit_page(file, source, load_sources(settings.sources_file), settings.sources_file)
    except PageRefused as exc:
        _fail(f"{file.name}: not archived: {exc}", EXIT_USAGE)
    except (PipelineError, OSError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    if fmt == "auto":
        try:
            found, why = detect_format(body, url)
        except ParseError as exc:
            _fail(f"{file.name}: not archived: {exc}", EXIT_USAGE)
        if found is None:
            _fail(f"{file.name}: not archived: {why}; give --format if you know what it is", EXIT_USAGE)
        fmt = found
        click.echo(f"{file.name}: {fmt} ({why})", err=True)
    try:
        when = datetime.fromisoformat(retrieved_at) if retrieved_at else None
        entry = Archive(settings.raw_dir).put(
            body, source=source, url=url, format=fmt, retrieved_at=when, label=file.name
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--retrieved-at") from exc
    except OSError as exc:  # raw/ full, read-only or forbidden: the machine's refusal, README exit 5
        _fail(os_error_line(exc), EXIT_CONFIG)
    except PipelineError as exc:
        _fail(str(exc), EXIT_CONFIG)
    click.echo(f"{entry.sha256}  {entry.page_id}  {file.name}  {fmt}")


@archive.command("verify")
@_raw_option
def archive_verify(raw: Path | None) -> None:
    """Check every object against its hash and every manifest and fetch-log line.

    Unreadable lines are moved to manifest.rejected.jsonl / fetchlog.rejected.jsonl with their
    reason, so the next run reads clean files. One line per problem, then a summary. Exit 0 when
    the archive is intact, 5 when problems were found (objects are never changed: the crawler
    fetches a missing or corrupt page again).
    """
    from pipeline.verify import verify_archive

    try:
        settings = load_settings().with_overrides(raw_dir=raw)
        report = verify_archive(Archive(settings.raw_dir))
    except (PipelineError, OSError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    click.echo(report.summary)
    if not report.clean:
        sys.exit(EXIT_CONFIG)
