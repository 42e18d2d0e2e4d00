"""The ledger's REST API end to end, through the real app and a real database.

API requests commit for real, so every test creates its own accounts (and filters by its own
owner reference) and never depends on what other tests wrote.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from pydantic import BaseModel

from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.ids import new_id
from finhub.kit.pagination import Page
from finhub.ledger.schemas import (
    AccountOut,
    AssetOut,
    BalanceOut,
    BatchOut,
    StatementEntryOut,
    TransactionOut,
)
from finhub.ledger.service import LedgerService
from tests.factories import create_staff, create_user, session_token
from tests.ledger.factories import unique_ref

API = "/v1/ledger"
PROBLEM_JSON = "application/problem+json"
UNKNOWN_ACCOUNT = "acct_00000000000000000000000000"
UNKNOWN_TRANSACTION = "txn_00000000000000000000000000"

Json = dict[str, Any]


# --- helpers ------------------------------------------------------------------------------------


def body_of(response: httpx.Response, status: int, model: type[BaseModel] | None = None) -> Json:
    """The JSON body of a successful response, checked against its documented model."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: Json = response.json()
    if model is not None:
        model.model_validate(body)
    return body


def problem_of(response: httpx.Response, status: int, code: str) -> Json:
    """An RFC 9457 problem with the expected status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: Json = response.json()
    assert problem["status"] == status
    assert problem["code"] == code, problem
    assert problem["type"].endswith("/" + code)
    assert problem["title"]
    assert problem["instance"] == response.request.url.path
    return problem


async def new_account(client: AsyncClient, **fields: Any) -> Json:
    payload = {"asset": "USD", "type": "liability", **fields}
    return body_of(await client.post(f"{API}/accounts", json=payload), 201, AccountOut)


async def new_bank(client: AsyncClient, asset: str = "USD", **fields: Any) -> str:
    return str((await new_account(client, asset=asset, type="asset", **fields))["id"])


async def new_wallet(client: AsyncClient, asset: str = "USD", **fields: Any) -> str:
    account = await new_account(client, asset=asset, debits_must_not_exceed_credits=True, **fields)
    return str(account["id"])


async def move(
    client: AsyncClient, source: str, target: str, amount: int, asset: str = "USD", **fields: Any
) -> Json:
    payload = {
        "from_account": source,
        "to_account": target,
        "amount": amount,
        "asset": asset,
        **fields,
    }
    return body_of(await client.post(f"{API}/transfers", json=payload), 201, TransactionOut)


async def balances(client: AsyncClient, account_id: str, **params: str) -> Json:
    response = await client.get(f"{API}/accounts/{account_id}/balance", params=params)
    balance: Json = body_of(response, 200, BalanceOut)["balances"]
    return balance


async def listed(client: AsyncClient, path: str, **params: Any) -> Json:
    return body_of(await client.get(f"{API}/{path}", params=params), 200)


@dataclass
class Books:
    """A bank, a wallet holding 100.00 and a shop: a small world for one test."""

    bank: str
    wallet: str
    shop: str
    owner: str

    @property
    def accounts(self) -> list[str]:
        return [self.bank, self.wallet, self.shop]


async def open_books(client: AsyncClient, funds: int = 10_000) -> Books:
    owner = unique_ref("owner")
    bank = await new_bank(client, owner_ref=owner)
    wallet = await new_wallet(client, owner_ref=owner)
    shop = await new_account(client, type="revenue", owner_ref=owner)
    if funds:
        await move(client, bank, wallet, funds)
    return Books(bank, wallet, str(shop["id"]), owner)


@pytest.fixture
async def books(app_client: AsyncClient) -> Books:
    return await open_books(app_client)


async def snapshot(client: AsyncClient, books: Books) -> list[Json]:
    """What a request could have changed: each account (balances, version) and its transactions."""
    state = []
    for account_id in books.accounts:
        account = body_of(await client.get(f"{API}/accounts/{account_id}"), 200)
        transactions = await listed(client, "transactions", account=account_id, limit=100)
        state.append(
            {
                "account": account,
                "transactions": [t["id"] for t in transactions["data"]],
            }
        )
    return state


def idempotency_key() -> dict[str, str]:
    """Headers with a key nobody has used."""
    return {"Idempotency-Key": unique_ref("key")}


# --- discovery ----------------------------------------------------------------------------------

LEDGER_OPERATIONS = {
    ("post", "/v1/ledger/accounts"),
    ("get", "/v1/ledger/accounts"),
    ("get", "/v1/ledger/accounts/{account_id}"),
    ("get", "/v1/ledger/accounts/{account_id}/balance"),
    ("get", "/v1/ledger/accounts/{account_id}/entries"),
    ("post", "/v1/ledger/transactions"),
    ("get", "/v1/ledger/transactions"),
    ("get", "/v1/ledger/transactions/{transaction_id}"),
    ("post", "/v1/ledger/transactions/{transaction_id}/post"),
    ("post", "/v1/ledger/transactions/{transaction_id}/void"),
    ("post", "/v1/ledger/transactions/{transaction_id}/reverse"),
    ("post", "/v1/ledger/transactions/batch"),
    ("post", "/v1/ledger/transfers"),
}


async def test_openapi_documents_every_ledger_operation(app_client: AsyncClient) -> None:
    schema = body_of(await app_client.get("/openapi.json"), 200)
    operations = {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert not LEDGER_OPERATIONS - operations.keys()
    for (method, path), operation in operations.items():
        assert operation.get("summary") or operation.get("description"), (method, path)
        if method == "post" and path.startswith(API):
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            assert "Idempotency-Key" in headers, path


async def test_openapi_states_the_amount_bounds(app_client: AsyncClient) -> None:
    schema = body_of(await app_client.get("/openapi.json"), 200)
    amount = schema["components"]["schemas"]["TransferCreate"]["properties"]["amount"]
    assert amount["type"] == "integer"
    assert (amount["exclusiveMinimum"], amount["maximum"]) == (0, 2**128 - 1)


async def test_the_docs_page_is_html(app_client: AsyncClient) -> None:
    response = await app_client.get("/docs", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "unauthorized"),
        ("Basic abc", "invalid_token"),
        ("Bearer fhs_wrong", "invalid_session"),
        ("Bearer fh_live_wrong", "invalid_api_key"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/accounts"),
        ("GET", f"{API}/accounts/{UNKNOWN_ACCOUNT}"),
        ("POST", f"{API}/transfers"),
        ("POST", f"{API}/transactions/{UNKNOWN_TRANSACTION}/void"),
    ],
)
async def test_requests_without_the_key_are_401(
    app_client: AsyncClient, authorization: str | None, code: str, method: str, path: str
) -> None:
    request = app_client.build_request(method, path, json={})
    del request.headers["Authorization"]
    if authorization is not None:
        request.headers["Authorization"] = authorization
    problem_of(await app_client.send(request), 401, code)


@pytest.mark.parametrize(
    ("who", "code"),
    [("user", "wrong_principal_type"), ("support", "permission_denied")],
)
async def test_only_admin_and_operations_staff_reach_the_ledger(
    app_client: AsyncClient, db: Database, who: str, code: str
) -> None:
    async with db.transaction() as conn:
        if who == "user":
            token = await session_token(conn, user_id=await create_user(conn))
        else:
            token = await session_token(conn, staff_id=await create_staff(conn, roles=(who,)))
    headers = {"Authorization": f"Bearer {token}"}
    problem_of(await app_client.get(f"{API}/accounts", headers=headers), 403, code)
    response = await app_client.post(
        f"{API}/accounts", json={"asset": "EUR", "type": "asset"}, headers=headers
    )
    problem_of(response, 403, code)


# --- not found ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", f"accounts/{UNKNOWN_ACCOUNT}", "account_not_found"),
        ("GET", f"accounts/{UNKNOWN_ACCOUNT}/balance", "account_not_found"),
        ("GET", f"accounts/{UNKNOWN_ACCOUNT}/entries", "account_not_found"),
        ("POST", f"accounts/{UNKNOWN_ACCOUNT}/close", "account_not_found"),
        ("GET", f"transactions/{UNKNOWN_TRANSACTION}", "transaction_not_found"),
        ("POST", f"transactions/{UNKNOWN_TRANSACTION}/post", "transaction_not_found"),
        ("POST", f"transactions/{UNKNOWN_TRANSACTION}/void", "transaction_not_found"),
        ("POST", f"transactions/{UNKNOWN_TRANSACTION}/reverse", "transaction_not_found"),
        ("GET", "nothing-here", "not_found"),
    ],
)
async def test_unknown_resources_are_404(
    app_client: AsyncClient, method: str, path: str, code: str
) -> None:
    problem_of(await app_client.request(method, f"{API}/{path}"), 404, code)


# --- accounts -----------------------------------------------------------------------------------


async def test_an_account_is_created_and_read_back(app_client: AsyncClient) -> None:
    owner, external = unique_ref("owner"), unique_ref("ext")
    created = await new_account(
        app_client,
        asset="EUR",
        type="liability",
        name="Alice's wallet",
        owner_ref=owner,
        external_ref=external,
        metadata={"tier": "gold", "limits": {"daily": 500}},
        debits_must_not_exceed_credits=True,
        overdraft_limit=2_000,
    )
    assert created["id"].startswith("acct_")
    assert (created["normal_side"], created["status"], created["closed_at"]) == (
        "credit",
        "open",
        None,
    )
    assert created["balances"] == {
        "posted": 0,
        "pending": 0,
        "available": 0,
        "debits_posted": 0,
        "credits_posted": 0,
        "debits_pending": 0,
        "credits_pending": 0,
    }
    read = body_of(await app_client.get(f"{API}/accounts/{created['id']}"), 200, AccountOut)
    assert read == created


async def test_an_external_reference_is_unique(app_client: AsyncClient) -> None:
    external = unique_ref("ext")
    await new_account(app_client, external_ref=external)
    response = await app_client.post(
        f"{API}/accounts", json={"asset": "USD", "type": "asset", "external_ref": external}
    )
    problem_of(response, 409, "duplicate_external_ref")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"asset": "XYZ", "type": "asset"}, 422, "unknown_asset"),
        ({"asset": "usd", "type": "asset"}, 422, "validation_error"),
        ({"asset": "USD", "type": "cash"}, 422, "validation_error"),
        ({"asset": "USD"}, 422, "validation_error"),
        ({"asset": "USD", "type": "asset", "colour": "red"}, 422, "validation_error"),
        ({"asset": "USD", "type": "asset", "overdraft_limit": 10}, 422, "invalid_limits"),
        (
            {
                "asset": "USD",
                "type": "asset",
                "debits_must_not_exceed_credits": True,
                "credits_must_not_exceed_debits": True,
            },
            422,
            "invalid_limits",
        ),
    ],
)
async def test_invalid_accounts_are_refused(
    app_client: AsyncClient, payload: Json, status: int, code: str
) -> None:
    owner = unique_ref("owner")
    response = await app_client.post(f"{API}/accounts", json={**payload, "owner_ref": owner})
    problem_of(response, status, code)
    assert (await listed(app_client, "accounts", owner_ref=owner))["data"] == []


async def test_closing_an_account(app_client: AsyncClient, books: Books) -> None:
    problem_of(
        await app_client.post(f"{API}/accounts/{books.wallet}/close"), 409, "account_not_empty"
    )
    await move(app_client, books.wallet, books.shop, 10_000)
    closed = body_of(await app_client.post(f"{API}/accounts/{books.wallet}/close"), 200, AccountOut)
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    response = await app_client.post(
        f"{API}/transfers",
        json={"from_account": books.bank, "to_account": books.wallet, "amount": 1, "asset": "USD"},
    )
    problem_of(response, 422, "account_closed")


# --- transfers and transactions -----------------------------------------------------------------


async def test_a_transfer_answers_with_the_transaction(app_client: AsyncClient) -> None:
    books = await open_books(app_client, funds=0)
    transfer = await move(
        app_client,
        books.bank,
        books.wallet,
        1_250,
        description="Top-up",
        metadata={"order": "A-1"},
    )
    assert transfer["id"].startswith("txn_")
    assert (transfer["kind"], transfer["status"]) == ("standard", "posted")
    assert transfer["entries"] == [
        {
            "account": books.bank,
            "asset": "USD",
            "direction": "debit",
            "phase": "posted",
            "amount": 1_250,
        },
        {
            "account": books.wallet,
            "asset": "USD",
            "direction": "credit",
            "phase": "posted",
            "amount": 1_250,
        },
    ]
    read = body_of(
        await app_client.get(f"{API}/transactions/{transfer['id']}"), 200, TransactionOut
    )
    assert read == transfer
    assert (await balances(app_client, books.wallet))["posted"] == 1_250


async def test_a_multi_entry_transaction(app_client: AsyncClient, books: Books) -> None:
    fees = str((await new_account(app_client, type="revenue"))["id"])
    payload = {
        "entries": [
            {"account": books.wallet, "direction": "debit", "amount": 1_000, "asset": "USD"},
            {"account": books.shop, "direction": "credit", "amount": 970},
            {"account": fees, "direction": "credit", "amount": 30},
        ],
        "description": "Purchase with a 3% fee",
        "effective_at": "2026-01-31T12:00:00Z",
    }
    created = body_of(
        await app_client.post(f"{API}/transactions", json=payload), 201, TransactionOut
    )
    assert created["effective_at"].startswith("2026-01-31T12:00:00")
    assert [e["amount"] for e in created["entries"]] == [1_000, 970, 30]
    assert (await balances(app_client, fees))["posted"] == 30
    assert (await balances(app_client, books.wallet))["posted"] == 9_000


async def test_amounts_beyond_64_bits_are_exact(app_client: AsyncClient) -> None:
    owner = unique_ref("owner")
    source, target = (
        await new_bank(app_client, owner_ref=owner),
        await new_wallet(app_client, owner_ref=owner),
    )
    huge = 2**100 + 7
    transfer = await move(app_client, source, target, huge)
    assert [e["amount"] for e in transfer["entries"]] == [huge, huge]
    largest = 2**128 - 1 - huge
    await move(app_client, source, target, largest)
    balance = await balances(app_client, target)
    assert balance["posted"] == balance["credits_posted"] == 2**128 - 1
    problem_of(
        await app_client.post(
            f"{API}/transfers",
            json={"from_account": source, "to_account": target, "amount": 1, "asset": "USD"},
        ),
        422,
        "amount_overflow",
    )
    entries = await listed(app_client, f"accounts/{target}/entries")
    assert entries["data"][0]["balance_after"]["posted"] == 2**128 - 1


# --- bad input changes nothing ------------------------------------------------------------------


def transfer_payload(books: Books, **overrides: Any) -> Json:
    payload: Json = {
        "from_account": books.wallet,
        "to_account": books.shop,
        "amount": 500,
        "asset": "USD",
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


INVALID_TRANSFERS: list[tuple[str, Json]] = [
    ("zero amount", {"amount": 0}),
    ("negative amount", {"amount": -500}),
    ("fractional amount", {"amount": 12.5}),
    ("whole amount as a float", {"amount": 500.0}),
    ("amount as words", {"amount": "five"}),
    ("amount over 128 bits", {"amount": 2**128}),
    ("missing amount", {"amount": None}),
    ("missing asset", {"asset": None}),
    ("lower-case asset", {"asset": "usd"}),
    ("malformed account id", {"to_account": "shop"}),
    ("unknown field", {"memo": "hi"}),
    ("bad ledger name", {"ledger": "Main Ledger"}),
    ("expiry without a timestamp", {"pending": True, "expires_at": "tomorrow"}),
]


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        *INVALID_TRANSFERS,
        pytest.param("amount as a boolean", {"amount": True}),
    ],
    ids=[*(c for c, _ in INVALID_TRANSFERS), "amount as a boolean"],
)
async def test_invalid_requests_are_422_and_change_nothing(
    app_client: AsyncClient, books: Books, case: str, overrides: Json
) -> None:
    before = await snapshot(app_client, books)
    response = await app_client.post(f"{API}/transfers", json=transfer_payload(books, **overrides))
    problem = problem_of(response, 422, "validation_error")
    assert problem["errors"], case
    assert all({"location", "message", "type"} <= e.keys() for e in problem["errors"])
    assert await snapshot(app_client, books) == before


async def test_a_body_that_is_not_json_is_422(app_client: AsyncClient) -> None:
    response = await app_client.post(
        f"{API}/transfers", content=b"{not json", headers={"content-type": "application/json"}
    )
    problem_of(response, 422, "validation_error")


def rule_breakers(books: Books) -> list[tuple[str, str, Json, int, str]]:
    """(name, path, body, status, code) for requests that break a ledger rule."""
    wallet, shop, bank = books.wallet, books.shop, books.bank
    return [
        (
            "overspend",
            "transfers",
            transfer_payload(books, amount=10_001),
            422,
            "insufficient_funds",
        ),
        (
            "wrong asset",
            "transfers",
            transfer_payload(books, asset="EUR"),
            422,
            "asset_mismatch",
        ),
        (
            "unknown account",
            "transfers",
            transfer_payload(books, to_account=UNKNOWN_ACCOUNT),
            422,
            "account_not_found",
        ),
        (
            "to itself",
            "transfers",
            transfer_payload(books, to_account=wallet),
            422,
            "invalid_transaction",
        ),
        (
            "expiry on a posted transfer",
            "transfers",
            transfer_payload(books, expires_at="2999-01-01T00:00:00Z"),
            422,
            "invalid_transaction",
        ),
        (
            "expiry in the past",
            "transfers",
            transfer_payload(books, pending=True, expires_at="2000-01-01T00:00:00Z"),
            422,
            "invalid_transaction",
        ),
        (
            "unbalanced",
            "transactions",
            {
                "entries": [
                    {"account": bank, "direction": "debit", "amount": 100},
                    {"account": shop, "direction": "credit", "amount": 99},
                ]
            },
            422,
            "unbalanced_transaction",
        ),
        (
            "one entry",
            "transactions",
            {"entries": [{"account": bank, "direction": "debit", "amount": 100}]},
            422,
            "validation_error",
        ),
        (
            "atomic batch with one overspend",
            "transactions/batch",
            {
                "mode": "atomic",
                "transactions": [
                    {
                        "entries": [
                            {"account": bank, "direction": "debit", "amount": 5},
                            {"account": wallet, "direction": "credit", "amount": 5},
                        ]
                    },
                    {
                        "entries": [
                            {"account": wallet, "direction": "debit", "amount": 20_000},
                            {"account": shop, "direction": "credit", "amount": 20_000},
                        ]
                    },
                ],
            },
            422,
            "insufficient_funds",
        ),
    ]


async def test_broken_rules_are_4xx_and_change_nothing(
    app_client: AsyncClient, books: Books
) -> None:
    before = await snapshot(app_client, books)
    for name, path, payload, status, code in rule_breakers(books):
        response = await app_client.post(f"{API}/{path}", json=payload)
        problem = problem_of(response, status, code)
        assert problem.get("detail"), name
    assert await snapshot(app_client, books) == before


async def test_an_atomic_batch_names_the_failing_item(
    app_client: AsyncClient, books: Books
) -> None:
    _, path, payload, _, _ = rule_breakers(books)[-1]  # the atomic batch
    problem = problem_of(
        await app_client.post(f"{API}/{path}", json=payload), 422, "insufficient_funds"
    )
    assert problem["index"] == 1


# --- batches ------------------------------------------------------------------------------------


async def test_an_independent_batch_reports_each_item(
    app_client: AsyncClient, books: Books
) -> None:
    def pay(amount: int) -> Json:
        return {
            "entries": [
                {"account": books.wallet, "direction": "debit", "amount": amount},
                {"account": books.shop, "direction": "credit", "amount": amount},
            ]
        }

    payload = {"mode": "independent", "transactions": [pay(6_000), pay(6_000), pay(4_000)]}
    batch = body_of(await app_client.post(f"{API}/transactions/batch", json=payload), 201, BatchOut)
    assert (batch["mode"], batch["created"], batch["failed"]) == ("independent", 2, 1)
    assert [r["status"] for r in batch["results"]] == ["created", "failed", "created"]
    assert [r["index"] for r in batch["results"]] == [0, 1, 2]
    failure = batch["results"][1]
    assert failure["transaction"] is None
    assert failure["error"]["code"] == "insufficient_funds"
    created = [r["transaction"]["id"] for r in batch["results"] if r["transaction"]]
    for transaction_id in created:
        body_of(await app_client.get(f"{API}/transactions/{transaction_id}"), 200)
    assert (await balances(app_client, books.wallet))["posted"] == 0


async def test_an_atomic_batch_posts_everything(app_client: AsyncClient, books: Books) -> None:
    payload = {
        "transactions": [
            {
                "entries": [
                    {"account": books.wallet, "direction": "debit", "amount": 100 * n},
                    {"account": books.shop, "direction": "credit", "amount": 100 * n},
                ]
            }
            for n in range(1, 5)
        ]
    }
    batch = body_of(await app_client.post(f"{API}/transactions/batch", json=payload), 201, BatchOut)
    assert (batch["mode"], batch["created"], batch["failed"]) == ("atomic", 4, 0)
    assert (await balances(app_client, books.shop))["posted"] == 1_000


# --- holds and reversals ------------------------------------------------------------------------


async def test_a_hold_is_posted_partly_then_refused_twice(
    app_client: AsyncClient, books: Books
) -> None:
    hold = await move(app_client, books.wallet, books.shop, 4_000, pending=True)
    assert (hold["kind"], hold["status"]) == ("pending", "pending")
    assert await balances(app_client, books.wallet) == {
        "posted": 10_000,
        "pending": 6_000,
        "available": 6_000,
        "debits_posted": 0,
        "credits_posted": 10_000,
        "debits_pending": 4_000,
        "credits_pending": 0,
    }
    posted = body_of(
        await app_client.post(f"{API}/transactions/{hold['id']}/post", json={"amount": 3_000}),
        201,
        TransactionOut,
    )
    assert (posted["kind"], posted["pending_id"]) == ("post_pending", hold["id"])
    wallet = await balances(app_client, books.wallet)
    assert (wallet["posted"], wallet["available"], wallet["debits_pending"]) == (7_000, 7_000, 0)
    read = body_of(await app_client.get(f"{API}/transactions/{hold['id']}"), 200, TransactionOut)
    assert (read["status"], read["resolved_by"]) == ("posted", posted["id"])

    for action in ("post", "void"):
        response = await app_client.post(f"{API}/transactions/{hold['id']}/{action}")
        problem_of(response, 409, "transaction_already_resolved")
    problem_of(
        await app_client.post(f"{API}/transactions/{posted['id']}/void"),
        409,
        "transaction_not_pending",
    )


async def test_a_hold_is_posted_in_full_without_a_body(
    app_client: AsyncClient, books: Books
) -> None:
    hold = await move(app_client, books.wallet, books.shop, 2_000, pending=True)
    posted = body_of(await app_client.post(f"{API}/transactions/{hold['id']}/post"), 201)
    assert sorted(e["amount"] for e in posted["entries"] if e["phase"] == "posted") == [
        2_000,
        2_000,
    ]
    response = await app_client.post(
        f"{API}/transactions/{hold['id']}/post", json={"amount": 1, "entries": []}
    )
    problem_of(response, 409, "transaction_already_resolved")


async def test_posting_more_than_held_is_refused(app_client: AsyncClient, books: Books) -> None:
    hold = await move(app_client, books.wallet, books.shop, 2_000, pending=True)
    response = await app_client.post(
        f"{API}/transactions/{hold['id']}/post", json={"amount": 2_001}
    )
    problem_of(response, 422, "invalid_transaction")
    read = body_of(await app_client.get(f"{API}/transactions/{hold['id']}"), 200)
    assert read["status"] == "pending"


async def test_a_hold_is_voided(app_client: AsyncClient, books: Books) -> None:
    hold = await move(app_client, books.wallet, books.shop, 2_000, pending=True)
    void = body_of(
        await app_client.post(
            f"{API}/transactions/{hold['id']}/void", json={"description": "cancelled"}
        ),
        201,
        TransactionOut,
    )
    assert (void["kind"], void["description"]) == ("void_pending", "cancelled")
    assert (await balances(app_client, books.wallet))["available"] == 10_000
    problem_of(
        await app_client.post(f"{API}/transactions/{hold['id']}/reverse"),
        409,
        "transaction_not_reversible",
    )


async def test_an_expired_hold_can_not_be_posted(
    app_client: AsyncClient, books: Books, clock: OffsetClock
) -> None:
    expires_at = (clock.now() + timedelta(hours=1)).isoformat()
    hold = await move(
        app_client, books.wallet, books.shop, 1_000, pending=True, expires_at=expires_at
    )
    assert datetime.fromisoformat(hold["expires_at"]) == datetime.fromisoformat(expires_at)
    clock.advance(timedelta(hours=2))
    try:
        response = await app_client.post(f"{API}/transactions/{hold['id']}/post")
        problem_of(response, 409, "pending_expired")
        read = body_of(await app_client.get(f"{API}/transactions/{hold['id']}"), 200)
        assert read["status"] == "expired"
    finally:
        clock.advance(timedelta(hours=-2))


async def test_a_payment_is_reversed_once(app_client: AsyncClient, books: Books) -> None:
    payment = await move(app_client, books.wallet, books.shop, 2_500)
    reversal = body_of(
        await app_client.post(
            f"{API}/transactions/{payment['id']}/reverse",
            json={"description": "refund", "metadata": {"ticket": "42"}},
        ),
        201,
        TransactionOut,
    )
    assert (reversal["kind"], reversal["reverses_id"]) == ("reversal", payment["id"])
    assert [(e["account"], e["direction"]) for e in reversal["entries"]] == [
        (books.wallet, "credit"),
        (books.shop, "debit"),
    ]
    assert reversal["metadata"] == {"ticket": "42"}
    read = body_of(await app_client.get(f"{API}/transactions/{payment['id']}"), 200)
    assert read["reversed_by"] == reversal["id"]
    problem_of(
        await app_client.post(f"{API}/transactions/{payment['id']}/reverse"),
        409,
        "transaction_already_reversed",
    )
    assert (await balances(app_client, books.wallet))["posted"] == 10_000


# --- idempotency --------------------------------------------------------------------------------


def creations(books: Books) -> list[tuple[str, Json]]:
    """One request per kind of POST that creates something."""
    entries = [
        {"account": books.bank, "direction": "debit", "amount": 10},
        {"account": books.wallet, "direction": "credit", "amount": 10},
    ]
    return [
        ("transfers", {"from_account": books.bank, "to_account": books.wallet, "amount": 10,
                       "asset": "USD"}),
        ("transactions", {"entries": entries}),
        ("transactions/batch", {"transactions": [{"entries": entries}]}),
        ("accounts", {"asset": "USD", "type": "asset", "owner_ref": books.owner}),
    ]  # fmt: skip


async def test_a_replay_returns_the_first_response_and_creates_nothing(
    app_client: AsyncClient, books: Books
) -> None:
    for path, payload in creations(books):
        headers = idempotency_key()
        first = await app_client.post(f"{API}/{path}", json=payload, headers=headers)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        before = await snapshot(app_client, books)
        accounts_before = await listed(app_client, "accounts", owner_ref=books.owner)
        replay = await app_client.post(f"{API}/{path}", json=payload, headers=headers)
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.content == first.content, path
        assert await snapshot(app_client, books) == before
        assert await listed(app_client, "accounts", owner_ref=books.owner) == accounts_before


async def test_a_key_reused_for_another_request_is_422(
    app_client: AsyncClient, books: Books
) -> None:
    headers = idempotency_key()
    await app_client.post(
        f"{API}/transfers", json=transfer_payload(books, amount=100), headers=headers
    )
    before = await snapshot(app_client, books)
    other = await app_client.post(
        f"{API}/transfers", json=transfer_payload(books, amount=101), headers=headers
    )
    elsewhere = await app_client.post(
        f"{API}/transactions/{UNKNOWN_TRANSACTION}/void", headers=headers
    )
    problem_of(other, 422, "idempotency_key_reused")
    problem_of(elsewhere, 422, "idempotency_key_reused")
    assert await snapshot(app_client, books) == before


async def test_a_business_error_replays_as_it_was(app_client: AsyncClient, books: Books) -> None:
    payload = transfer_payload(books, amount=10_001)
    headers = idempotency_key()
    first = await app_client.post(f"{API}/transfers", json=payload, headers=headers)
    problem_of(first, 422, "insufficient_funds")
    # The wallet is topped up meanwhile, but the key keeps its first answer.
    await move(app_client, books.bank, books.wallet, 5_000)
    before = await snapshot(app_client, books)
    replay = await app_client.post(f"{API}/transfers", json=payload, headers=headers)
    assert replay.status_code == 422
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == PROBLEM_JSON
    assert replay.content == first.content
    assert await snapshot(app_client, books) == before


async def test_a_validation_error_does_not_use_up_the_key(
    app_client: AsyncClient, books: Books
) -> None:
    headers = idempotency_key()
    bad = await app_client.post(
        f"{API}/transfers", json=transfer_payload(books, amount=0), headers=headers
    )
    problem_of(bad, 422, "validation_error")
    good = await app_client.post(
        f"{API}/transfers", json=transfer_payload(books, amount=1), headers=headers
    )
    body_of(good, 201)


async def test_concurrent_retries_create_one_transaction(
    app_client: AsyncClient, books: Books
) -> None:
    payload = transfer_payload(books, amount=700)
    headers = idempotency_key()
    responses = await asyncio.gather(
        *(app_client.post(f"{API}/transfers", json=payload, headers=headers) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    created = [r for r in responses if r.status_code == 201]
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    assert created
    assert len({r.content for r in created}) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        problem_of(conflict, 409, "idempotency_key_in_use")
    transactions = await listed(app_client, "transactions", account=books.shop)
    assert len(transactions["data"]) == 1
    assert (await balances(app_client, books.shop))["posted"] == 700


# --- lists, filters and pages -------------------------------------------------------------------


async def all_pages(client: AsyncClient, path: str, limit: int, **params: Any) -> list[Json]:
    """Every page of a list, checking the cursor fields on the way."""
    pages: list[Json] = []
    cursor: str | None = None
    for _ in range(50):  # bounded: the tests' lists are a handful of pages at most
        query = {"limit": limit, **params, **({"starting_after": cursor} if cursor else {})}
        page = await listed(client, path, **query)
        assert page["object"] == "list"
        assert len(page["data"]) <= limit
        pages.append(page)
        if not page["has_more"]:
            assert page["next_starting_after"] is None
            return pages
        cursor = page["next_starting_after"]
        assert cursor is not None
    raise AssertionError("pagination never ended")


async def test_accounts_are_paged_newest_first(app_client: AsyncClient) -> None:
    owner = unique_ref("owner")
    created = [str((await new_account(app_client, owner_ref=owner))["id"]) for _ in range(5)]
    pages = await all_pages(app_client, "accounts", 2, owner_ref=owner)
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert pages[0]["next_starting_after"] == pages[0]["data"][-1]["id"]
    seen = [a["id"] for p in pages for a in p["data"]]
    assert seen == sorted(created, reverse=True) == list(reversed(created))
    for page in pages:
        Page[AccountOut].model_validate(page)


async def test_transactions_are_paged_and_filtered_by_account(
    app_client: AsyncClient, books: Books
) -> None:
    made = [(await move(app_client, books.wallet, books.shop, n))["id"] for n in (1, 2, 3, 4)]
    pages = await all_pages(app_client, "transactions", 3, account=books.shop)
    assert [p["has_more"] for p in pages] == [True, False]
    assert [t["id"] for p in pages for t in p["data"]] == list(reversed(made))
    for page in pages:
        Page[TransactionOut].model_validate(page)


async def test_transactions_are_filtered_by_kind_and_time(
    app_client: AsyncClient, books: Books
) -> None:
    first = await move(app_client, books.wallet, books.shop, 100)
    hold = await move(app_client, books.wallet, books.shop, 200, pending=True)
    last = await move(app_client, books.wallet, books.shop, 300)

    pending = await listed(app_client, "transactions", account=books.shop, kind="pending")
    assert [t["id"] for t in pending["data"]] == [hold["id"]]
    window = await listed(
        app_client,
        "transactions",
        account=books.shop,
        created_gte=first["created_at"],
        created_lt=last["created_at"],
    )
    assert [t["id"] for t in window["data"]] == [hold["id"], first["id"]]
    later = await listed(
        app_client, "transactions", account=books.shop, created_gte=last["created_at"]
    )
    assert [t["id"] for t in later["data"]] == [last["id"]]
    problem_of(
        await app_client.get(f"{API}/transactions", params={"kind": "refund"}),
        422,
        "validation_error",
    )


async def test_accounts_are_filtered(app_client: AsyncClient) -> None:
    owner = unique_ref("owner")
    external = unique_ref("ext")
    usd_asset = await new_account(
        app_client, owner_ref=owner, type="asset", metadata={"region": "eu", "tier": "gold"}
    )
    eur_liability = await new_account(
        app_client, owner_ref=owner, asset="EUR", metadata={"region": "eu"}
    )
    usd_liability = await new_account(
        app_client, owner_ref=owner, external_ref=external, metadata={"region": "us"}
    )

    async def ids(**params: str) -> list[str]:
        page = await listed(app_client, "accounts", owner_ref=owner, **params)
        return [a["id"] for a in page["data"]]

    assert await ids() == [usd_liability["id"], eur_liability["id"], usd_asset["id"]]
    assert await ids(asset="EUR") == [eur_liability["id"]]
    assert await ids(type="asset") == [usd_asset["id"]]
    assert await ids(external_ref=external) == [usd_liability["id"]]
    assert await ids(**{"metadata[region]": "eu"}) == [eur_liability["id"], usd_asset["id"]]
    assert await ids(**{"metadata[region]": "eu", "metadata[tier]": "gold"}) == [usd_asset["id"]]
    assert await ids(status="closed") == []
    assert await ids(asset="EUR", type="asset") == []
    problem_of(
        await app_client.get(f"{API}/accounts", params={"status": "gone"}),
        422,
        "validation_error",
    )


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_page_sizes_are_bounded(app_client: AsyncClient, limit: int) -> None:
    response = await app_client.get(f"{API}/accounts", params={"limit": limit})
    problem_of(response, 422, "validation_error")


# --- statements and balances --------------------------------------------------------------------


async def test_a_statement_shows_the_balance_after_each_entry(app_client: AsyncClient) -> None:
    books = await open_books(app_client, funds=1_000)
    await move(app_client, books.bank, books.wallet, 2_000)
    await move(app_client, books.wallet, books.shop, 500)
    await move(app_client, books.wallet, books.shop, 300, pending=True)

    pages = await all_pages(app_client, f"accounts/{books.wallet}/entries", 3)
    entries = [e for p in pages for e in p["data"]]
    for page in pages:
        Page[StatementEntryOut].model_validate(page)
    assert [(e["sequence"], e["phase"], e["direction"], e["amount"]) for e in entries] == [
        (4, "pending", "debit", 300),
        (3, "posted", "debit", 500),
        (2, "posted", "credit", 2_000),
        (1, "posted", "credit", 1_000),
    ]
    assert [e["balance_after"]["posted"] for e in entries] == [2_500, 2_500, 3_000, 1_000]
    assert [e["balance_after"]["available"] for e in entries] == [2_200, 2_500, 3_000, 1_000]
    assert all(e["id"].startswith("ent_") and e["account"] == books.wallet for e in entries)
    assert pages[0]["next_starting_after"] == entries[2]["id"]
    problem_of(
        await app_client.get(
            f"{API}/accounts/{books.wallet}/entries", params={"starting_after": "nope"}
        ),
        422,
        "validation_error",
    )


async def test_balance_as_of_a_past_moment(app_client: AsyncClient) -> None:
    books = await open_books(app_client, funds=1_000)
    await move(app_client, books.bank, books.wallet, 2_000)
    entries = (await listed(app_client, f"accounts/{books.wallet}/entries"))["data"]
    first_posted_at = datetime.fromisoformat(entries[-1]["posted_at"])

    at_first = await balances(app_client, books.wallet, as_of=first_posted_at.isoformat())
    assert at_first["posted"] == 1_000
    just_before = (first_posted_at - timedelta(microseconds=1)).isoformat()
    assert (await balances(app_client, books.wallet, as_of=just_before))["posted"] == 0
    now = await balances(app_client, books.wallet)
    assert now["posted"] == 3_000
    response = await app_client.get(
        f"{API}/accounts/{books.wallet}/balance", params={"as_of": just_before}
    )
    assert body_of(response, 200)["as_of"] is not None
    problem_of(
        await app_client.get(
            f"{API}/accounts/{books.wallet}/balance", params={"as_of": "2026-01-01T00:00:00"}
        ),
        422,
        "validation_error",
    )


# --- assets -------------------------------------------------------------------------------------


async def test_custom_assets(app_client: AsyncClient) -> None:
    code = "T" + new_id("asset")[-12:]
    created = body_of(
        await app_client.post(
            f"{API}/assets", json={"code": code, "scale": 18, "name": "Test token"}
        ),
        201,
        AssetOut,
    )
    assert created == {
        "object": "asset",
        "code": code,
        "scale": 18,
        "name": "Test token",
        "kind": "custom",
    }
    response = await app_client.get(f"{API}/assets")
    assert response.status_code == 200
    listed_assets: list[Json] = response.json()
    assert created in listed_assets
    assert {"USD", code} <= {AssetOut.model_validate(a).code for a in listed_assets}
    problem_of(
        await app_client.post(f"{API}/assets", json={"code": code, "scale": 2, "name": "Again"}),
        409,
        "asset_exists",
    )
    problem_of(
        await app_client.post(f"{API}/assets", json={"code": "USD", "scale": 2, "name": "Mine"}),
        409,
        "asset_exists",
    )
    problem_of(
        await app_client.post(f"{API}/assets", json={"code": code + "X", "scale": 19, "name": "x"}),
        422,
        "validation_error",
    )
    wallet = await new_wallet(app_client, asset=code)
    assert body_of(await app_client.get(f"{API}/accounts/{wallet}"), 200)["asset"] == code


# --- afterwards ---------------------------------------------------------------------------------


async def test_the_books_verify_after_all_these_requests(
    db: Database, ledger: LedgerService
) -> None:
    async with db.transaction() as conn:
        report = await ledger.verify(conn)
    assert report.ok, report
    assert report.transactions_checked > 0


async def test_a_conflict_of_the_moment_is_not_kept_for_replays(app_client: AsyncClient) -> None:
    """A 409 depends on the state at that moment: retrying the same key once the state has
    changed does the work instead of replaying the refusal."""
    cash = (await app_client.post(f"{API}/accounts", json={"asset": "EUR", "type": "asset"})).json()
    wallet = (
        await app_client.post(f"{API}/accounts", json={"asset": "EUR", "type": "liability"})
    ).json()
    transfer = {"from_account": cash["id"], "to_account": wallet["id"], "amount": 5, "asset": "EUR"}
    assert (await app_client.post(f"{API}/transfers", json=transfer)).status_code == 201
    close = f"{API}/accounts/{wallet['id']}/close"
    key = {"Idempotency-Key": new_id("idem")}
    refused = await app_client.post(close, headers=key)
    assert (refused.status_code, refused.json()["code"]) == (409, "account_not_empty")
    back = {**transfer, "from_account": wallet["id"], "to_account": cash["id"]}
    assert (await app_client.post(f"{API}/transfers", json=back)).status_code == 201
    closed = await app_client.post(close, headers=key)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
