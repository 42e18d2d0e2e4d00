"""Shared code for the concurrency and crash-recovery tests: ledger checks, a server runner."""
