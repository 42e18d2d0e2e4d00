"""Every money action through the ledger API leaves an audit record in its own commit."""

from __future__ import annotations

from httpx import AsyncClient

from finhub.kit.db import Database

API = "/v1/ledger"


async def events_for(db: Database, object_id: str) -> list[dict[str, object]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, actor_type, actor_id, request_id, object_type, after"
            " FROM audit_events WHERE object_id = %s ORDER BY seq",
            (object_id,),
        )
        return await cursor.fetchall()


async def test_accounts_and_transfers_are_audited_with_the_staff_actor(
    app_client: AsyncClient, db: Database
) -> None:
    bank = (await app_client.post(f"{API}/accounts", json={"asset": "EUR", "type": "asset"})).json()
    wallet = (
        await app_client.post(f"{API}/accounts", json={"asset": "EUR", "type": "liability"})
    ).json()
    [opened] = await events_for(db, bank["id"])
    assert opened["action"] == "ledger.account_opened"
    assert opened["actor_type"] == "staff"
    assert str(opened["actor_id"]).startswith("stf_")

    response = await app_client.post(
        f"{API}/transfers",
        json={
            "from_account": bank["id"],
            "to_account": wallet["id"],
            "amount": 500,
            "asset": "EUR",
        },
        headers={"X-Request-ID": "audit-transfer-1"},
    )
    assert response.status_code == 201
    [posted] = await events_for(db, response.json()["id"])
    assert posted["action"] == "ledger.transaction_posted"
    assert posted["request_id"] == "audit-transfer-1"
    after = posted["after"]
    assert isinstance(after, dict)
    assert [bank["id"], "debit", "posted", "500", "EUR"] in after["entries"]


async def test_a_rejected_transfer_leaves_no_money_record(
    app_client: AsyncClient, db: Database
) -> None:
    empty = (
        await app_client.post(
            f"{API}/accounts",
            json={"asset": "EUR", "type": "liability", "debits_must_not_exceed_credits": True},
        )
    ).json()
    other = (
        await app_client.post(f"{API}/accounts", json={"asset": "EUR", "type": "asset"})
    ).json()
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'ledger.transaction_posted'"
        )
        before = await cursor.fetchone()
    response = await app_client.post(
        f"{API}/transfers",
        json={"from_account": empty["id"], "to_account": other["id"], "amount": 1, "asset": "EUR"},
    )
    assert response.json()["code"] == "insufficient_funds"
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'ledger.transaction_posted'"
        )
        assert await cursor.fetchone() == before


async def test_a_batch_is_one_record_naming_every_transaction_it_posted(
    app_client: AsyncClient, db: Database
) -> None:
    bank = (await app_client.post(f"{API}/accounts", json={"asset": "EUR", "type": "asset"})).json()
    empty = (
        await app_client.post(
            f"{API}/accounts",
            json={"asset": "EUR", "type": "liability", "debits_must_not_exceed_credits": True},
        )
    ).json()

    def transfer(debit: str, credit: str) -> dict[str, object]:
        return {
            "entries": [
                {"account": debit, "direction": "debit", "amount": 5},
                {"account": credit, "direction": "credit", "amount": 5},
            ]
        }

    response = await app_client.post(
        f"{API}/transactions/batch",
        json={
            "mode": "independent",
            "transactions": [
                transfer(bank["id"], empty["id"]),
                transfer(empty["id"], bank["id"]),
                transfer(empty["id"], bank["id"]),
                transfer(empty["id"], bank["id"]),
            ],
        },
        headers={"X-Request-ID": "audit-batch-1"},
    )
    assert response.status_code == 201
    results = response.json()["results"]
    posted = [r["transaction"]["id"] for r in results if r["status"] == "created"]
    assert [r["status"] for r in results] == ["created", "created", "failed", "failed"]
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, object_type, request_id, after FROM audit_events"
            " WHERE request_id = 'audit-batch-1'"
        )
        [event] = await cursor.fetchall()
    assert event["action"] == "ledger.batch_posted"
    assert event["object_type"] == "ledger_batch"
    assert event["after"] == {
        "mode": "independent",
        "posted": 2,
        "failed": 2,
        "transactions": posted,
    }
    for transaction_id in posted:
        assert await events_for(db, transaction_id) == []
