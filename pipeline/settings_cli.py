"""The `settings` command: every setting, its value, where the value came from, and what it is for."""

from __future__ import annotations

import json
import sys

import click

from pipeline.errors import PipelineError


@click.command("settings")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def settings(fmt: str) -> None:
    """Show every setting with its value and where it came from (default, settings file, environment).

    Each setting is declared once (pipeline/settings.py); the settings file is `settings.toml` at the
    project root, or $IOM_SETTINGS, with the names shown here as keys.
    """
    from pipeline.settings import explain

    try:
        rows = explain()
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(5)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['value']}  ({r['from']}; {r['env']})")
        click.echo(f"{'':<{width}}  {r['doc']}")
