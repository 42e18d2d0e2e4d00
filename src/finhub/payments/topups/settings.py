"""Settings of the money-in rails, read from `FINHUB_*` environment variables like the app's."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TopupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINHUB_", env_file=".env", extra="ignore")

    virtual_iban_country: str = Field(
        default="DE", description="Country of the virtual IBANs given to wallets."
    )
    virtual_iban_bank_code: str = Field(
        default="10000000", description="The (sandbox) bank code inside the virtual IBANs."
    )
    virtual_iban_account_holder: str = Field(
        default="finhub client money account",
        description="The account holder people send bank transfers to.",
    )
    card_webhook_secret: str | None = Field(
        default=None,
        description="The secret the card processor signs its webhooks with; unset derives one "
        "from the secret key (the sandbox and finhub then share it).",
    )
    card_webhook_tolerance_seconds: int = Field(
        default=300, description="How old a processor webhook's signature may be."
    )


@lru_cache(maxsize=1)
def topup_settings() -> TopupSettings:
    return TopupSettings()


def derived_secret(secret_key: str, purpose: str) -> str:
    """A secret for one purpose, derived from the app's secret key (never the key itself)."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()
