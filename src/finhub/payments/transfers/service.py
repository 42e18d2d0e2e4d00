"""Payments between people: P2P transfers, payment requests and paying QR codes.

Every payment here is one ledger transaction posted at once (instant): the payer's balance is
debited the amount plus the fee, the payee's balance credited the amount and the fee goes to
fee revenue, recorded through `finhub.payments.core` with an activity line for each side and an
outbox event for each owner (which the notifications turn into an inbox entry and an email).

People are found by email, phone, wallet id or the handle they chose (@name, kept in
`wallet_handles`). Finding a person by email, phone or handle answers whether that person has
an account, so those lookups are throttled per payer: a run of unknown addresses locks the
payer's lookups for a while (429), and an unknown, unverified or disabled person all answer
the same 404.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from finhub.audit.service import AuditContext, record
from finhub.errors import Forbidden
from finhub.kit import outbox
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.kit.money import iso_currency
from finhub.kit.throttle import Throttle, ThrottleRule
from finhub.ledger.service import LedgerService
from finhub.notifications.inbox import notify
from finhub.payments.models import Payment, PaymentKind
from finhub.payments.step_up import PaymentStepUp
from finhub.payments.transfers import qr, repository
from finhub.payments.transfers.errors import (
    AmountRequired,
    HandleNotFound,
    HandleTaken,
    InvalidHandle,
    PaymentRequestClosed,
    PaymentRequestNotFound,
    PaymentRequestPaid,
    QrAmountMismatch,
    RecipientNotFound,
    SelfPayment,
    UnsupportedCurrency,
)
from finhub.payments.transfers.group import (
    Party,
    TransferOrder,
    counterparty_label,
    mask_email,
    transfer_one,
)
from finhub.payments.transfers.repository import PaymentRequest, Person, RequestFilter
from finhub.wallets import service as wallets
from finhub.wallets.models import Wallet

RecipientKind = Literal["email", "phone", "username", "wallet_id"]
HANDLE = re.compile(r"^[a-z0-9_]{3,30}$")
# Names people would take for finhub itself.
RESERVED_HANDLES = frozenset(
    {"admin", "administrator", "finhub", "help", "official", "root", "security", "staff",
     "support", "system"}
)  # fmt: skip
DEFAULT_REQUEST_LIFETIME = timedelta(days=7)
MAX_REQUEST_LIFETIME = timedelta(days=90)
# Ten unknown addresses within an hour lock the payer's lookups for 5 minutes, doubling up to a
# day: plenty for typos, far too slow to walk an address list.
RECIPIENT_LOOKUPS = ThrottleRule(
    scope="p2p_recipient_lookup",
    max_failures=10,
    window=timedelta(hours=1),
    base_lockout=timedelta(minutes=5),
    max_lockout=timedelta(days=1),
)


@dataclass(frozen=True, slots=True)
class Context:
    """What a flow here needs from the outside, passed in by the endpoint."""

    ledger: LedgerService
    throttle: Throttle
    audit: AuditContext
    step_up: PaymentStepUp | None = None  # large payments by a person need a fresh factor

    @property
    def clock(self) -> Clock:
        return self.ledger.clock


@dataclass(frozen=True, slots=True)
class Recipient:
    kind: RecipientKind
    value: str


@dataclass(frozen=True, slots=True)
class PaidRequest:
    request: PaymentRequest
    payment: Payment


def require_currency(currency: str) -> None:
    if iso_currency(currency) is None:
        raise UnsupportedCurrency(f"{currency} is not an ISO 4217 currency with minor units.")


# --- parties ----------------------------------------------------------------------------------


async def own_party(conn: Connection, clock: Clock, user_id: str) -> Party:
    """The caller's own wallet, open or closed (opened on first use; 403 for an unverified
    person): enough to read their requests."""
    found = await repository.wallet_of_user(conn, user_id)
    if found is None:
        await wallets.ensure_wallet(conn, clock, user_id)
        found = await repository.wallet_of_user(conn, user_id)
        assert found is not None
    return Party(found.wallet, found.person)


async def payer_party(conn: Connection, clock: Clock, user_id: str) -> Party:
    """The caller's own wallet, which must be open to pay or be paid."""
    party = await own_party(conn, clock, user_id)
    wallets.require_open(party.wallet)
    return party


async def resolve_recipient(
    conn: Connection, ctx: Context, payer_user_id: str, recipient: Recipient
) -> Party:
    """The person at `recipient` and their wallet (opened on first use). Lookups by email,
    phone or handle that find no one count against the payer's lookup allowance."""
    if recipient.kind == "wallet_id":
        return await _party_of_wallet(conn, recipient.value)
    now = ctx.clock.now()
    await ctx.throttle.check(RECIPIENT_LOOKUPS, [payer_user_id], now)
    party = await _find_by_address(conn, ctx.clock, recipient)
    if party is None:
        await ctx.throttle.fail(RECIPIENT_LOOKUPS, [payer_user_id], now)
        raise RecipientNotFound("No one can be paid at this address.")
    return party


async def _find_by_address(conn: Connection, clock: Clock, recipient: Recipient) -> Party | None:
    if recipient.kind == "username":
        wallet_id = await repository.wallet_for_handle(conn, normalise_handle(recipient.value))
        if wallet_id is None:
            return None
        try:
            return await _party_of_wallet(conn, wallet_id)
        except RecipientNotFound:
            return None
    if recipient.kind == "email":
        person = await repository.person_by_email(conn, recipient.value.strip().lower())
    else:
        person = await repository.person_by_phone(conn, recipient.value)
    if person is None or person.status != "active" or not person.email_verified:
        return None
    wallet = await wallets.ensure_wallet(conn, clock, person.user_id)
    return Party(wallet, person)


async def _party_of_wallet(conn: Connection, wallet_id: str) -> Party:
    found = await repository.owner_of_wallet(conn, wallet_id)
    if found is None or found.person.status != "active":
        raise RecipientNotFound("No one can be paid at this address.")
    return Party(found.wallet, found.person)


# --- handles ----------------------------------------------------------------------------------


def normalise_handle(value: str) -> str:
    return value.strip().removeprefix("@").lower()


async def handle_of(conn: Connection, party: Party) -> str | None:
    return await repository.handle_of_wallet(conn, party.wallet.id)


async def set_handle(conn: Connection, ctx: Context, party: Party, value: str) -> str:
    """Take (or change to) a handle others can pay as @handle."""
    handle = normalise_handle(value)
    if not HANDLE.match(handle):
        raise InvalidHandle("A handle is 3 to 30 letters, digits or underscores.")
    if handle in RESERVED_HANDLES:
        raise HandleTaken("This handle is reserved.")
    before = await repository.handle_of_wallet(conn, party.wallet.id)
    if before == handle:
        return handle
    if not await repository.set_handle(conn, party.wallet.id, handle, ctx.clock.now()):
        raise HandleTaken("Someone else has this handle.")
    await record(
        conn, ctx.audit, "wallet_handle.set", subject_user_id=party.person.user_id,
        object_type="wallet", object_id=party.wallet.id,
        before={"handle": before}, after={"handle": handle},
    )  # fmt: skip
    return handle


async def remove_handle(conn: Connection, ctx: Context, party: Party) -> None:
    before = await repository.handle_of_wallet(conn, party.wallet.id)
    if before is None:
        raise HandleNotFound("You have no handle.")
    await repository.delete_handle(conn, party.wallet.id)
    await record(
        conn, ctx.audit, "wallet_handle.removed", subject_user_id=party.person.user_id,
        object_type="wallet", object_id=party.wallet.id, before={"handle": before},
    )  # fmt: skip


# --- moving money -----------------------------------------------------------------------------


async def send_p2p(
    conn: Connection,
    ctx: Context,
    *,
    payer_user_id: str,
    to: Recipient,
    amount: int,
    currency: str,
    note: str | None,
    metadata: dict[str, Any] | None = None,
) -> Payment:
    """Pay another person now, in the caller's transaction."""
    order = await p2p_order(
        conn, ctx, payer_user_id=payer_user_id, to=to, amount=amount, currency=currency,
        note=note, metadata=metadata,
    )  # fmt: skip
    return await transfer_one(conn, ctx.ledger, order)


async def p2p_order(
    conn: Connection,
    ctx: Context,
    *,
    payer_user_id: str,
    to: Recipient,
    amount: int,
    currency: str,
    note: str | None,
    metadata: dict[str, Any] | None = None,
) -> TransferOrder:
    """A payment to another person, ready to post (alone, or with others by the group
    commit): both parties found, their wallets open, the step-up done if the amount needs it.
    Fees, limits and funds are judged when it is posted."""
    require_currency(currency)
    payer = await payer_party(conn, ctx.clock, payer_user_id)
    payee = await resolve_recipient(conn, ctx, payer_user_id, to)
    if payee.wallet.id == payer.wallet.id:
        raise SelfPayment("You can't send money to yourself.")
    if ctx.step_up is not None:
        await ctx.step_up.check(conn, amount, currency)
    return TransferOrder(
        payer, payee, "p2p", amount, currency, note,
        {"recipient_by": to.kind, **(metadata or {})}, ctx.audit,
    )  # fmt: skip


async def transfer(
    conn: Connection,
    ctx: Context,
    *,
    payer: Party,
    payee: Party,
    kind: PaymentKind,
    amount: int,
    currency: str,
    note: str | None,
    metadata: dict[str, Any],
) -> Payment:
    """One balanced ledger transaction payer → payee (+ fee), recorded as a completed payment.
    Fees and both sides' limits are checked first; the ledger refuses an overdraft."""
    if ctx.step_up is not None:
        await ctx.step_up.check(conn, amount, currency)
    order = TransferOrder(payer, payee, kind, amount, currency, note, metadata, ctx.audit)
    return await transfer_one(conn, ctx.ledger, order)


# --- payment requests -------------------------------------------------------------------------


async def create_request(
    conn: Connection,
    ctx: Context,
    *,
    requester_user_id: str,
    amount: int,
    currency: str,
    note: str | None,
    payer: Recipient | None,
    expires_at: datetime | None,
) -> PaymentRequest:
    """Ask a person (or, with no `payer`, whoever gets the link or QR code) for money."""
    require_currency(currency)
    now = ctx.clock.now()
    expires_at = expires_at or now + DEFAULT_REQUEST_LIFETIME
    if not now < expires_at <= now + MAX_REQUEST_LIFETIME:
        raise PaymentRequestClosed(
            "expires_at must be in the future and at most 90 days away.",
            code="invalid_expiry",
            status=422,
        )
    requester = await payer_party(conn, ctx.clock, requester_user_id)
    addressee = None
    if payer is not None:
        addressee = await resolve_recipient(conn, ctx, requester_user_id, payer)
        if addressee.wallet.id == requester.wallet.id:
            raise SelfPayment("You can't request money from yourself.")
    request = await repository.insert_request(
        conn,
        request_id=new_id("prq"),
        requester_wallet_id=requester.wallet.id,
        payer_wallet_id=addressee.wallet.id if addressee else None,
        amount=amount,
        currency=currency,
        note=note,
        token=secrets.token_urlsafe(24),
        now=now,
        expires_at=expires_at,
    )
    if addressee is not None:
        await _tell_addressee(conn, request, requester.person, addressee.person, now)
    await _audit(conn, ctx, "payment_request.created", request, requester.person.user_id)
    return request


async def visible_request(
    conn: Connection, wallet: Wallet, request_id: str, *, lock: bool = False
) -> PaymentRequest:
    found = await repository.find_visible(conn, request_id, wallet.id, lock=lock)
    if found is None:
        raise PaymentRequestNotFound(f"No payment request {request_id}.")
    return found


async def own_request(conn: Connection, wallet: Wallet, request_id: str) -> PaymentRequest:
    """A request the wallet made; the addressee may see it but not act as its requester."""
    found = await visible_request(conn, wallet, request_id)
    if found.requester_wallet_id != wallet.id:
        raise Forbidden("Only the requester can do this.", code="not_requester")
    return found


async def list_requests(
    conn: Connection,
    clock: Clock,
    wallet: Wallet,
    where: RequestFilter,
    *,
    limit: int,
    starting_after: str | None,
) -> list[PaymentRequest]:
    return await repository.list_for_wallet(
        conn, wallet.id, where, now=clock.now(), limit=limit, starting_after=starting_after
    )


async def pay_request(
    conn: Connection,
    ctx: Context,
    *,
    payer_user_id: str,
    request_id: str | None = None,
    token: str | None = None,
    scanned: qr.QrFields | None = None,
) -> PaidRequest:
    """Pay a request once: by id (the addressee) or by the token of its link or QR code
    (anyone, unless it is addressed to someone else). The request row is locked first, so two
    payers racing for it see one payment and one 409. With `scanned` (a QR code's fields), the
    code must say what the request says."""
    payer = await payer_party(conn, ctx.clock, payer_user_id)
    request = await _payable(
        conn, payer.wallet, now=ctx.clock.now(), request_id=request_id, token=token
    )
    if scanned is not None and (
        (scanned.amount, scanned.currency, scanned.wallet_id)
        != (request.amount, request.currency, request.requester_wallet_id)
    ):
        raise QrAmountMismatch("The QR code doesn't match the payment request it names.")
    requester = await _party_of_wallet(conn, request.requester_wallet_id)
    payment = await transfer(
        conn,
        ctx,
        payer=payer,
        payee=requester,
        kind="request_payment",
        amount=request.amount,
        currency=request.currency,
        note=request.note,
        metadata={"payment_request_id": request.id},
    )
    paid = await repository.mark_paid(
        conn, request.id, payment_id=payment.id, payer_wallet_id=payer.wallet.id,
        now=ctx.clock.now(),
    )  # fmt: skip
    return PaidRequest(paid, payment)


async def _payable(
    conn: Connection,
    wallet: Wallet,
    *,
    now: datetime,
    request_id: str | None,
    token: str | None,
) -> PaymentRequest:
    """The request, locked, if this wallet may pay it now."""
    if token is not None:
        found = await repository.find_by_token(conn, token, lock=True)
        # A request addressed to someone else is not theirs to see, link or no link.
        if found is not None and wallet.id not in (
            found.payer_wallet_id or wallet.id,
            found.requester_wallet_id,
        ):
            found = None
    else:
        assert request_id is not None
        found = await repository.find_visible(conn, request_id, wallet.id, lock=True)
    if found is None:
        raise PaymentRequestNotFound("No such payment request.")
    if found.requester_wallet_id == wallet.id:
        raise SelfPayment("This is your own payment request.")
    state = found.state(now)
    if state == "paid":
        raise PaymentRequestPaid("The payment request has been paid already.")
    if state != "open":
        raise PaymentRequestClosed(f"The payment request is {state}.", status_now=state)
    return found


async def cancel_request(
    conn: Connection, ctx: Context, wallet: Wallet, user_id: str, request_id: str
) -> PaymentRequest:
    found = await visible_request(conn, wallet, request_id, lock=True)
    if found.requester_wallet_id != wallet.id:
        raise Forbidden("Only the requester can cancel a payment request.", code="not_requester")
    state = found.state(ctx.clock.now())
    if state == "paid":
        raise PaymentRequestPaid("The payment request has been paid already.")
    if state != "open":
        raise PaymentRequestClosed(f"The payment request is {state}.", status_now=state)
    canceled = await repository.mark_canceled(conn, request_id, ctx.clock.now())
    await _audit(conn, ctx, "payment_request.canceled", canceled, user_id)
    return canceled


# --- QR codes ---------------------------------------------------------------------------------


def static_qr_payload(party: Party, currency: str) -> str:
    """A person's (or shop's) own code: whoever scans it chooses the amount."""
    require_currency(currency)
    return qr.emvco_payload(
        qr.QrFields(
            wallet_id=party.wallet.id,
            currency=currency,
            merchant_name=party.person.display_name or mask_email(party.person.email),
            reference=party.wallet.payment_reference,
        )
    )


def request_qr_payload(request: PaymentRequest, requester: Person) -> str:
    """A request's code: the amount is fixed and paying it settles the request."""
    return qr.emvco_payload(
        qr.QrFields(
            wallet_id=request.requester_wallet_id,
            currency=request.currency,
            merchant_name=requester.display_name or mask_email(requester.email),
            reference=request.id[-25:],
            amount=request.amount,
            token=request.token,
        )
    )


async def pay_qr(
    conn: Connection,
    ctx: Context,
    *,
    payer_user_id: str,
    payload: str,
    amount: int | None,
    note: str | None,
) -> Payment:
    """Pay what a scanned finhub QR code says, in one call."""
    fields = qr.finhub_fields(qr.parse_emvco(payload))
    if amount is not None and fields.amount is not None and amount != fields.amount:
        raise QrAmountMismatch("The amount sent differs from the QR code's amount.")
    if fields.token is None:
        pay_amount = amount if amount is not None else fields.amount
        if pay_amount is None:
            raise AmountRequired("This QR code has no amount: send the amount to pay.")
        return await send_p2p(
            conn, ctx, payer_user_id=payer_user_id, to=Recipient("wallet_id", fields.wallet_id),
            amount=pay_amount, currency=fields.currency, note=note, metadata={"via": "qr"},
        )  # fmt: skip
    paid = await pay_request(
        conn, ctx, payer_user_id=payer_user_id, token=fields.token, scanned=fields
    )
    return paid.payment


async def people_of_wallets(conn: Connection, wallet_ids: list[str]) -> dict[str, Person]:
    return await repository.people_of_wallets(conn, wallet_ids)


async def _tell_addressee(
    conn: Connection,
    request: PaymentRequest,
    requester: Person,
    addressee: Person,
    now: datetime,
) -> None:
    """An inbox note for the person asked (payment notifications only cover `payment.*`
    events), and an outbox event for their webhooks."""
    asset = iso_currency(request.currency)
    assert asset is not None
    title = f"{counterparty_label(requester)} asks you for {asset.format(request.amount)}"
    await notify(
        conn,
        user_id=addressee.user_id,
        kind="payment_request.created",
        title=title,
        body=request.note or "Open the request to pay it or let it expire.",
        data={"payment_request_id": request.id},
    )
    await outbox.emit(
        conn,
        type="payment_request.created",
        owner=f"user:{addressee.user_id}",
        data=request_event(request, requester),
        now=now,
    )


# --- records ----------------------------------------------------------------------------------


def request_event(request: PaymentRequest, requester: Person) -> dict[str, Any]:
    return {
        "object": "payment_request",
        "id": request.id,
        "amount": request.amount,
        "currency": request.currency,
        "note": request.note,
        "requester": counterparty_label(requester),
        "expires_at": request.expires_at,
    }


async def _audit(
    conn: Connection, ctx: Context, action: str, request: PaymentRequest, user_id: str
) -> None:
    await record(
        conn,
        ctx.audit,
        action,
        subject_user_id=user_id,
        object_type="payment_request",
        object_id=request.id,
        after={
            "status": request.status,
            "amount": str(request.amount),
            "currency": request.currency,
            "addressed": request.payer_wallet_id is not None,
        },
    )
