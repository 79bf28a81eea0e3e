"""Scripts written the way a newcomer would, measured beside the project by the benchmarks."""
