"""IOM publications warehouse: fetch listing and detail pages, parse them, load DuckDB."""

__version__ = "0.1.0"
