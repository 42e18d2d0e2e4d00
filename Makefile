# Shortcuts for the README's commands. uv is installed on first use if it is missing.
UV := $(shell command -v uv 2>/dev/null)

.PHONY: serve test lint bench uv

uv:
ifndef UV
	python3 -m pip install uv
endif

serve: uv
	uv run finhub serve

test: uv
	uv run tools/check.py

lint: uv
	uv run ruff check src tests benchmarks migrations tools
	uv run ruff format --check src tests benchmarks migrations tools
	uv run mypy

bench: uv
	uv run finhub bench ledger
