"""Benchmarks of HeatDesk against the real server and database (see bench/README.md)."""
