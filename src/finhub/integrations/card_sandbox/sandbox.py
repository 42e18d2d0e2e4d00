"""A card processor sandbox that behaves like a real processor in test mode.

It keeps its own state in its own tables (so a restart loses nothing): the vault of card
numbers (sealed), charges and refunds, and the webhook events it owes the merchant. Published
test cards decline, fail or ask for 3-D Secure (`cards.TEST_CARDS`); every money-moving call is
idempotent by key; confirmations go out as signed webhooks, retried with backoff until the
merchant answers 2xx. Calls commit in the sandbox's own transactions, independent of the
caller's, as a call to another company's API would.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
from ulid import ULID

from finhub.errors import Conflict, NotFound, Unprocessable
from finhub.integrations.card_sandbox import cards, repository, signing
from finhub.integrations.card_sandbox.delivery import WebhookDelivery
from finhub.integrations.card_sandbox.vault import Vault
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection, Database
from finhub.kit.logging import get_logger
from finhub.payments.topups.ports import (
    Authorization,
    CardDetails,
    CardRejected,
    ChallengeOutcome,
    ProcessorEvent,
    RefundResult,
    VaultedCard,
    WebhookSignatureInvalid,
)

log = get_logger(__name__)
RETRY_DELAYS = (1, 2, 5, 15, 60)  # seconds between delivery attempts
FIRST_DELIVERY_DELAY = 0.5


def _sandbox_id(prefix: str) -> str:
    """The sandbox's own ids (`pm_`, `ch_`, `re_`, `evt_`), in its namespace, not finhub's."""
    return f"{prefix}_{ULID()}"


class CardSandbox:
    """Implements `finhub.payments.topups.ports.CardProcessor`."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        vault_secret: str,
        webhook_secret: str,
        delivery: WebhookDelivery | None = None,
        tolerance_seconds: int = signing.DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.vault = Vault(vault_secret)
        self.webhook_secret = webhook_secret
        self.delivery = delivery
        self.tolerance_seconds = tolerance_seconds
        self._deliveries: set[asyncio.Task[None]] = set()

    # --- the processor's API -------------------------------------------------------------------

    async def tokenize(self, card: CardDetails) -> VaultedCard:
        now = self.clock.now()
        number = cards.check_card(card, now)
        method_id = _sandbox_id("pm")
        brand = cards.brand_of(number)
        async with self.db.transaction() as conn:
            await repository.insert_payment_method(
                conn,
                method_id=method_id,
                sealed_pan=self.vault.seal(number, method_id),
                key_id=self.vault.key_id,
                fingerprint=self.vault.fingerprint(number),
                brand=brand,
                last4=number[-4:],
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                now=now,
            )
        return VaultedCard(method_id, brand, number[-4:], card.exp_month, card.exp_year)

    async def authorize(
        self,
        *,
        token: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Authorization:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            earlier = await repository.charge_by_key(conn, idempotency_key)
            if earlier is not None:
                return _authorization(earlier)
            method = await repository.find_payment_method(conn, token)
            if method is None:
                raise CardRejected("The processor knows no such card.", code="card_token_invalid")
            behaviour = cards.behaviour_of(self.vault.open(method["sealed_pan"], token))
            if cards.expired(method["exp_month"], method["exp_year"], now):
                behaviour = cards.TEST_CARDS["4000000000000069"]
            charge, created = await repository.insert_charge_once(
                conn,
                charge_id=_sandbox_id("ch"),
                method_id=token,
                idempotency_key=idempotency_key,
                amount=amount,
                currency=currency,
                status=behaviour.outcome,
                decline_code=behaviour.decline_code,
                metadata=metadata,
                now=now,
            )
            if created and behaviour.outcome in ("declined", "failed"):
                await self._emit(conn, "charge.failed", charge)
        self._deliver_later()
        return _authorization(charge, behaviour.message)

    async def complete_challenge(self, charge_id: str, outcome: ChallengeOutcome) -> Authorization:
        async with self.db.transaction() as conn:
            charge = await self._locked(conn, charge_id)
            if charge["status"] != "requires_action":
                return _authorization(charge)
            if outcome == "approve":
                charge = await repository.update_charge(
                    conn, charge_id, self.clock.now(), status="authorized"
                )
            else:
                charge = await repository.update_charge(
                    conn,
                    charge_id,
                    self.clock.now(),
                    status="declined",
                    decline_code="authentication_failed",
                )
                await self._emit(conn, "charge.failed", charge)
        self._deliver_later()
        return _authorization(charge, None if outcome == "approve" else "3-D Secure failed.")

    async def capture(self, charge_id: str) -> Authorization:
        async with self.db.transaction() as conn:
            charge = await self._locked(conn, charge_id)
            if charge["status"] == "captured":
                return _authorization(charge)
            if charge["status"] != "authorized":
                raise Conflict(f"The charge is {charge['status']}.", code="charge_not_capturable")
            charge = await repository.update_charge(
                conn,
                charge_id,
                self.clock.now(),
                status="captured",
                amount_captured=charge["amount"],
            )
            await self._emit(conn, "charge.captured", charge)
        self._deliver_later()
        return _authorization(charge)

    async def refund(self, charge_id: str, amount: int, *, idempotency_key: str) -> RefundResult:
        async with self.db.transaction() as conn:
            earlier = await repository.refund_by_key(conn, idempotency_key)
            if earlier is not None:
                return RefundResult(earlier["id"], earlier["charge_id"], int(earlier["amount"]))
            charge = await self._locked(conn, charge_id)
            left = int(charge["amount_captured"]) - int(charge["amount_refunded"])
            if charge["status"] != "captured" or not 0 < amount <= left:
                raise Unprocessable(
                    f"At most {left} of the charge can be refunded.", code="refund_not_possible"
                )
            refund_id = _sandbox_id("re")
            await repository.insert_refund(
                conn,
                refund_id=refund_id,
                charge_id=charge_id,
                idempotency_key=idempotency_key,
                amount=amount,
                now=self.clock.now(),
            )
            charge = await repository.update_charge(
                conn,
                charge_id,
                self.clock.now(),
                amount_refunded=int(charge["amount_refunded"]) + amount,
            )
            await self._emit(conn, "charge.refunded", charge, refund_id=refund_id, amount=amount)
        self._deliver_later()
        return RefundResult(refund_id, charge_id, amount)

    def verify_webhook(self, body: bytes, signature_header: str | None) -> ProcessorEvent:
        signing.verify(
            self.webhook_secret,
            signature_header,
            body,
            now=int(self.clock.now().timestamp()),
            tolerance=self.tolerance_seconds,
        )
        try:
            event = orjson.loads(body)
            return ProcessorEvent(
                id=str(event["id"]),
                type=str(event["type"]),
                charge_id=str(event["data"]["charge_id"]),
                data=dict(event["data"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise WebhookSignatureInvalid(
                "The webhook body is not an event.", code="webhook_malformed"
            ) from error

    # --- webhooks out --------------------------------------------------------------------------

    async def signed_events(self, charge_id: str) -> list[tuple[bytes, dict[str, str]]]:
        """Every event about `charge_id`, signed now, as (body, headers): what the sandbox
        would POST (for tests, and for resending by hand like a processor's dashboard)."""
        async with self.db.connection() as conn:
            events = await repository.events_for_charge(conn, charge_id)
        return [self._signed(event["payload"]) for event in events]

    async def deliver_due(self, limit: int = 50) -> int:
        """Send every event that is due; failed ones wait for their next attempt."""
        if self.delivery is None:
            return 0
        delivered = 0
        async with self.db.transaction() as conn:
            for event in await repository.claim_due_events(conn, self.clock.now(), limit):
                body, headers = self._signed(event["payload"])
                status = await self.delivery.send(body, headers)
                if 200 <= status < 300:
                    await repository.mark_delivered(conn, event["id"], self.clock.now())
                    delivered += 1
                    continue
                delay = RETRY_DELAYS[min(event["attempts"], len(RETRY_DELAYS) - 1)]
                log.warning(
                    "card sandbox webhook not accepted", event_id=event["id"], status=status
                )
                await repository.mark_failed(
                    conn, event["id"], self.clock.now() + timedelta(seconds=delay)
                )
        return delivered

    def _deliver_later(self) -> None:
        """The processor sends its webhooks on its own, shortly after the change (a task in
        this process, retrying with backoff while events are still owed)."""
        if self.delivery is None:
            return
        task = asyncio.get_running_loop().create_task(self._delivery_run())
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _delivery_run(self) -> None:
        await asyncio.sleep(FIRST_DELIVERY_DELAY)
        for delay in (0, *RETRY_DELAYS):
            await asyncio.sleep(delay)
            try:
                await self.deliver_due()
                if not await self._owes_events():
                    return
            except Exception:
                log.exception("card sandbox webhook delivery failed")

    async def _owes_events(self) -> bool:
        async with self.db.connection() as conn:
            cursor = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM card_sandbox_events WHERE delivered_at IS NULL)"
            )
            row = await cursor.fetchone()
        return bool(row and next(iter(row.values())))

    def _signed(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(payload)
        timestamp = int(self.clock.now().timestamp())
        header = signing.signature_header(self.webhook_secret, timestamp, body)
        return body, {signing.SIGNATURE_HEADER: header}

    async def _emit(
        self, conn: Connection, type: str, charge: dict[str, Any], **extra: Any
    ) -> None:
        event_id = _sandbox_id("evt")
        now = self.clock.now()
        payload = {
            "id": event_id,
            "type": type,
            "created": int(now.timestamp()),
            "data": {
                "charge_id": charge["id"],
                "status": charge["status"],
                "amount": int(charge["amount"]),
                "currency": charge["currency"],
                "amount_captured": int(charge["amount_captured"]),
                "amount_refunded": int(charge["amount_refunded"]),
                "decline_code": charge["decline_code"],
                **extra,
            },
        }
        await repository.insert_event(conn, event_id=event_id, type=type, payload=payload, now=now)

    async def _locked(self, conn: Connection, charge_id: str) -> dict[str, Any]:
        charge = await repository.lock_charge(conn, charge_id)
        if charge is None:
            raise NotFound(f"The processor has no charge {charge_id}.", code="charge_not_found")
        return charge


def _authorization(charge: dict[str, Any], message: str | None = None) -> Authorization:
    return Authorization(
        charge_id=charge["id"],
        status=charge["status"],
        amount=int(charge["amount"]),
        currency=charge["currency"],
        amount_captured=int(charge["amount_captured"]),
        amount_refunded=int(charge["amount_refunded"]),
        decline_code=charge["decline_code"],
        message=message or _message_for(charge["decline_code"]),
    )


def _message_for(decline_code: str | None) -> str | None:
    for behaviour in cards.TEST_CARDS.values():
        if behaviour.decline_code == decline_code and decline_code is not None:
            return behaviour.message
    return None
