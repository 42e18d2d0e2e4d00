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
    p2p_group_max: int = Field(
        default=200,
        ge=1,
        description="Most P2P payments group-committed in one database transaction.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs links and tokens; unset means a random key kept in the data directory.",
    )
    retired_secret_keys: list[str] = Field(
        default=[],
        description="Earlier secret keys (a JSON list), kept only to open what they sealed "
        "until `finhub secret-key reseal` has moved it to the current key.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where people reach finhub; links in emails and the passkey origin use it.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://user:password@host:port (smtps:// for TLS); unset keeps sent mail "
        "in the local dev mailbox (`finhub mail`).",
    )
    mail_from: str = Field(default="finhub <no-reply@finhub.local>", description="Sender address.")
    session_idle_minutes: int = Field(
        default=30, description="A session ends after this long without a request."
    )
    session_max_hours: int = Field(
        default=12, description="A session ends this long after sign-in."
    )
    step_up_minutes: int = Field(
        default=5, description="How long a fresh second factor unlocks sensitive actions."
    )
    step_up_payment_threshold: int = Field(
        default=50_000,
        description="A person's payment above this many minor units of EUR (other currencies "
        "at the mid rate) needs a fresh second factor or the payment PIN.",
    )
    cookie_secure: bool = Field(
        default=True,
        description="Send the session cookie over HTTPS only (turn off only for plain-HTTP "
        "local development).",
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
