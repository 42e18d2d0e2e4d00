"""Payments of people: top-ups, withdrawals, P2P, payment requests, conversions, schedules."""
