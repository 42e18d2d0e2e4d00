"""The processor's signed webhooks (forged, replayed, duplicated), the sandbox posting its
webhooks to the app by itself, another processor passed to the service, and refunds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from httpx import ASGITransport, AsyncClient

from finhub.audit.service import AuditContext
from finhub.integrations.card_sandbox import CardSandbox, HttpWebhookDelivery
from finhub.integrations.card_sandbox.signing import SIGNATURE_HEADER, signature_header
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.service import LedgerService
from finhub.payments.topups import service
from finhub.payments.topups.ports import (
    Authorization,
    CardDetails,
    ChallengeOutcome,
    ProcessorEvent,
    RefundResult,
    VaultedCard,
)
from finhub.payments.topups.processor import WEBHOOK_PATH, card_processor
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from tests.factories import create_user
from tests.payments.topups.support import (
    Person,
    card_token,
    completed_topup,
    deliver_webhooks,
    eur_balance,
    fastapi_app,
    sandbox_of,
    top_up,
)

pytestmark = pytest.mark.usefixtures("ledger_is_clean")


async def _pending_capture(
    app: Any, person: Person
) -> tuple[dict[str, Any], bytes, dict[str, str]]:
    topup = (await top_up(person, await card_token(person), 3_000)).json()
    [(body, headers)] = await sandbox_of(app).signed_events(topup["processor_charge_id"])
    return topup, body, headers


async def test_a_forged_webhook_is_rejected_and_changes_nothing(
    app: Any, person: Person, anonymous_client: AsyncClient, db: Database
) -> None:
    topup, body, _ = await _pending_capture(app, person)
    forged = signature_header(
        "not-the-secret", int(fastapi_app(app).state.container.clock.now().timestamp()), body
    )
    for headers in ({SIGNATURE_HEADER: forged}, {}):
        response = await anonymous_client.post(WEBHOOK_PATH, content=body, headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == "webhook_signature_invalid"
    # A genuine signature over another body does not carry over.
    [(_, genuine)] = await sandbox_of(app).signed_events(topup["processor_charge_id"])
    altered = body.replace(b"3000", b"9000")
    response = await anonymous_client.post(WEBHOOK_PATH, content=altered, headers=genuine)
    assert response.status_code == 400
    shown = (await person.client.get(f"/v1/payments/card-topups/{topup['id']}")).json()
    assert shown["status"] == "processing"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 0


async def test_a_replayed_webhook_is_rejected_after_the_tolerance(
    app: Any, person: Person, anonymous_client: AsyncClient, clock: OffsetClock
) -> None:
    topup, body, headers = await _pending_capture(app, person)
    clock.advance(timedelta(minutes=6))
    response = await anonymous_client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "webhook_timestamp_out_of_tolerance"
    shown = (await person.client.get(f"/v1/payments/card-topups/{topup['id']}")).json()
    assert shown["status"] == "processing"
    # The processor signs again when it retries, and that one is accepted.
    [receipt] = await deliver_webhooks(app, topup["processor_charge_id"])
    assert receipt.json()["result"] == "applied"


async def test_a_duplicated_webhook_changes_nothing(
    app: Any, person: Person, anonymous_client: AsyncClient, db: Database
) -> None:
    _topup, body, headers = await _pending_capture(app, person)
    first = await anonymous_client.post(WEBHOOK_PATH, content=body, headers=headers)
    second = await anonymous_client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert first.json()["result"] == "applied"
    assert second.status_code == 200
    assert second.json()["result"] == "duplicate"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 3_000


async def test_a_webhook_for_an_unknown_charge_asks_the_processor_to_retry(
    app: Any, anonymous_client: AsyncClient
) -> None:
    sandbox = sandbox_of(app)
    body = orjson.dumps(
        {"id": "evt_unknown_1", "type": "charge.captured", "data": {"charge_id": "ch_nobody"}}
    )
    now = int(fastapi_app(app).state.container.clock.now().timestamp())
    headers = {SIGNATURE_HEADER: signature_header(sandbox.webhook_secret, now, body)}
    response = await anonymous_client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "charge_unknown"
    again = await anonymous_client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert again.status_code == 409  # not recorded as seen: a later retry is applied


async def test_the_sandbox_posts_its_webhooks_to_the_app_itself(
    app: Any, person: Person, db: Database
) -> None:
    """How `finhub serve` runs: the processor delivers its signed events over HTTP."""
    inner = fastapi_app(app)
    container = inner.state.container
    app_sandbox = sandbox_of(app)
    delivering = CardSandbox(
        container.db,
        container.clock,
        vault_secret="unused-for-delivery-only",
        webhook_secret=app_sandbox.webhook_secret,
        delivery=HttpWebhookDelivery(
            "http://finhub.test" + WEBHOOK_PATH, transport=ASGITransport(app=app)
        ),
    )
    inner.dependency_overrides[card_processor] = lambda: app_sandbox
    try:
        topup = (await top_up(person, await card_token(person), 4_000)).json()
        assert topup["status"] == "processing"
        assert await delivering.deliver_due() >= 1
    finally:
        inner.dependency_overrides.pop(card_processor, None)
    shown = (await person.client.get(f"/v1/payments/card-topups/{topup['id']}")).json()
    assert shown["status"] == "completed"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.available == 4_000


class DecliningProcessor:
    """Another processor behind the same port: declines everything with its own code."""

    def __init__(self) -> None:
        self.authorized: list[int] = []

    async def tokenize(self, card: CardDetails) -> VaultedCard:
        return VaultedCard("other_tok", "visa", card.number[-4:], card.exp_month, card.exp_year)

    async def authorize(
        self, *, token: str, amount: int, currency: str, idempotency_key: str,
        metadata: dict[str, str],
    ) -> Authorization:  # fmt: skip
        self.authorized.append(amount)
        return Authorization(
            "other_ch_1", "declined", amount, currency, decline_code="do_not_honor"
        )

    async def complete_challenge(self, charge_id: str, outcome: ChallengeOutcome) -> Authorization:
        raise AssertionError("no challenge expected")

    async def capture(self, charge_id: str) -> Authorization:
        raise AssertionError("nothing to capture")

    async def refund(self, charge_id: str, amount: int, *, idempotency_key: str) -> RefundResult:
        raise AssertionError("nothing to refund")

    def verify_webhook(self, body: bytes, signature_header: str | None) -> ProcessorEvent:
        raise AssertionError("no webhooks")


async def test_the_service_takes_any_processor_behind_the_port(
    conn: Connection, ledger: LedgerService, clock: OffsetClock
) -> None:
    processor = DecliningProcessor()
    user_id = await create_user(conn)
    card = await service.tokenize_card(
        conn, processor, clock, user_id, CardDetails("4111111111111111", 1, 2090, "999")
    )
    topup = await service.create_card_topup(
        conn, ledger, processor, AuditContext.system("test"), user_id=user_id,
        card_token=card["id"], amount=1_200, currency="EUR", idempotency_key=None,
    )  # fmt: skip
    assert processor.authorized == [1_200]
    assert topup.payment.status == "failed"
    assert topup.payment.failure_code == "do_not_honor"
    assert topup.payment.hold_transaction_id is None


# --- refunds ----------------------------------------------------------------------------------


async def test_partial_then_full_refund(app: Any, person: Person, db: Database) -> None:
    topup = await completed_topup(app, person, 10_000)
    refunds = f"/v1/payments/card-topups/{topup['id']}/refunds"
    partial = await person.client.post(refunds, json={"amount": 4_000})
    assert partial.status_code == 201, partial.text
    assert partial.json()["object"] == "card_topup_refund"
    assert partial.json()["amount"] == 4_000
    assert partial.json()["topup"]["refunded_amount"] == 4_000
    assert partial.json()["topup"]["status"] == "completed"
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 6_000

    too_much = await person.client.post(refunds, json={"amount": 6_001})
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "refund_exceeds_captured"
    assert too_much.json()["refundable"] == 6_000

    rest = await person.client.post(refunds, json={})
    assert rest.status_code == 201
    assert rest.json()["amount"] == 6_000
    assert rest.json()["topup"]["status"] == "refunded"
    assert len(rest.json()["topup"]["refunds"]) == 2
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 0
    charge = await sandbox_of(app).signed_events(topup["processor_charge_id"])
    assert [orjson.loads(body)["type"] for body, _ in charge] == [
        "charge.captured", "charge.refunded", "charge.refunded"
    ]  # fmt: skip

    after = await person.client.post(refunds, json={"amount": 1})
    assert after.status_code == 409
    assert after.json()["code"] == "payment_state_conflict"


async def test_a_retried_refund_refunds_once(app: Any, person: Person, db: Database) -> None:
    topup = await completed_topup(app, person, 5_000)
    refunds = f"/v1/payments/card-topups/{topup['id']}/refunds"
    headers = {"Idempotency-Key": "refund-1"}
    first = await person.client.post(refunds, json={"amount": 1_000}, headers=headers)
    second = await person.client.post(refunds, json={"amount": 1_000}, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 4_000


async def test_a_refund_needs_the_money_in_the_wallet(
    app: Any, person: Person, db: Database, clock: OffsetClock
) -> None:
    topup = await completed_topup(app, person, 5_000)
    ledger = LedgerService(clock)
    async with db.transaction() as conn:  # the person spends most of it
        wallet = await wallets.wallet_for_user(conn, person.user_id)
        account = await wallets.balance_account(conn, ledger, wallet, "EUR")
        payout = await system_account(conn, ledger, SystemAccount.PAYOUT_CLEARING, "EUR")
        await ledger.post_one(
            conn,
            ledger.transfer_spec(
                from_account=account, to_account=payout, amount=4_500, asset="EUR"
            ),
        )
    response = await person.client.post(
        f"/v1/payments/card-topups/{topup['id']}/refunds", json={"amount": 1_000}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    shown = (await person.client.get(f"/v1/payments/card-topups/{topup['id']}")).json()
    assert shown["refunded_amount"] == 0
    assert shown["refunds"] == []
    balance = await eur_balance(db, person.user_id)
    assert balance is not None
    assert balance.balance == 500


async def test_a_top_up_not_yet_captured_cannot_be_refunded(app: Any, person: Person) -> None:
    topup = (await top_up(person, await card_token(person), 2_000)).json()
    response = await person.client.post(f"/v1/payments/card-topups/{topup['id']}/refunds", json={})
    assert response.status_code == 409
    assert response.json()["code"] == "payment_state_conflict"
