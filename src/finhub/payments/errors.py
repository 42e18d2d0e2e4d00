"""Payment rule errors (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, FinhubError, NotFound


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class PaymentStateConflict(Conflict):
    code = "payment_state_conflict"
    title = "The payment is not in a state that allows this"


class LimitExceeded(FinhubError):
    """Carries `limit` (which one), `remaining` (minor units) and `currency`."""

    status = 422
    code = "limit_exceeded"
    title = "Limit exceeded"
