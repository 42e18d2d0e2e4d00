"""Settings, read from `FINHUB_*` environment variables and an optional `.env` file."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINHUB_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("./finhub-data"),
        description="Where the embedded PostgreSQL cluster and local secrets live.",
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://… of an external server; unset means the embedded server.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    environment: Literal["development", "production", "test"] = "development"
    log_json: bool | None = Field(
        default=None,
        description="JSON log lines; on by default in production and when stderr isn't a TTY.",
    )
    log_level: str = "INFO"
    db_pool_min: int = 4
    db_pool_max: int = 20
    run_worker_in_process: bool = Field(
        default=True,
        description="Run background jobs inside `finhub serve` (the embedded default).",
    )
    ledger_batch_max: int = Field(
        default=500, description="Most transfers the ledger group-commits in one transaction."
    )

    @property
    def json_logs(self) -> bool:
        """JSON unless a person is watching: the console renderer is for terminals (and costs
        several times more per line)."""
        if self.log_json is not None:
            return self.log_json
        return self.environment == "production" or not sys.stderr.isatty()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
