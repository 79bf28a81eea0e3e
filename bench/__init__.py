"""Benchmarks, run by `make bench` (`python -m bench`); each prints ratios to a baseline measured in the same run."""
