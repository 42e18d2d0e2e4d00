"""Sending webhook deliveries: signed POSTs with retries, backoff and a delivery log.

Due deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a lease in a short transaction,
then sent with no transaction open, and each attempt is logged with its outcome afterwards: any
number of senders can run side by side, and a sender that dies mid-request leaves its claim to
expire and be tried again (receivers deduplicate on `webhook-id`, which every attempt of a
delivery shares).

Before every attempt the destination is checked again and the request goes to the very address
that passed (DNS rebinding can't redirect it inside finhub's network). Redirects are not
followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from finhub.identity.factors.crypto import CannotOpen, Keyring, Sealed
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Database, Row
from finhub.kit.logging import get_logger
from finhub.webhooks import repository
from finhub.webhooks.errors import DestinationRefused
from finhub.webhooks.signing import open_secret, signature_headers
from finhub.webhooks.ssrf import EgressPolicy

log = get_logger(__name__)

MAX_ERROR = 500
MAX_EXCERPT = 1000
USER_AGENT = "finhub-webhooks/1"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """After a failed attempt, wait 5 s, 30 s, 2 min, 10 min, 1 h, 2 h, 4 h, 8 h, 8 h (each
    ±10 % so a receiver coming back up isn't hit by every sender at once); ten attempts over
    about 23 hours, then the delivery is `failed`."""

    schedule: tuple[timedelta, ...] = (
        timedelta(seconds=5),
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=8),
        timedelta(hours=8),
    )
    jitter: float = 0.1
    timeout: float = 10.0  # seconds, per request
    lease: timedelta = timedelta(minutes=2)  # longer than any request can take
    batch: int = 20

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay_after(self, attempts: int) -> timedelta | None:
        """The wait after the `attempts`-th failed attempt; None when it was the last."""
        if attempts >= self.max_attempts:
            return None
        base = self.schedule[max(attempts, 1) - 1]
        return base * (1 + random.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class SendReport:
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: SendReport) -> SendReport:
        return SendReport(
            self.succeeded + other.succeeded,
            self.retrying + other.retrying,
            self.failed + other.failed,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """Sends deliveries through `transport` (httpx's network transport when None; tests pass
    `httpx.MockTransport` or point at a local server)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        keyring: Keyring,
        egress: EgressPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.keyring = keyring
        self.egress = egress
        self.transport = transport
        self.policy = policy or RetryPolicy()

    async def deliver_due(self) -> SendReport:
        """Attempt every delivery that is due now, batch by batch."""
        total = SendReport()
        async with self._client() as client:
            while True:
                now = self.clock.now()
                async with self.db.connection() as conn:
                    claimed = await repository.claim_due(
                        conn,
                        now=now,
                        lease_until=now + self.policy.lease,
                        limit=self.policy.batch,
                    )
                results = await asyncio.gather(
                    *(self._attempt(client, row, "scheduled") for row in claimed)
                )
                for result in results:
                    total += result
                if len(claimed) < self.policy.batch:
                    return total

    async def attempt_now(self, delivery_id: str) -> SendReport:
        """One attempt of this delivery at once (a replay); nothing if another sender holds
        it right now. The caller has already checked that the delivery is the caller's."""
        now = self.clock.now()
        async with self.db.connection() as conn:
            row = await repository.claim_one(conn, delivery_id, lease_until=now + self.policy.lease)
        if row is None:
            return SendReport()
        async with self._client() as client:
            return await self._attempt(client, row, "replay")

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport,
            timeout=self.policy.timeout,
            follow_redirects=False,
            trust_env=False,  # never through a proxy from the environment
        )

    async def _attempt(self, client: httpx.AsyncClient, row: Row, trigger: str) -> SendReport:
        started_at = self.clock.now()
        began = time.monotonic()
        outcome = await self._send(client, row, started_at)
        duration_ms = int((time.monotonic() - began) * 1000)
        attempts = row["attempts"]
        if outcome.succeeded:
            status, next_at, report = "succeeded", None, SendReport(succeeded=1)
        else:
            delay = self.policy.delay_after(attempts)
            if delay is None:
                status, next_at, report = "failed", None, SendReport(failed=1)
            else:
                status, next_at = "pending", self.clock.now() + delay
                report = SendReport(retrying=1)
        attempt = {
            "delivery_id": row["id"],
            "number": attempts,
            "trigger": trigger,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "status_code": outcome.status_code,
            "succeeded": outcome.succeeded,
            "error": outcome.error,
            "response_excerpt": outcome.excerpt,
        }
        async with self.db.transaction() as conn:
            await repository.finish_attempt(conn, attempt, status=status, next_attempt_at=next_at)
        if not outcome.succeeded:
            log.info(
                "webhook attempt failed",
                delivery_id=row["id"],
                attempts=attempts,
                status=status,
                error=outcome.error,
                status_code=outcome.status_code,
            )
        return report

    async def _send(self, client: httpx.AsyncClient, row: Row, now: datetime) -> Outcome:
        try:
            target = await self.egress.check(row["url"])
            signing_secrets = self._secrets(row, now)
        except DestinationRefused as refused:
            return Outcome(error=_short(f"destination refused: {refused.detail}"))
        except CannotOpen:
            return Outcome(error="the endpoint's signing secret can't be opened")
        headers = {
            **signature_headers(row["id"], now, row["body"], signing_secrets),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.host_header,
        }
        extensions: dict[str, Any] = {}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host  # TLS checks the name, not the address
        try:
            async with client.stream(
                "POST",
                target.pinned_url,
                content=row["body"].encode(),
                headers=headers,
                extensions=extensions,
            ) as response:
                excerpt = await _read_excerpt(response)
                return Outcome(status_code=response.status_code, excerpt=excerpt)
        except httpx.TimeoutException:
            return Outcome(error=f"timed out after {self.policy.timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome(error=_short(f"{type(error).__name__}: {error}"))

    def _secrets(self, row: Row, now: datetime) -> list[str]:
        """The current secret, and the previous one while its overlap after a roll lasts."""
        found = [
            open_secret(
                self.keyring, row["endpoint_id"], Sealed(row["secret_key_id"], row["secret_sealed"])
            )
        ]
        expires = row["previous_secret_expires_at"]
        if row["previous_secret_sealed"] is not None and expires is not None and expires > now:
            previous = Sealed(row["previous_secret_key_id"], row["previous_secret_sealed"])
            found.append(open_secret(self.keyring, row["endpoint_id"], previous))
        return found


async def _read_excerpt(response: httpx.Response) -> str | None:
    """The start of the answer, for the delivery log (the rest is never read)."""
    received = b""
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= MAX_EXCERPT:
            break
    text = received[:MAX_EXCERPT].decode("utf-8", errors="replace")[:MAX_EXCERPT]
    return text or None


def _short(text: str) -> str:
    return text[:MAX_ERROR]


@dataclass(frozen=True, slots=True)
class WebhookOutside:
    """The outside world webhooks reach: which destinations are allowed (and how names are
    resolved), the HTTP transport and the retry policy. The API reads it from
    `app.state.webhook_outside` when set (tests pass a resolver and a mock transport that
    way) and otherwise uses the real network under the settings' rules."""

    egress: EgressPolicy
    transport: httpx.AsyncBaseTransport | None = None
    policy: RetryPolicy | None = None

    def sender(self, db: Database, clock: Clock, keyring: Keyring) -> WebhookSender:
        return WebhookSender(
            db, clock, keyring, self.egress, transport=self.transport, policy=self.policy
        )
