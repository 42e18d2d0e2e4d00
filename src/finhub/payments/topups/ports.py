"""The card-processor port: what finhub needs from a card processor, whoever it is.

The sandbox in `finhub.integrations.card_sandbox` implements it and behaves like a real
processor in test mode (published test cards, declines, 3-D Secure, signed webhooks). A real
processor's adapter implements the same Protocol; services receive one as a parameter.

The card number and CVC cross this boundary exactly once, in `tokenize`; everything after it
speaks of the processor's token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from finhub.errors import FinhubError

AuthorizationStatus = Literal["requires_action", "authorized", "captured", "declined", "failed"]
ChallengeOutcome = Literal["approve", "deny"]


class CardRejected(FinhubError):
    """The processor refused the card details themselves (not a decline of a charge):
    `card_number_invalid`, `card_expired`, `expiry_invalid`, `cvc_invalid`."""

    status = 422
    code = "card_invalid"
    title = "The card details are not valid"


class WebhookSignatureInvalid(FinhubError):
    """A webhook that is forged, altered, or older than the accepted tolerance (a replay)."""

    status = 400
    code = "webhook_signature_invalid"
    title = "The webhook signature is not valid"


class ProcessorUnavailable(FinhubError):
    status = 502
    code = "processor_unavailable"
    title = "The card processor did not answer"


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What a person types in. `repr` hides the number and CVC so no log line can carry them."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class VaultedCard:
    """The processor's token for a card and what may be shown of it."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class Authorization:
    """A charge as the processor sees it."""

    charge_id: str
    status: AuthorizationStatus
    amount: int
    currency: str
    amount_captured: int = 0
    amount_refunded: int = 0
    decline_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_id: str
    charge_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class ProcessorEvent:
    """A webhook event the processor sent, after its signature was checked."""

    id: str
    type: str  # charge.captured | charge.failed | charge.refunded
    charge_id: str
    data: dict[str, Any]


class CardProcessor(Protocol):
    """A card processor. Every call that moves money takes an idempotency key: calling again
    with the same key returns the first result and charges nothing twice."""

    async def tokenize(self, card: CardDetails) -> VaultedCard:
        """Vault the card; raises `CardRejected` for a bad number, expiry or CVC."""
        ...

    async def authorize(
        self,
        *,
        token: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Authorization:
        """Authorise `amount`: `authorized`, `requires_action` (3-D Secure), `declined`
        (with `decline_code`) or `failed` (`processing_error`)."""
        ...

    async def complete_challenge(self, charge_id: str, outcome: ChallengeOutcome) -> Authorization:
        """Finish a 3-D Secure challenge: `authorized` if approved, `declined` if not."""
        ...

    async def capture(self, charge_id: str) -> Authorization:
        """Ask for the authorised amount to be captured; the processor confirms the capture
        with a `charge.captured` webhook."""
        ...

    async def refund(self, charge_id: str, amount: int, *, idempotency_key: str) -> RefundResult:
        """Return `amount` of a captured charge to the card."""
        ...

    def verify_webhook(self, body: bytes, signature_header: str | None) -> ProcessorEvent:
        """Check a webhook's signature and timestamp and parse it; raises
        `WebhookSignatureInvalid` for a forged, altered or replayed message."""
        ...
