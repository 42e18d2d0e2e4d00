"""Authorisation across every route of the OpenAPI schema (BOLA/IDOR and anonymous access).

Owner A builds a world of objects (an organisation with members, roles, teams and invitations,
API keys, a passkey, sessions, notifications, mail, audit events, a support ticket, staff and
ledger objects).
Then, for every operation in the schema:

* anonymously, every operation that declares an access requirement answers 401, and an
  operation without one must be on the short list of public operations below;
* every operation with a path parameter is called with A's ids by attacker B (a signed-in,
  stepped-up person with an organisation of their own, and B's API key carrying every scope)
  and by a support staff member where the operation needs another staff role: each answers 4xx
  (never 2xx), and no answer contains A's data;
* every list or read without path parameters, called by B, contains none of A's ids or data;
* afterwards every database row that belongs to A or A's organisation is unchanged.

A new route with a path parameter the test doesn't know fails the test until the parameter is
added to the world, so new resources can't skip this check.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from finhub.identity.scopes import SCOPES
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.notifications.inbox import notify
from finhub.webhooks.dispatcher import dispatch_pending
from tests.factories import create_staff, create_user, session_token
from tests.identity.factors.authenticator import SoftAuthenticator

PUBLIC_OPERATIONS = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/auth/sign-up"),
    ("POST", "/v1/auth/verify-email"),
    ("POST", "/v1/auth/verify-email/resend"),
    ("POST", "/v1/auth/sign-in"),
    ("POST", "/v1/auth/password-reset"),
    ("POST", "/v1/auth/password-reset/confirm"),
    ("POST", "/v1/auth/sign-in/second-factor"),
    ("POST", "/v1/auth/sign-in/second-factor/passkey-options"),
    ("POST", "/v1/auth/passkeys/sign-in-options"),
    ("POST", "/v1/auth/passkeys/sign-in"),
    ("POST", "/v1/organizations/invitations/preview"),
    ("POST", "/v1/staff/auth/sign-in"),
    ("POST", "/v1/staff/auth/sign-in/second-factor"),
    ("POST", "/v1/staff/enrolment/totp"),
    ("POST", "/v1/staff/enrolment"),
    ("POST", "/v1/payments/card-webhooks"),  # the card processor's, checked by its signature
}
# Back-office settings addressed by value rather than by an owned object.
SETTING_PARAMETERS = {
    "base": "EUR",
    "quote": "USD",
    "operation": "p2p",
    "currency": "EUR",
    "tier": "basic",
}


@dataclass
class World:
    """A's objects by path parameter name, and what must never reach B."""

    ids: dict[str, str] = field(default_factory=dict)
    # A parameter whose object depends on the route (`payment_id` of a withdrawal or a top-up).
    by_route: dict[tuple[str, str], str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # names, emails: never in B's answers
    user_id: str = ""
    organization_id: str = ""


@dataclass
class Attacker:
    name: str
    client: AsyncClient
    kind: str  # user | api_key | staff


def client_for(app: Any, token: str) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://finhub.test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def ok(response: Any, status: int | tuple[int, ...] = 201) -> Any:
    expected = status if isinstance(status, tuple) else (status,)
    assert response.status_code in expected, response.text
    return response.json()


async def build_world(
    app: Any, db: Database, clock: OffsetClock, admin: AsyncClient, marker: str
) -> World:
    world = World()
    email = f"owner-a-{marker}@example.com"
    async with db.transaction() as conn:
        world.user_id = await create_user(conn, email=email, display_name=f"Ada {marker}")
        token = await session_token(conn, user_id=world.user_id, clock=clock)
        await session_token(conn, user_id=world.user_id, clock=clock)  # another device
        world.ids["notification_id"] = await notify(
            conn, user_id=world.user_id, kind="test", title=f"Secret {marker}", body="for A only"
        )
        world.ids["staff_id"] = await create_staff(conn, roles=("support",))
    world.secrets += [email, f"Ada {marker}", f"Secret {marker}"]
    async with client_for(app, token) as owner:
        org = await ok(
            await owner.post(
                "/v1/organizations",
                json={
                    "legal_name": f"Acme {marker} Ltd",
                    "registration_number": f"REG-{marker}",
                    "country": "GB",
                },
            )
        )
        world.organization_id = world.ids["organization_id"] = org["id"]
        world.secrets += [f"Acme {marker} Ltd", f"REG-{marker}"]
        base = f"/v1/organizations/{org['id']}"
        members = await ok(await owner.get(f"{base}/members"), 200)
        world.ids["member_id"] = members["data"][0]["id"]
        role = await ok(
            await owner.post(
                f"{base}/roles",
                json={"name": f"Auditors {marker}", "permissions": ["members:read"]},
            )
        )
        world.ids["role_id"] = role["id"]
        team = await ok(await owner.post(f"{base}/teams", json={"name": f"Treasury {marker}"}))
        world.ids["team_id"] = team["id"]
        invited = f"invitee-{marker}@example.com"
        invitation = await ok(
            await owner.post(f"{base}/invitations", json={"email": invited, "role": "viewer"})
        )
        world.ids["invitation_id"] = invitation["id"]
        world.secrets += [f"Auditors {marker}", f"Treasury {marker}", invited]
        key = await ok(
            await owner.post(
                "/v1/api-keys",
                json={"name": f"Export {marker}", "mode": "live", "scopes": ["profile:read"]},
            )
        )
        world.ids["key_id"] = key["id"]
        world.secrets += [f"Export {marker}", key["secret"]]
        device = SoftAuthenticator("http://finhub.test")
        options = await ok(await owner.post("/v1/me/passkeys/registration-options"), 200)
        passkey = await ok(
            await owner.post(
                "/v1/me/passkeys",
                json={"credential": device.create(options["public_key"]), "name": f"Key {marker}"},
            )
        )
        world.ids["passkey_id"] = passkey["id"]
        world.secrets.append(f"Key {marker}")
        ticket = await ok(
            await owner.post(
                "/v1/support/tickets",
                json={"subject": f"Help {marker}", "category": "account",
                      "message": f"My question {marker}"},
            )
        )  # fmt: skip
        world.ids["ticket_id"] = ticket["id"]
        world.secrets += [f"Help {marker}", f"My question {marker}"]
    async with db.connection() as conn:
        world.ids["session_id"] = await scalar(
            conn, "SELECT id FROM sessions WHERE user_id = %s LIMIT 1", world.user_id
        )
        world.ids["mail_id"] = await scalar(
            conn, "SELECT id FROM outbound_mail WHERE to_address = %s LIMIT 1", invited
        )
        world.ids["event_id"] = await scalar(
            conn, "SELECT id FROM audit_events WHERE subject_user_id = %s LIMIT 1", world.user_id
        )
    account = await ok(
        await admin.post("/v1/ledger/accounts", json={"asset": "EUR", "type": "asset"})
    )
    other = await ok(
        await admin.post("/v1/ledger/accounts", json={"asset": "EUR", "type": "asset"})
    )
    world.ids["account_id"] = account["id"]
    transfer = await ok(
        await admin.post(
            "/v1/ledger/transfers",
            json={"from_account": account["id"], "to_account": other["id"], "amount": 1,
                  "asset": "EUR"},
        )
    )  # fmt: skip
    world.ids["transaction_id"] = transfer["id"]
    async with client_for(app, token) as owner:
        await build_money_world(owner, admin, world, db, clock, marker)
    return world


async def build_money_world(
    owner: AsyncClient, admin: AsyncClient, world: World, db: Database, clock: OffsetClock,
    marker: str,
) -> None:  # fmt: skip
    """A's wallet, payments, payees, requests, quotes, schedules and webhooks."""
    wallet = await ok(await owner.get("/v1/wallets/me"), 200)
    await ok(
        await admin.post(
            "/v1/payments/bank-topups/simulate",
            json={"reference": wallet["payment_reference"], "amount": 50_000, "currency": "EUR",
                  "sender_name": f"Payer {marker}", "bank_transaction_id": f"bank-{marker}"},
        ),
        (200, 201),
    )  # fmt: skip
    activity = await ok(await owner.get("/v1/wallets/me/activity"), 200)
    world.ids["activity_id"] = activity["data"][0]["id"]
    card = await ok(
        await owner.post(
            "/v1/payments/card-tokens",
            json={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        ),
        (200, 201),
    )
    topup = await ok(
        await owner.post(
            "/v1/payments/card-topups",
            json={"card_token": card["id"], "amount": 1_000, "currency": "EUR"},
        ),
        (200, 201),
    )
    world.by_route[("/v1/payments/card-topups/", "payment_id")] = topup["id"]
    payee = await ok(
        await owner.post(
            "/v1/payees",
            json={
                "name": f"Landlord {marker}",
                "currency": "EUR",
                "iban": "DE89370400440532013000",
            },
        )
    )
    world.ids["payee_id"] = payee["id"]
    withdrawal = await ok(
        await owner.post(
            "/v1/payments/withdrawals",
            json={"payee_id": payee["id"], "amount": 100, "currency": "EUR"},
        ),
        (200, 201),
    )
    world.by_route[("/v1/payments/withdrawals/", "payment_id")] = withdrawal["id"]
    request = await ok(
        await owner.post(
            "/v1/payment-requests",
            json={"amount": 700, "currency": "EUR", "note": f"Rent share {marker}"},
        )
    )
    world.ids["request_id"] = request["id"]
    await ok(await admin.put("/v1/staff/fx/rates/EUR/USD", json={"rate": "1.1"}), (200, 201))
    quote = await ok(
        await owner.post(
            "/v1/fx/quotes",
            json={"sell_currency": "EUR", "buy_currency": "USD", "sell_amount": 1_000},
        )
    )
    world.ids["quote_id"] = quote["id"]
    async with db.transaction() as conn:
        friend = await create_user(conn, email=f"friend-{marker}@example.com")
    schedule = await ok(
        await owner.post(
            "/v1/payments/scheduled",
            json={"type": "p2p", "to": {"email": f"friend-{marker}@example.com"}, "amount": 100,
                  "currency": "EUR", "start_at": (clock.now() + timedelta(days=2)).isoformat(),
                  "rule": "FREQ=WEEKLY", "note": f"Allowance {marker}"},
        )
    )  # fmt: skip
    world.ids["schedule_id"] = schedule["id"]
    assert friend
    endpoint = await ok(
        await owner.post(
            "/v1/webhook-endpoints",
            json={"url": "https://93.184.215.14/hook", "event_types": ["payment.*"],
                  "description": f"Books {marker}"},
        )
    )  # fmt: skip
    world.ids["endpoint_id"] = endpoint["id"]
    await ok(
        await admin.post(
            "/v1/payments/bank-topups/simulate",
            json={"reference": wallet["payment_reference"], "amount": 10, "currency": "EUR",
                  "sender_name": "Top-up after the hook", "bank_transaction_id": f"hook-{marker}"},
        ),
        (200, 201),
    )  # fmt: skip
    world.ids["delivery_id"] = await first_delivery(owner, db, clock, endpoint["id"])
    batches = await ok(await admin.post("/v1/staff/payout-batches", json={}), (200, 201))
    world.ids["batch_id"] = batches["data"][0]["id"] if "data" in batches else batches[0]["id"]
    await ok(
        await admin.post(
            "/v1/payments/bank-topups/simulate",
            json={"reference": "FHNOSUCHREF", "amount": 10, "currency": "EUR",
                  "sender_name": "Unknown", "bank_transaction_id": f"unmatched-{marker}"},
        ),
        (200, 201),
    )  # fmt: skip
    unmatched = await ok(await admin.get("/v1/payments/bank-topups/unmatched"), 200)
    world.ids["credit_id"] = unmatched["data"][0]["id"]
    world.secrets += [f"Landlord {marker}", f"Rent share {marker}", f"Books {marker}",
                      f"Allowance {marker}"]  # fmt: skip


async def first_delivery(
    owner: AsyncClient, db: Database, clock: OffsetClock, endpoint: str
) -> str:
    """Dispatch until the endpoint has a delivery: the outbox's commit fence is cluster-wide,
    so a transaction open elsewhere on the server can hold the event back a moment."""
    for _ in range(100):
        await dispatch_pending(db, clock)
        deliveries = await ok(await owner.get(f"/v1/webhook-endpoints/{endpoint}/deliveries"), 200)
        if deliveries["data"]:
            return str(deliveries["data"][0]["id"])
        await asyncio.sleep(0.05)
    raise AssertionError("no webhook delivery was made")


async def scalar(conn: Any, sql: str, *params: Any) -> str:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None, sql
    return str(next(iter(row.values())))


async def attackers(app: Any, db: Database, clock: OffsetClock, marker: str) -> list[Attacker]:
    async with db.transaction() as conn:
        bob = await create_user(conn, email=f"attacker-b-{marker}@example.com")
        token = await session_token(conn, user_id=bob, clock=clock)
        support = await create_staff(conn, roles=("support",))
        support_token = await session_token(conn, staff_id=support, clock=clock)
    person = client_for(app, token)
    await ok(
        await person.post(
            "/v1/organizations",
            json={"legal_name": "B Corp", "registration_number": f"B-{marker}", "country": "FR"},
        )
    )
    # B's key carries every scope, so only ownership can stop it.
    key = await ok(
        await person.post(
            "/v1/api-keys", json={"name": "all scopes", "mode": "live", "scopes": ALL_SCOPES}
        )
    )
    return [
        Attacker("B's session", person, "user"),
        Attacker("B's API key", client_for(app, key["secret"]), "api_key"),
        Attacker("support staff", client_for(app, support_token), "staff"),
    ]


ALL_SCOPES = list(SCOPES)


# --- requests built from the schema -------------------------------------------------------------


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def example(schema: dict[str, Any], node: dict[str, Any], name: str, world: World) -> Any:
    """A plausible value for a field; fields that reference objects get A's ids."""
    node = resolve(schema, node)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if resolve(schema, o).get("type") != "null"]
            return example(schema, options[0], name, world) if options else None
    if name in world.ids:
        return world.ids[name]
    if name in FIELD_EXAMPLES:
        return FIELD_EXAMPLES[name]
    if name.endswith("_ids") and name[:-1] in world.ids:
        return [world.ids[name[:-1]]]
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "object":
        return {
            prop: example(schema, sub, prop, world)
            for prop, sub in node.get("properties", {}).items()
            if prop in node.get("required", [])
        }
    if kind == "array":
        count = int(node.get("minItems", 0))
        return [example(schema, node.get("items", {}), name, world) for _ in range(count)]
    if kind == "integer":
        return max(1, int(node.get("minimum", 1)))
    if kind == "boolean":
        return False
    if node.get("format") == "email" or "email" in name:
        return "someone@example.com"
    return "x" * max(1, int(node.get("minLength", 1)))


# Values a field's schema can't express (checked by a validator), so that attacks get past
# validation to the ownership check.
FIELD_EXAMPLES: dict[str, Any] = {"role": "viewer", "permissions": ["members:read"]}


def body_for(schema: dict[str, Any], operation: dict[str, Any], world: World) -> Any:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    return example(schema, content["schema"], "", world)


def path_with(path: str, values: dict[str, str], world: World | None = None) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        for (prefix, parameter), value in (world.by_route if world else {}).items():
            if parameter == name and path.startswith(prefix):
                return value
        if name in SETTING_PARAMETERS:
            return SETTING_PARAMETERS[name]
        assert name in values, f"{path}: add A's `{name}` to the world in this test"
        return values[name]

    return re.sub(r"{([a-z_]+)}", fill, path)


# --- the walk ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def schema(app_client: AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await app_client.get("/openapi.json")).json()
    return document


async def test_every_protected_route_rejects_anonymous_calls(
    schema: dict[str, Any], anonymous_client: AsyncClient
) -> None:
    dummy = dict.fromkeys(re.findall(r"{([a-z_]+)}", " ".join(schema["paths"])), "x_0")
    undeclared = []
    for method, path, operation in operations(schema):
        if "x-finhub-access" not in operation:
            if (method, path) not in PUBLIC_OPERATIONS:
                undeclared.append(f"{method} {path}")
            continue
        response = await anonymous_client.request(
            method, path_with(path, dummy), json=body_for(schema, operation, World())
        )
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"] == "application/problem+json"
    assert not undeclared, f"operations without an access declaration: {undeclared}"


async def test_no_route_leaks_or_changes_another_owners_data(
    app: Any, schema: dict[str, Any], app_client: AsyncClient, db: Database, clock: OffsetClock
) -> None:
    marker = "bola"
    world = await build_world(app, db, clock, app_client, marker)
    before = await owned_rows(db, world)
    for attacker in await attackers(app, db, clock, marker):
        try:
            for method, path, operation in operations(schema):
                if "x-finhub-access" not in operation:
                    continue
                if "{" in path:
                    await attack_object(attacker, method, path, operation, schema, world)
                elif method == "GET":
                    await read_own(attacker, path, world)
        finally:
            await attacker.client.aclose()
    assert await owned_rows(db, world) == before


async def attack_object(
    attacker: Attacker,
    method: str,
    path: str,
    operation: dict[str, Any],
    schema: dict[str, Any],
    world: World,
) -> None:
    access = operation["x-finhub-access"]
    if attacker.kind == "staff" and (
        "staff" in access["principals"]
        and (not access["staff_roles"] or "support" in access["staff_roles"])
    ):
        return  # staff who may use a back-office route see every customer by design
    response = await attacker.client.request(
        method, path_with(path, world.ids, world), json=body_for(schema, operation, world)
    )
    where = f"{attacker.name}: {method} {path}"
    assert 400 <= response.status_code < 500, f"{where} answered {response.status_code}"
    assert response.status_code != 401, f"{where}: the attacker's credentials are valid"
    leaked = [secret for secret in world.secrets if secret in response.text]
    assert not leaked, f"{where} leaked {leaked}"


async def read_own(attacker: Attacker, path: str, world: World) -> None:
    response = await attacker.client.get(path)
    where = f"{attacker.name}: GET {path}"
    if attacker.kind == "staff" and response.status_code == 200:
        return  # a back-office list is meant to show everyone
    assert response.status_code < 500, f"{where} answered {response.status_code}"
    leaked = [v for v in [*world.ids.values(), *world.secrets] if v in response.text]
    assert not leaked, f"{where} leaked {leaked}"


async def owned_rows(db: Database, world: World) -> dict[str, list[Any]]:
    """Every row of every table that references A or A's organisation (audit events aside:
    refused attempts may add records, which is the point of them)."""
    async with db.connection() as conn:
        cursor = await conn.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'public'
               AND column_name IN ('user_id', 'organization_id', 'subject_id', 'id')
               AND table_name NOT IN ('audit_events', 'auth_throttles', 'idempotency_keys')
             ORDER BY table_name, column_name
            """
        )
        columns = await cursor.fetchall()
        rows: dict[str, list[Any]] = {}
        targets = [world.user_id, world.organization_id, *world.ids.values()]
        for column in columns:
            table, name = column["table_name"], column["column_name"]
            if table.startswith(("procrastinate", "alembic")):
                continue
            found = await conn.execute(
                f'SELECT to_jsonb(t) - %s AS row FROM "{table}" t'  # noqa: S608 (catalogue names)
                f' WHERE "{name}"::text = ANY(%s) ORDER BY to_jsonb(t)::text',
                (["last_seen_at", "idle_expires_at", "last_used_at", "last_used_ip"], targets),
            )
            rows[f"{table}.{name}"] = [r["row"] for r in await found.fetchall()]
        return rows
