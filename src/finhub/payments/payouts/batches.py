"""Payout batches: withdrawals gathered into ISO 20022 pain.001 files, settled by the bank's
pain.002 status reports.

A payout run is one database transaction: it claims the waiting withdrawals (FOR UPDATE SKIP
LOCKED, so two runs never take the same one), renders and validates the file, stores it and
marks each withdrawal with the batch id. A crash anywhere before the commit leaves every
withdrawal waiting for the next run; after it, each is in exactly one stored file. File ids are
derived from finhub's ids and the file's time is the batch's, so rendering a batch again gives
the same bytes.

Ledger movements (DESIGN.md §3), for a withdrawal of A with fee F:
- withdrawal: hold  wallet D(A+F) / payout clearing C(A) / fee revenue C(F)
- paid (ACSC, ACCC): post the hold, then  payout clearing D(A) / bank clearing C(A)
  — the wallet lost A+F, the operator earned F and its bank account paid out A.
- rejected (RJCT): void the hold; the wallet has A+F available again.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace

from finhub.audit.service import AuditContext, record
from finhub.errors import FinhubError
from finhub.integrations import iso20022
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.money import iso_currency
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.payments import core
from finhub.payments.payouts import repository
from finhub.payments.payouts.errors import (
    InvalidStatusReport,
    PayoutBatchNotFound,
    PayoutStatusConflict,
    StatusReportMismatch,
)
from finhub.payments.payouts.models import Payee, Payout, PayoutBatch, ReportOutcome
from finhub.wallets.chart import SystemAccount, system_account

MAX_BATCH_SIZE = 5_000  # withdrawals per file; the rest wait for the next run
PROCESSING = frozenset({"processing"})


@dataclass(frozen=True, slots=True)
class Originator:
    """finhub's own bank account, the debtor of every payout file."""

    name: str
    iban: str
    bic: str


# The sandbox bank's account. A deployment paying out for real names its own account here.
SANDBOX_ORIGINATOR = Originator(
    name="finhub payouts", iban="DE89370400440532013000", bic="COBADEFFXXX"
)


class PayoutFileInvalid(FinhubError):
    """The rendered file breaks the XSD: a fault in finhub, never sent or stored."""

    status = 500
    code = "payout_file_invalid"
    title = "The payout file does not validate"


# --- payout runs -------------------------------------------------------------------------------


async def create_batches(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    staff_id: str,
    *,
    currency: str | None = None,
    originator: Originator = SANDBOX_ORIGINATOR,
) -> list[PayoutBatch]:
    """Gather every waiting withdrawal (of `currency`, or all) into one batch per currency."""
    claimed = await claim_withdrawals(conn, currency=currency)
    return [
        await export_batch(conn, ledger, audit, staff_id, group, payouts, originator=originator)
        for group, payouts in by_currency(claimed).items()
    ]


async def claim_withdrawals(
    conn: Connection, *, currency: str | None = None, limit: int = MAX_BATCH_SIZE
) -> list[Payout]:
    """Lock the withdrawals this run will send; other runs skip them until commit."""
    return await repository.claim_unbatched(conn, currency=currency, limit=limit)


def by_currency(payouts: list[Payout]) -> dict[str, list[Payout]]:
    groups: dict[str, list[Payout]] = defaultdict(list)
    for payout in payouts:
        groups[payout.currency].append(payout)
    return dict(sorted(groups.items()))


async def export_batch(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    staff_id: str,
    currency: str,
    payouts: list[Payout],
    *,
    originator: Originator = SANDBOX_ORIGINATOR,
) -> PayoutBatch:
    """Render, validate and store the pain.001 of claimed `payouts` and mark them batched."""
    now = ledger.clock.now().replace(microsecond=0)
    batch_id = new_id("pob")
    payouts = sorted(payouts, key=lambda payout: payout.payment_id)
    shell = PayoutBatch(
        id=batch_id,
        currency=currency,
        scheme="sepa" if currency == "EUR" else "iso20022",
        message_id=batch_id.replace("_", "-"),
        payment_count=len(payouts),
        control_sum=sum(payout.amount for payout in payouts),
        status="exported",
        pain001="",
        pain001_sha256="",
        created_by=staff_id,
        created_at=now,
        settled_at=None,
    )
    payees = await repository.payees_by_id(conn, [payout.payee_id for payout in payouts])
    document = render_pain001(shell, payouts, payees, originator)
    try:
        iso20022.validate_pain001(document)
    except iso20022.SchemaViolation as error:
        raise PayoutFileInvalid(str(error), problems=error.problems) from error
    batch = _with_file(shell, document)
    await repository.insert_batch(conn, batch)
    marked = await repository.mark_batched(conn, batch.id, [p.payment_id for p in payouts], now)
    assert marked == len(payouts), "claimed withdrawals are locked by this run"
    await record(
        conn,
        audit,
        "payout_batch.created",
        object_type="payout_batch",
        object_id=batch.id,
        after={
            "currency": currency,
            "payment_count": batch.payment_count,
            "control_sum": str(batch.control_sum),
            "message_id": batch.message_id,
            "pain001_sha256": batch.pain001_sha256,
        },
    )
    return batch


def render_pain001(
    batch: PayoutBatch,
    payouts: list[Payout],
    payees: dict[str, Payee],
    originator: Originator = SANDBOX_ORIGINATOR,
) -> bytes:
    """The batch's pain.001: a function of the batch, its payouts and their payees only."""
    asset = iso_currency(batch.currency)
    assert asset is not None, "payees only take ISO currencies"
    message = iso20022.CreditTransferMessage(
        message_id=batch.message_id,
        payment_info_id=f"{batch.message_id}-1",
        created_at=batch.created_at,
        execution_date=batch.created_at.date(),
        currency=batch.currency,
        scale=asset.scale,
        sepa=batch.scheme == "sepa",
        debtor_name=originator.name,
        debtor_account=iso20022.AccountRef(iban=originator.iban, bic=originator.bic),
        transfers=tuple(_transfer(payout, payees[payout.payee_id]) for payout in payouts),
    )
    return iso20022.write_pain001(message)


def _transfer(payout: Payout, payee: Payee) -> iso20022.CreditTransfer:
    bank = payee.bank
    return iso20022.CreditTransfer(
        end_to_end_id=payout.end_to_end_id,
        amount=payout.amount,
        creditor_name=payee.name,
        creditor_account=iso20022.AccountRef(
            iban=bank.iban,
            bic=bank.bic,
            account_number=bank.account_number,
            clearing_system=bank.clearing_system,
            clearing_code=bank.clearing_code,
        ),
        remittance=f"finhub payout {payout.end_to_end_id}",
    )


def _with_file(shell: PayoutBatch, document: bytes) -> PayoutBatch:
    return replace(
        shell,
        pain001=document.decode("utf-8"),
        pain001_sha256=hashlib.sha256(document).hexdigest(),
    )


async def get_batch(conn: Connection, batch_id: str) -> PayoutBatch:
    batch = await repository.find_batch(conn, batch_id)
    if batch is None:
        raise PayoutBatchNotFound(f"No payout batch {batch_id}.")
    return batch


async def batch_payouts(conn: Connection, batch_id: str) -> list[Payout]:
    return await repository.batch_payouts(conn, batch_id)


async def list_batches(
    conn: Connection, *, limit: int, starting_after: str | None
) -> list[PayoutBatch]:
    return await repository.list_batches(conn, limit=limit, starting_after=starting_after)


# --- status reports ----------------------------------------------------------------------------


async def import_status_report(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    staff_id: str,
    batch_id: str,
    document: bytes,
) -> ReportOutcome:
    """Apply a pain.002 to the batch: settled payments are paid, rejected ones failed and their
    holds released. All or nothing; the same report twice changes nothing the second time."""
    try:
        report = iso20022.read_pain002(document)
    except iso20022.InvalidStatusReport as error:
        raise InvalidStatusReport(str(error)) from error
    batch = await repository.find_batch(conn, batch_id, lock=True)
    if batch is None:
        raise PayoutBatchNotFound(f"No payout batch {batch_id}.")
    if report.original_message_id != batch.message_id:
        raise StatusReportMismatch(
            f"The report answers message {report.original_message_id}, not this batch's "
            f"{batch.message_id}."
        )
    digest = hashlib.sha256(document).hexdigest()
    seen = await repository.find_report(conn, batch.id, report.message_id)
    if seen is not None:
        return _replayed(batch.id, report.message_id, seen, digest)
    payouts = {
        p.end_to_end_id: p for p in await repository.batch_payouts(conn, batch.id, lock=True)
    }
    changes = _changes(report, payouts)
    for payout, status in changes:
        await _apply(conn, ledger, audit, payout, status, report.message_id)
    paid = sum(1 for _, status in changes if status.settled)
    failed = len(changes) - paid
    now = ledger.clock.now()
    if not await _still_open(conn, batch.id):
        await repository.mark_batch_settled(conn, batch.id, now)
    await repository.insert_report(
        conn,
        batch_id=batch.id,
        message_id=report.message_id,
        content_sha256=digest,
        paid=paid,
        failed=failed,
        imported_by=staff_id,
        now=now,
    )
    await record(
        conn,
        audit,
        "payout_batch.status_report_imported",
        object_type="payout_batch",
        object_id=batch.id,
        details={"message_id": report.message_id, "paid": paid, "failed": failed},
    )
    unchanged = len(payouts) - len(changes)
    return ReportOutcome(batch.id, report.message_id, paid, failed, unchanged, False)


def _replayed(
    batch_id: str, message_id: str, seen: dict[str, object], digest: str
) -> ReportOutcome:
    if seen["content_sha256"] != digest:
        raise PayoutStatusConflict(
            f"A different report with message id {message_id} was imported before."
        )
    paid, failed = int(str(seen["paid_count"])), int(str(seen["failed_count"]))
    return ReportOutcome(batch_id, message_id, paid, failed, 0, already_imported=True)


def _changes(
    report: iso20022.StatusReport, payouts: dict[str, Payout]
) -> list[tuple[Payout, iso20022.PaymentStatus]]:
    """The payouts this report settles or rejects, checked in full before anything moves."""
    statuses = list(report.payments)
    if not statuses and report.group_status:  # one status for the whole file
        statuses = [
            iso20022.PaymentStatus(e2e, report.group_status, report.group_reason_code)
            for e2e in payouts
        ]
    unknown = sorted({s.end_to_end_id for s in statuses} - payouts.keys())
    if unknown:
        raise StatusReportMismatch(
            "The report names payments that are not in this batch.", unknown_payments=unknown
        )
    final: dict[str, iso20022.PaymentStatus] = {}
    for status in statuses:
        if not (status.settled or status.rejected):
            continue  # interim (accepted, pending…): the bank reports again later
        earlier = final.get(status.end_to_end_id)
        if earlier is not None and earlier.settled != status.settled:
            raise StatusReportMismatch(
                f"The report both settles and rejects {status.end_to_end_id}."
            )
        final[status.end_to_end_id] = status
    changes = []
    for e2e, status in final.items():
        payout = payouts[e2e]
        target = "paid" if status.settled else "failed"
        if payout.status == target:
            continue
        if payout.status != "batched":
            raise PayoutStatusConflict(
                f"Payment {payout.payment_id} is already {payout.status}; the report says "
                f"{status.status}.",
                payment_id=payout.payment_id,
                status_now=payout.status,
            )
        changes.append((payout, status))
    return changes


async def _apply(
    conn: Connection,
    ledger: LedgerService,
    audit: AuditContext,
    payout: Payout,
    status: iso20022.PaymentStatus,
    report_message_id: str,
) -> None:
    payment = await core.payment_for_wallet(conn, payout.payment_id, payout.wallet_id)
    assert payment.hold_transaction_id is not None
    now = ledger.clock.now()
    if status.settled:
        await ledger.post_pending(
            conn, payment.hold_transaction_id, description=f"withdrawal {payment.id} sent"
        )
        await core.change_status(
            conn,
            ledger,
            audit,
            payment.id,
            "completed",
            posting=await _bank_outflow(conn, ledger, payout),
            allowed_from=PROCESSING,
        )
        await repository.set_payout_status(
            conn, payout.payment_id, "paid", now, report_message_id=report_message_id
        )
        return
    await ledger.void_pending(
        conn, payment.hold_transaction_id, description=f"withdrawal {payment.id} rejected"
    )
    reason = status.reason_code or "RJCT"
    await core.change_status(
        conn,
        ledger,
        audit,
        payment.id,
        "failed",
        failure_code=reason,
        failure_message=status.reason_text or f"The bank rejected the transfer ({reason}).",
        allowed_from=PROCESSING,
    )
    await repository.set_payout_status(
        conn,
        payout.payment_id,
        "failed",
        now,
        reason_code=reason,
        report_message_id=report_message_id,
    )


async def _bank_outflow(conn: Connection, ledger: LedgerService, payout: Payout) -> core.Posting:
    """The amount leaves payout clearing and our bank account: the bank has paid it out."""
    clearing = await system_account(conn, ledger, SystemAccount.PAYOUT_CLEARING, payout.currency)
    bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, payout.currency)
    return core.Posting(
        entries=[
            EntrySpec(clearing, Direction.DEBIT, payout.amount),
            EntrySpec(bank, Direction.CREDIT, payout.amount),
        ],
        description=f"payout {payout.end_to_end_id} paid by the bank",
    )


async def _still_open(conn: Connection, batch_id: str) -> bool:
    return any(p.status == "batched" for p in await repository.batch_payouts(conn, batch_id))
