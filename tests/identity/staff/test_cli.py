"""`finhub staff create` and `finhub staff list` against the test database."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

import finhub.cli
from finhub.cli import app as cli_app
from finhub.config import get_settings
from finhub.kit.ids import new_id
from tests.identity.factors.support import PASSWORD, client_for
from tests.identity.staff.conftest import Member
from tests.identity.staff.test_staff import sign_in


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, data_dir: Path) -> Iterator[None]:
    """The CLI's settings pointing at the test database and data directory (where the app's
    secret key lives, so the CLI seals TOTP secrets with the same key as the app). Logging
    set-up is skipped: it would bind the suite's logs to the runner's short-lived buffer."""
    monkeypatch.setattr(finhub.cli, "configure_logging", lambda **_: None)
    monkeypatch.setenv("FINHUB_DATABASE_URL", database_url)
    monkeypatch.setenv("FINHUB_DATA_DIR", str(data_dir))
    monkeypatch.delenv("FINHUB_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def create(email: str, *args: str, password: str = PASSWORD) -> Any:
    return CliRunner().invoke(
        cli_app,
        ["staff", "create", email, "--password-stdin", *args],
        input=password + "\n",
    )


@pytest.mark.usefixtures("cli_env")
async def test_create_prints_the_authenticator_once_and_the_member_can_sign_in(
    app: Any, clock: Any
) -> None:
    email = f"{new_id('stf').lower()}@staff.example.com"

    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(
        create, email, "--role", "admin", "--role", "operations", "--name", "Ola Operator"
    )

    assert result.exit_code == 0, result.output
    uri = re.search(r"otpauth URI: (\S+)", result.output)
    secret = re.search(r"Secret:\s+(\S+)", result.output)
    assert uri is not None
    assert secret is not None
    assert pyotp.parse_uri(uri.group(1)).secret == secret.group(1)
    assert "█" in result.output or "▀" in result.output  # the terminal QR code
    staff_id = re.search(r"(stf_\w+)", result.output)
    assert staff_id is not None
    async with client_for(app) as client:
        token = await sign_in(client, Member(staff_id.group(1), email, secret.group(1)), clock)
    async with client_for(app, token) as staff:
        me = (await staff.get("/v1/staff/me")).json()
    assert me["roles"] == ["admin", "operations"]
    assert me["display_name"] == "Ola Operator"

    listed = await asyncio.to_thread(CliRunner().invoke, cli_app, ["staff", "list"])
    assert listed.exit_code == 0
    assert email in listed.output


@pytest.mark.usefixtures("cli_env")
def test_a_weak_password_an_unknown_role_and_a_duplicate_are_refused() -> None:
    email = f"{new_id('stf').lower()}@staff.example.com"

    weak = create(email, "--role", "admin", password="password")
    unknown_role = create(email, "--role", "root")
    first = create(email, "--role", "support")
    duplicate = create(email, "--role", "support")

    assert weak.exit_code == 1
    assert unknown_role.exit_code == 1
    assert first.exit_code == 0, first.output
    assert duplicate.exit_code == 1
    assert "exists already" in duplicate.output
