"""Scheduled payments through the API and the runner: create, list, pause, resume, cancel,
another person's schedule, paying once under concurrency, retries and the failure notice."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.throttle import Throttle
from finhub.ledger.service import LedgerService
from finhub.notifications.mail import Mailer
from finhub.payments.scheduled.executor import PaymentServices
from finhub.payments.scheduled.service import RunReport, run_due
from finhub.wallets import service as wallets
from finhub.wallets.models import Wallet
from tests.payments.scheduled.support import (
    FixedClock,
    client_for,
    open_wallet,
    pay,
    person_token,
    scalar,
)


async def payer_and_payee(
    db: Database, settings: Settings, clock: OffsetClock, funds: int
) -> tuple[str, Wallet, Wallet]:
    user_id, token = await person_token(db, settings)
    ledger = LedgerService(clock)
    async with db.transaction() as conn:
        payer = await wallets.ensure_wallet(conn, clock, user_id)
        if funds:
            funder = await open_wallet(conn, ledger, funds=funds)
            await pay(conn, ledger, funder, payer, funds)
        payee = await open_wallet(conn, ledger)
    return token, payer, payee


def schedule_body(payee: Wallet, start_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": "p2p",
        "to": {"wallet_id": payee.id},
        "amount": 1_500,
        "currency": "EUR",
        "note": "rent",
        "start_at": start_at.isoformat(),
        **extra,
    }


async def runner(db: Database, settings: Settings, at: datetime) -> tuple[FixedClock, Any]:
    clock = FixedClock(at)
    executor = PaymentServices(LedgerService(clock), Throttle(db))
    mailer = Mailer(db, settings, clock=clock)

    async def run() -> RunReport:
        return await run_due(db, clock, executor, mailer)

    return clock, run


async def balance(db: Database, wallet: Wallet) -> int:
    async with db.connection() as conn:
        found = {b.currency: b.balance for b in await wallets.balances(conn, wallet)}
    return found.get("EUR", 0)


async def test_create_list_get_pause_resume_cancel(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, _, payee = await payer_and_payee(db, settings, clock, 0)
    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    async with client_for(app, token) as client:
        created = await client.post(
            "/v1/payments/scheduled",
            json=schedule_body(payee, start, rule="FREQ=WEEKLY;COUNT=4"),
            headers={"Idempotency-Key": "sched-1"},
        )
        assert created.status_code == 201, created.text
        schedule = created.json()
        assert schedule["status"] == "active"
        assert schedule["to"]["wallet_id"] == payee.id
        assert len(schedule["upcoming"]) == 3
        assert datetime.fromisoformat(schedule["next_run_at"]) == start
        replay = await client.post(
            "/v1/payments/scheduled",
            json=schedule_body(payee, start, rule="FREQ=WEEKLY;COUNT=4"),
            headers={"Idempotency-Key": "sched-1"},
        )
        assert replay.json()["id"] == schedule["id"]
        listed = (await client.get("/v1/payments/scheduled")).json()
        assert [s["id"] for s in listed["data"]] == [schedule["id"]]
        path = f"/v1/payments/scheduled/{schedule['id']}"
        assert (await client.get(path)).json()["id"] == schedule["id"]
        paused = await client.post(f"{path}/pause")
        assert paused.json()["status"] == "paused"
        assert (await client.post(f"{path}/pause")).status_code == 409
        resumed = await client.post(f"{path}/resume")
        assert resumed.json()["status"] == "active"
        canceled = await client.delete(path)
        assert canceled.json()["status"] == "canceled"
        again = await client.post(f"{path}/cancel")
        assert (again.status_code, again.json()["code"]) == (
            409,
            "scheduled_payment_state_conflict",
        )


async def test_bad_schedules_are_refused(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, payer, payee = await payer_and_payee(db, settings, clock, 0)
    soon = clock.now() + timedelta(hours=1)
    cases = [
        (schedule_body(payee, clock.now() - timedelta(days=1)), 422, "start_in_past"),
        (schedule_body(payee, soon, rule="FREQ=HOURLY"), 422, "invalid_rule"),
        (schedule_body(payee, soon, end_at=(soon - timedelta(days=1)).isoformat()), 422, None),
        (
            {**schedule_body(payee, soon), "to": {"wallet_id": "wal_00000000000000000000000000"}},
            404,
            None,
        ),
        ({**schedule_body(payee, soon), "to": {"wallet_id": payer.id}}, 422, "self_payment"),
        ({**schedule_body(payee, soon), "to": None}, 422, "validation_error"),
        (
            {
                **schedule_body(payee, soon),
                "type": "withdrawal",
                "to": None,
                "payee_id": "pye_nobody",
            },
            404,
            None,
        ),
    ]
    async with client_for(app, token) as client:
        for body, status, code in cases:
            response = await client.post("/v1/payments/scheduled", json=body)
            assert response.status_code == status, (body, response.text)
            if code:
                assert response.json()["code"] == code
        assert (await client.get("/v1/payments/scheduled")).json()["data"] == []


async def test_another_persons_schedule_is_not_found(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, _, payee = await payer_and_payee(db, settings, clock, 0)
    _, stranger = await person_token(db, settings)
    async with client_for(app, token) as client:
        created = await client.post(
            "/v1/payments/scheduled", json=schedule_body(payee, clock.now() + timedelta(days=1))
        )
    path = f"/v1/payments/scheduled/{created.json()['id']}"
    async with client_for(app, stranger) as client:
        for response in [
            await client.get(path),
            await client.get(f"{path}/runs"),
            await client.post(f"{path}/pause"),
            await client.post(f"{path}/cancel"),
            await client.delete(path),
        ]:
            assert response.status_code == 404
            assert response.json()["code"] == "scheduled_payment_not_found"
        assert (await client.get("/v1/payments/scheduled")).json()["data"] == []
    async with client_for(app, token) as client:
        assert (await client.get(path)).json()["status"] == "active"


async def test_weekly_payments_pay_once_each_even_when_run_twice_at_once(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, payer, payee = await payer_and_payee(db, settings, clock, 10_000)
    start = (clock.now() + timedelta(minutes=5)).replace(microsecond=0)
    async with client_for(app, token) as client:
        created = await client.post(
            "/v1/payments/scheduled", json=schedule_body(payee, start, rule="FREQ=WEEKLY")
        )
    schedule_id = created.json()["id"]
    run_clock, run = await runner(db, settings, start + timedelta(seconds=30))
    reports = await asyncio.gather(run(), run(), run())
    assert await balance(db, payer) == 8_500
    assert await balance(db, payee) == 1_500
    assert sum(r.succeeded for r in reports) >= 1
    run_clock.advance(timedelta(days=7))
    await asyncio.gather(run(), run())
    await run()
    assert await balance(db, payee) == 3_000
    async with db.connection() as conn:
        assert await scalar(
            conn, "SELECT count(*) FROM payments WHERE metadata->>'scheduled_payment_id' = %s",
            schedule_id,
        ) == 2  # fmt: skip
    async with client_for(app, token) as client:
        runs = (await client.get(f"/v1/payments/scheduled/{schedule_id}/runs")).json()["data"]
        shown = (await client.get(f"/v1/payments/scheduled/{schedule_id}")).json()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert datetime.fromisoformat(shown["next_run_at"]) == start + timedelta(days=14)


async def test_insufficient_funds_retries_then_fails_and_tells_the_person(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, payer, payee = await payer_and_payee(db, settings, clock, 1_000)  # rent is 1 500
    start = (clock.now() + timedelta(minutes=5)).replace(microsecond=0)
    async with client_for(app, token) as client:
        created = await client.post("/v1/payments/scheduled", json=schedule_body(payee, start))
    schedule_id = created.json()["id"]
    run_clock, run = await runner(db, settings, start)
    outcomes = []
    for wait in (timedelta(0), timedelta(hours=1), timedelta(hours=4), timedelta(hours=12)):
        run_clock.advance(wait)
        await run()
        async with client_for(app, token) as client:
            runs = (await client.get(f"/v1/payments/scheduled/{schedule_id}/runs")).json()
        outcomes.append((runs["data"][0]["status"], runs["data"][0]["attempts"]))
        if wait == timedelta(0):
            run_clock.advance(timedelta(minutes=59))
            await run()  # not due yet: nothing happens
    assert outcomes == [("pending", 1), ("pending", 2), ("pending", 3), ("failed", 4)]
    assert runs["data"][0]["failure_code"] == "insufficient_funds"
    assert await balance(db, payer) == 1_000
    async with db.connection() as conn:
        assert await scalar(
            conn, "SELECT count(*) FROM notifications WHERE user_id = %s"
            " AND kind = 'scheduled_payment.failed'", payer.user_id,
        ) == 1  # fmt: skip
        assert await scalar(
            conn, "SELECT count(*) FROM outbound_mail WHERE tag = 'scheduled_payment_failed'"
            " AND subject LIKE %s", "%1500 EUR failed",
        ) >= 1  # fmt: skip
    async with client_for(app, token) as client:
        assert (await client.get(f"/v1/payments/scheduled/{schedule_id}")).json()[
            "status"
        ] == "finished"


async def test_a_paused_schedule_pays_nothing_and_resumes_from_now(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, payer, payee = await payer_and_payee(db, settings, clock, 10_000)
    start = (clock.now() + timedelta(minutes=5)).replace(microsecond=0)
    async with client_for(app, token) as client:
        created = await client.post(
            "/v1/payments/scheduled", json=schedule_body(payee, start, rule="FREQ=DAILY")
        )
        path = f"/v1/payments/scheduled/{created.json()['id']}"
        await client.post(f"{path}/pause")
    _, run = await runner(db, settings, start + timedelta(days=3))
    await run()
    assert await balance(db, payer) == 10_000
    async with client_for(app, token) as client:
        resumed = (await client.post(f"{path}/resume")).json()
        # the app's clock is before the start, so the first occurrence stays the next one
        assert datetime.fromisoformat(resumed["next_run_at"]) == start
        await client.post(f"{path}/cancel")
    await run()
    assert await balance(db, payer) == 10_000


async def test_a_schedule_can_pay_a_username(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    token, _, _ = await payer_and_payee(db, settings, clock, 0)
    payee_user, payee_token = await person_token(db, settings)
    async with db.transaction() as conn:
        payee_wallet = await wallets.ensure_wallet(conn, clock, payee_user)
    handle = "sched" + payee_user[-8:].lower()
    async with client_for(app, payee_token) as payee:
        taken = await payee.put("/v1/payments/handle", json={"handle": handle})
        assert taken.status_code == 200, taken.text
    start = (clock.now() + timedelta(days=1)).replace(microsecond=0)
    body = {**schedule_body(payee_wallet, start), "to": {"username": "@" + handle}}
    async with client_for(app, token) as client:
        created = await client.post("/v1/payments/scheduled", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["to"]["wallet_id"] == payee_wallet.id
