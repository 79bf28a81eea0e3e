"""A real `python -m pipeline serve-oai` process on a free port of 127.0.0.1, for tests and benchmarks.

One helper for every caller (tests/test_oai.py, tests/test_readers_rw.py, bench/oai_load.py), so a
change to how the server starts or says where it listens is made once. It imports no test module:
the benchmark runs it outside pytest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: the line serve-oai prints first, on stdout, once it listens
ENDPOINT = re.compile(r"http://127\.0\.0\.1:\d+/oai")


@contextmanager
def serve(
    db: Path, workdir: Path, *options: str, sources: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The server on `db` with `options`: (endpoint URL, process); stopped on exit.

    Run in `workdir` (its stderr goes to `workdir/serve-oai.log`) with no `IOM_*` variable of the
    caller's, so a developer's settings never leak into what is measured or tested; `sources` is
    the sources file it reads (the sites' declared owners), else the repository's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    if sources is not None:
        env["IOM_SOURCES"] = str(sources)
    log = workdir / "serve-oai.log"
    command = [sys.executable, "-m", "pipeline", "serve-oai", "--port", "0", "--db", str(db), *options]
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=workdir, env=env)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = ENDPOINT.search(line)
            if not found:
                raise RuntimeError(f"serve-oai did not start: {line!r}\n{log.read_text()}")
            yield found.group(0), proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()


@contextmanager
def serving(db: Path, workdir: Path, *options: str, sources: Path | None = None) -> Iterator[str]:
    """`serve`, for callers that need only the endpoint URL."""
    with serve(db, workdir, *options, sources=sources) as (url, _):
        yield url
