import faulthandler

# a crash inside a C extension (DuckDB, an extension binary, Lexbor) prints where Python was, for
# the cron log, instead of dying as a bare "Segmentation fault"
faulthandler.enable()

from pipeline.cli import main  # noqa: E402

main()
