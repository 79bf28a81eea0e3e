"""`python -m tests.replica`: serve the local replica of the three sites until Ctrl-C.

Test support, not the product: it lives with the tests (as Scrapy keeps its mock server in
`tests/`), and the benchmarks and a developer's shell start it from the project root.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from tests.replica.drift import DEFAULT_SEED
from tests.replica.faults import KINDS, Fault


def _fault(value: str) -> Fault:
    kind, _, rest = value.partition(":")
    path, _, times = rest.rpartition(":")
    if not times.isdigit():
        path, times = rest, ""
    try:
        return Fault(kind, path or ".*", times=int(times) if times else None)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from exc


@click.command("replica")
@click.option(
    "--port",
    type=int,
    default=8100,
    show_default=True,
    help="First site's port; the others follow (0: any free).",
)
@click.option(
    "--write-sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a sources file pointing at the replica (for `ingest --sources FILE`).",
)
@click.option("--page-size", type=int, default=10, show_default=True, help="Cards per listing page.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND[:REGEX[:TIMES]]",
    help=f"Inject a fault on paths matching REGEX (for ever unless TIMES). Kinds: {', '.join(KINDS)}.",
)
@click.option(
    "--night",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Serve the sites as they stand on this night of the seeded drift (0: the dataset as is).",
)
@click.option("--drift-seed", type=int, default=DEFAULT_SEED, show_default=True, help="Seed of the drift.")
def replica(
    port: int,
    sources_path: Path | None,
    page_size: int,
    faults: tuple[str, ...],
    night: int,
    drift_seed: int,
) -> None:
    """Serve a replica of publications.iom.int, migrantprotection.iom.int and
    returnandreintegration.iom.int on 127.0.0.1 until Ctrl-C."""
    parsed = [_fault(f) for f in faults]
    from tests.replica.server import Replica

    # Ctrl-C and SIGTERM stop it even when started in the background of a script, where the
    # shell leaves SIGINT ignored; the waits below are timed, so the main thread runs the handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = Replica(page_size=page_size, faults=parsed, port=port, night=night, drift_seed=drift_seed)
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on ports {port}-{port + 2}: {exc.strerror or exc}") from exc
    try:
        for name, url in server.sites.items():
            click.echo(f"{name:32} {url}")
        if night:
            events = [e for nightly in server.night_events().values() for e in nightly]
            click.echo(f"night {night} of drift seed {drift_seed}: {len(events)} events since night 0")
        if sources_path is not None:
            server.write_sources(sources_path)
            click.echo(
                f"sources file written: {sources_path}  (crawl it: python -m pipeline ingest --sources {sources_path})"
            )
        click.echo("serving; Ctrl-C to stop")
        idle = threading.Event()
        while not idle.wait(0.2):
            pass
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.stop()
