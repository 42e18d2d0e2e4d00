"""Scheduled and recurring payments."""
