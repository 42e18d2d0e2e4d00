"""Helpers shared by the concurrency and crash-recovery tests."""
