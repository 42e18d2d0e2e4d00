"""The embedded PostgreSQL server keeps its data on disk across a stop and a start."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from finhub.kit.db.embedded import DATABASE_NAME, EmbeddedPostgres


def test_data_survives_a_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    url = server.start()
    try:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE notes (body text NOT NULL)")
            conn.execute("INSERT INTO notes VALUES ('still here')")
    finally:
        server.stop()
    assert (tmp_path / "pgdata" / "finhub.conf").is_file()  # finhub's server settings

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()

    again = EmbeddedPostgres(tmp_path)
    url = again.start()
    try:
        assert f"/{DATABASE_NAME}?" in url
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT body FROM notes").fetchone()
        assert row == ("still here",)
    finally:
        again.stop()
