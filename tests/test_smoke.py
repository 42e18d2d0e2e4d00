"""The app starts, answers health checks and moves money end to end."""

from __future__ import annotations

from httpx import AsyncClient


async def test_health_and_readiness(app_client: AsyncClient) -> None:
    assert (await app_client.get("/healthz")).json() == {"status": "ok"}
    assert (await app_client.get("/readyz")).json() == {"status": "ready"}


async def test_requests_without_credentials_are_rejected(app_client: AsyncClient) -> None:
    response = await app_client.get("/v1/ledger/accounts", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"


async def test_transfer_moves_money_between_accounts(app_client: AsyncClient) -> None:
    cash = (
        await app_client.post("/v1/ledger/accounts", json={"asset": "EUR", "type": "asset"})
    ).json()
    wallet = (
        await app_client.post(
            "/v1/ledger/accounts",
            json={"asset": "EUR", "type": "liability", "debits_must_not_exceed_credits": True},
        )
    ).json()
    response = await app_client.post(
        "/v1/ledger/transfers",
        json={
            "from_account": cash["id"],
            "to_account": wallet["id"],
            "amount": 2500,
            "asset": "EUR",
        },
    )
    assert response.status_code == 201, response.text
    balance = (await app_client.get(f"/v1/ledger/accounts/{wallet['id']}/balance")).json()
    assert balance["balances"]["posted"] == 2500
    assert balance["balances"]["available"] == 2500
