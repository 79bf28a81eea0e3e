"""The `serve-oai` command: serve the warehouse to harvesters over OAI-PMH until Ctrl-C or SIGTERM.

Only this module prints; pipeline/oai.py raises. Exit codes follow pipeline/cli.py: 2 a bad
option, 5 no warehouse that can be served or a port that cannot be bound. pipeline/oai.py (DuckDB,
lxml, the dedup and export queries) is imported only when the command runs, so `--help` of any
command stays fast.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import PipelineError, WarehouseLockedError

#: kept here, not imported from pipeline.oai, so `--help` does not load DuckDB (tests/test_oai.py
#: and tests/test_oai_load.py check they are the same)
PAGE_SIZE = 100
WORKERS = 4
QUEUE = 32
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 10.0
MEMORY_LIMIT = "512MB"
QUERY_TIMEOUT = 60.0
EXIT_CONFIG = 5


@click.command("serve-oai")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8200, show_default=True, help="TCP port (0: any free port)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; the default keeps the endpoint to this machine.",
)
@warehouse_options(read_only=True)
@click.option(
    "--base-url",
    default=None,
    help="URL harvesters reach the endpoint at, if not http://HOST:PORT/oai (behind a proxy).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=PAGE_SIZE,
    show_default=True,
    help="Records or headers per ListRecords/ListIdentifiers response; the rest follow by resumption token.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=WORKERS,
    show_default=True,
    help="Requests answered at once (each runs one DuckDB query on one thread).",
)
@click.option(
    "--queue",
    type=click.IntRange(0, 10_000),
    default=QUEUE,
    show_default=True,
    help="Complete requests that may wait for a worker; past that, 503 with Retry-After.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0.1, 3600),
    default=HEADER_TIMEOUT,
    show_default=True,
    help="Seconds a client has to send the request line and headers (in total), or it is dropped (408).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0.1, 3600),
    default=BODY_TIMEOUT,
    show_default=True,
    help="Seconds a client has to send a POST body (in total), or it is dropped (408).",
)
@click.option(
    "--memory-limit",
    default=MEMORY_LIMIT,
    show_default=True,
    help="DuckDB memory for all the queries in flight together; a query that runs out is a 503.",
)
@click.option(
    "--query-timeout",
    type=click.FloatRange(0.1, 86_400),
    default=QUERY_TIMEOUT,
    show_default=True,
    help="Seconds a request's queries may run before they are interrupted (503 with Retry-After).",
)
def serve_oai(
    port: int,
    host: str,
    db: str | None,
    data_path: Path | None,
    base_url: str | None,
    page_size: int,
    workers: int,
    queue: int,
    header_timeout: float,
    body_timeout: float,
    memory_limit: str,
    query_timeout: float,
) -> None:
    """Serve the warehouse over OAI-PMH 2.0 (oai_dc) at http://HOST:PORT/oai until Ctrl-C.

    Read-only: each request opens the published warehouse read-only for the time of its query,
    so runs publish as usual and every answer reads the last published warehouse (while another
    process writes the file itself, requests get 503 and Retry-After). Bounded: a fixed number of
    workers and a short queue (503 and Retry-After past it), deadlines for slow clients, caps on
    request size and on DuckDB's memory.
    """
    from pipeline.oai import OaiConfig, OaiServer, ServerLimits, check_warehouse
    from pipeline.settings import env_names
    from pipeline.sources import is_loopback, is_placeholder_address, load_sources, owners

    try:
        settings = settings_from(db, data_path)
        # the publisher of records whose pages name none; a sources file that is there must be valid (exit 5)
        declared = owners(load_sources(settings.sources_file)) if settings.sources_file.exists() else {}
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if is_placeholder_address(settings.contact):
        where = f"set ${env_names('contact')[0]}, or `contact` in settings.toml at the project root"
        if not is_loopback(f"http://[{host}]" if ":" in host else f"http://{host}"):
            # harvesters write to adminEmail when something is wrong: a placeholder reaches nobody
            click.echo(f"error: Identify's adminEmail would be the placeholder {settings.contact!r}: {where}", err=True)
            sys.exit(EXIT_CONFIG)
        click.echo(f"warning: adminEmail is the placeholder {settings.contact!r} ({where})", err=True)
    try:
        editions: int | None = check_warehouse(settings.db_path)
    except WarehouseLockedError as exc:
        click.echo(f"warning: {exc}; requests get 503 until it is free", err=True)
        editions = None
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        config = OaiConfig(
            settings.db_path,
            settings.contact,
            base_url or "",
            page_size,
            memory_limit=memory_limit,
            query_timeout=query_timeout,
            owners=tuple(sorted(declared.items())),
        )
    except ValueError as exc:
        click.echo(f"error: --memory-limit: {exc}", err=True)
        sys.exit(2)
    limits = ServerLimits(workers=workers, queue=queue, header_timeout=header_timeout, body_timeout=body_timeout)
    try:
        server = OaiServer(config, host, port, limits)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_CONFIG)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    shown = "?" if editions is None else editions
    try:
        # SIGTERM (a service manager's stop) ends it like Ctrl-C; the URL is printed only once it is handled
        signal.signal(signal.SIGTERM, stop)
        click.echo(f"serving OAI-PMH at {server.config.base_url} ({shown} editions, {settings.db_path}); Ctrl-C stops")
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
