"""What makes the payment of one occurrence: the P2P and withdrawal services, behind a port so
the runner does not care which flow pays (and tests can pass their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from finhub.audit.service import AuditContext
from finhub.kit.db.engine import Connection
from finhub.kit.throttle import Throttle
from finhub.ledger.service import LedgerService
from finhub.payments.payouts.service import NewWithdrawal, create_withdrawal
from finhub.payments.scheduled.models import ScheduledPayment
from finhub.payments.transfers.service import Context, Recipient, send_p2p

SYSTEM = AuditContext.system("scheduled_payments")


class Executor(Protocol):
    async def execute(
        self, conn: Connection, schedule: ScheduledPayment, occurrence_key: str
    ) -> str:
        """Make the payment in the caller's transaction; return its id (`pay_…`). A broken rule
        (insufficient funds, a limit) raises its FinhubError and must change nothing."""
        ...


@dataclass(frozen=True, slots=True)
class PaymentServices:
    """Pays through the same services as the API: fees, limits and ledger rules included."""

    ledger: LedgerService
    throttle: Throttle
    audit: AuditContext = SYSTEM

    async def execute(
        self, conn: Connection, schedule: ScheduledPayment, occurrence_key: str
    ) -> str:
        if schedule.type == "p2p":
            assert schedule.recipient_wallet_id is not None
            payment = await send_p2p(
                conn,
                Context(self.ledger, self.throttle, self.audit),
                payer_user_id=schedule.user_id,
                to=Recipient("wallet_id", schedule.recipient_wallet_id),
                amount=schedule.amount,
                currency=schedule.currency,
                note=schedule.note,
                metadata={
                    "scheduled_payment_id": schedule.id,
                    "scheduled_occurrence": occurrence_key,
                },
            )
            return payment.id
        assert schedule.payee_id is not None
        withdrawal = await create_withdrawal(
            conn,
            self.ledger,
            self.audit,
            schedule.user_id,
            NewWithdrawal(
                payee_id=schedule.payee_id,
                amount=schedule.amount,
                currency=schedule.currency,
                note=schedule.note,
            ),
        )
        return withdrawal.payment.id
