"""The dev mailbox: the API for admin and support staff outside production, `finhub mail`, and
the periodic delivery job run by a real procrastinate worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from procrastinate import App, PsycopgConnector

from finhub import config
from finhub.app import create_app
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.ledger.service import LedgerService
from finhub.notifications import tasks
from finhub.notifications.mail import Mailer
from finhub.runtime import Runtime, install_runtime
from tests.factories import create_staff, create_user, session_token
from tests.notifications.smtp_server import smtp_server


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://finhub.test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def recipient() -> str:
    return f"{new_id('usr').lower()}@example.com"


async def kept_mail(
    db: Database, to: str, count: int = 1, tag: str = "auth.verify_email"
) -> list[str]:
    mailer = Mailer(db, Settings(smtp_url=None))
    ids = []
    async with db.transaction() as conn:
        for number in range(count):
            ids.append(
                await mailer.queue(
                    conn,
                    to=to,
                    subject=f"Confirm your email ({number})",
                    text=f"Open http://finhub.test/verify?token=t{number}\n",
                    html=f"<a href='http://finhub.test/verify?token=t{number}'>Confirm</a>",
                    tag=tag,
                )
            )
    return ids


async def staff(db: Database, settings: Settings, clock: OffsetClock, role: str) -> str:
    async with db.transaction() as conn:
        staff_id = await create_staff(conn, roles=(role,))
        return await session_token(conn, staff_id=staff_id, settings=settings, clock=clock)


# --- the API ----------------------------------------------------------------------------------


async def test_staff_read_the_dev_mailbox(app_client: AsyncClient, db: Database) -> None:
    to = recipient()
    ids = await kept_mail(db, to, 3)
    other = await kept_mail(db, to, 1, tag="security.new_sign_in")

    listed = await app_client.get("/v1/dev/mailbox", params={"to": to.upper(), "limit": 2})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert [m["id"] for m in page["data"]] == [other[0], ids[2]]
    assert page["has_more"] is True
    summary = page["data"][1]
    assert summary["object"] == "mail"
    assert (summary["to"], summary["status"], summary["tag"]) == (to, "kept", "auth.verify_email")
    assert "text_body" not in summary

    tagged = await app_client.get(
        "/v1/dev/mailbox", params={"to": to, "tag": "auth.verify_email", "status": "kept"}
    )
    assert [m["id"] for m in tagged.json()["data"]] == list(reversed(ids))

    message = await app_client.get(f"/v1/dev/mailbox/{ids[0]}")
    assert message.status_code == 200
    body = message.json()
    assert body["subject"] == "Confirm your email (0)"
    assert "http://finhub.test/verify?token=t0" in body["text_body"]
    assert "Confirm</a>" in body["html_body"]


async def test_an_unknown_message_answers_404(app_client: AsyncClient) -> None:
    response = await app_client.get("/v1/dev/mailbox/mail_01NOSUCHMAIL00000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "mail_not_found"
    bad_status = await app_client.get("/v1/dev/mailbox", params={"status": "lost"})
    assert bad_status.status_code == 422


async def test_only_admin_staff_read_it_and_each_read_is_audited(
    client: AsyncClient, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    [mail_id] = await kept_mail(db, recipient())
    admin = await staff(db, settings, clock, "admin")
    assert (
        await client.get(f"/v1/dev/mailbox/{mail_id}", headers=bearer(admin))
    ).status_code == 200
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action FROM audit_events WHERE object_id = %s", (mail_id,)
        )
        assert [row["action"] for row in await cursor.fetchall()] == ["mail.read"]

    # Support staff could otherwise follow a customer's live password-reset link.
    support = await staff(db, settings, clock, "support")
    compliance = await staff(db, settings, clock, "compliance")
    async with db.transaction() as conn:
        user_id = await create_user(conn)
        person = await session_token(conn, user_id=user_id, settings=settings, clock=clock)
    for token, code in (
        (support, "permission_denied"),
        (compliance, "permission_denied"),
        (person, "wrong_principal_type"),
    ):
        for path in ("/v1/dev/mailbox", f"/v1/dev/mailbox/{mail_id}"):
            response = await client.get(path, headers=bearer(token))
            assert response.status_code == 403, path
            assert response.json()["code"] == code
    assert (await client.get("/v1/dev/mailbox")).status_code == 401


async def test_in_production_the_mailbox_does_not_exist(
    db: Database, settings: Settings, database_url: str, admin_token: str
) -> None:
    [mail_id] = await kept_mail(db, recipient())
    production = settings.model_copy(update={"environment": "production"})
    app = create_app(production, database_url, clock=OffsetClock())
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app), base_url="http://finhub.test"
        ) as client,
    ):
        for headers in (bearer(admin_token), {}):
            for path in ("/v1/dev/mailbox", f"/v1/dev/mailbox/{mail_id}"):
                response = await client.get(path, headers=headers)
                assert response.status_code == 404, path
                assert response.json()["code"] == "not_found"


# --- `finhub mail` ----------------------------------------------------------------------------


async def finhub(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FINHUB_DATABASE_URL": database_url,
        "FINHUB_DATA_DIR": str(data_dir),
        "FINHUB_LOG_LEVEL": "WARNING",
        "FINHUB_MAIL_FROM": "finhub <no-reply@finhub.test>",
    }
    command = [sys.executable, "-m", "finhub.cli", "mail", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


async def test_the_mail_command_lists_and_shows(
    db: Database, database_url: str, data_dir: Path
) -> None:
    to = recipient()
    ids = await kept_mail(db, to, 2)

    listed = await finhub(database_url, data_dir, "list", "--to", to, "--limit", "5")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(reversed(ids))
    assert "kept" in lines[0]
    assert "Confirm your email (1)" in lines[0]

    shown = await finhub(database_url, data_dir, "show", ids[0])
    assert shown.returncode == 0, shown.stderr
    assert f"To:      {to}" in shown.stdout
    assert "From:    finhub <no-reply@finhub.test>" in shown.stdout
    assert "Subject: Confirm your email (0)" in shown.stdout
    assert "http://finhub.test/verify?token=t0" in shown.stdout

    missing = await finhub(database_url, data_dir, "show", "mail_nothing")
    assert missing.returncode == 1
    assert "No message has this id" in missing.stderr
    nobody = await finhub(database_url, data_dir, "list", "--to", recipient())
    assert nobody.stdout.strip() == "no mail"


# --- the periodic job -------------------------------------------------------------------------


async def test_the_worker_job_delivers_due_mail(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = OffsetClock()
    async with smtp_server() as server:
        settings = Settings(smtp_url=f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setattr(config, "get_settings", lambda: settings)
        to = recipient()
        mailer = Mailer(db, settings, clock=clock)
        async with db.transaction() as conn:
            mail_id = await mailer.queue(conn, to=to, subject="Hi", text="Hello", tag="test.job")
        # No kick: the job is what delivers it.

        install_runtime(Runtime(db=db, clock=clock, ledger=LedgerService(clock)))
        job_app = App(connector=PsycopgConnector(conninfo=database_url))
        job_app.add_tasks_from(tasks.blueprint, namespace="")
        try:
            async with job_app.open_async():
                await tasks.deliver_mail.configure(queueing_lock=None).defer_async(timestamp=0)
                await job_app.run_worker_async(
                    queues=["notifications"], wait=False, install_signal_handlers=False
                )
        finally:
            install_runtime(None)
        assert len(server.sink.to(to)) == 1
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT status FROM outbound_mail WHERE id = %s", (mail_id,))
        row = await cursor.fetchone()
    assert row == {"status": "sent"}
