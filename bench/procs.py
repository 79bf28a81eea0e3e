"""Whole processes timed from outside, as a user's shell would start them (crawl and start-up benches)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """A user's shell: no IOM_* overrides, bytecode caching on (as start-up is measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of `cmd` from the repository; a failing run stops the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed
