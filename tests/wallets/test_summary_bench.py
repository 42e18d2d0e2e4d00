"""`finhub bench web` runs end to end at a small size: the benchmark person, a real
`finhub serve`, every page measured and the table printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from finhub import cli
from finhub.config import get_settings


def test_the_web_benchmark_runs_at_a_small_size(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI would point logging at the runner's short-lived buffer; keep the suite's.
    monkeypatch.setattr(cli, "configure_logging", lambda **_: None)
    env = {"FINHUB_DATA_DIR": str(tmp_path), "FINHUB_DATABASE_URL": database_url}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli.app, ["bench", "web", "--transactions", "60", "--requests", "5"], env=env
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    table = result.stdout
    assert "web benchmark" in table
    assert "Person: 60 payments" in table
    for page in ("| dashboard `/dashboard` | 5 |", "| activity feed `/activity` | 5 |"):
        assert page in table
    assert "one movement `/activity/act_…`" not in table  # 60 payments: no 100th line
    assert "Failures:" not in table
    assert "nan" not in table  # every page's server timings were found in the log
