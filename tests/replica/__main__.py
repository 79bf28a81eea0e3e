"""`python -m tests.replica --port 8100 --write-sources replica.toml`, from the project root."""

from tests.replica.cli import replica

if __name__ == "__main__":
    replica(prog_name="python -m tests.replica")
