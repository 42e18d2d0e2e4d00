"""Step-up for large payments (issue: "payments over a threshold require a fresh second factor
or the payment PIN").

A person's session must have proven a second factor (or the PIN) within `step_up_minutes`
before sending more than `step_up_payment_threshold` (minor units of EUR, other currencies at
the mid rate). API keys are exempt: creating one already took a stepped-up session, and a
server-to-server client has no one to ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from finhub.fx import service as fx
from finhub.identity.principal import Principal, require_fresh_second_factor
from finhub.kit.db.engine import Connection

THRESHOLD_CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class PaymentStepUp:
    request: Request
    principal: Principal
    threshold: int

    async def check(self, conn: Connection, amount: int, currency: str) -> None:
        """Raise 403 `step_up_required` when this payment is large and the session isn't
        freshly stepped up."""
        if self.principal.kind != "user":
            return
        value = await fx.convert(conn, amount, currency, THRESHOLD_CURRENCY)
        # No rate known: compare the amount as it is rather than let it through unchecked.
        if (value if value is not None else amount) > self.threshold:
            require_fresh_second_factor(self.request, self.principal)


def payment_step_up(request: Request, principal: Principal) -> PaymentStepUp:
    threshold = request.app.state.container.settings.step_up_payment_threshold
    return PaymentStepUp(request, principal, threshold)
