"""Routeway's benchmarks: `make bench` (or `python -m bench.run`)."""
