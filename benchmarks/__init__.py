"""Benchmarks: speed and accuracy figures for Digit Studio, written to docs/benchmarks.md by `make bench`."""
