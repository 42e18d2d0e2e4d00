"""Benchmarks run by `finhub bench`, each next to pgbench on the same server."""
