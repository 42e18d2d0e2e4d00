"""REST endpoints of money in: card tokens and card top-ups under `/v1/payments/card-…`, the
card processor's webhook, and bank-transfer top-ups under `/v1/payments/bank-topups`."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from ulid import ULID

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.errors import Forbidden
from finhub.identity.principal import Access, Principal
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from finhub.kit.pagination import page_payload as paged
from finhub.payments.core import payment_payload
from finhub.payments.topups import bank, schemas, service
from finhub.payments.topups.errors import SimulationNotAllowed
from finhub.payments.topups.ports import CardDetails
from finhub.payments.topups.processor import WEBHOOK_PATH, CardProcessorDep
from finhub.payments.topups.settings import topup_settings
from finhub.wallets.errors import WalletNotAvailable

router = APIRouter(tags=["top-ups"])

Writer = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:write",)))]
Reader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:read",)))]
WalletReader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("wallets:read",)))]
Simulator = Annotated[
    Principal, Depends(Access("user", "api_key", "staff", scopes=("payments:write",)))
]
SuspenseReader = Annotated[
    Principal, Depends(Access("staff", staff_roles=("admin", "operations", "support")))
]
SuspenseWriter = Annotated[Principal, Depends(Access("staff", staff_roles=("admin", "operations")))]
PaymentPath = Annotated[str, Path(max_length=64, description="The top-up's id (`pay_…`).")]
CreditPath = Annotated[str, Path(max_length=64, description="The bank credit's id (`bcr_…`).")]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "Not allowed, or no wallet for these credentials (problem+json)."},
    404: {"description": "Not found (problem+json)."},
    409: {"description": "Conflicts with the payment's current state (problem+json)."},
    422: {"description": "Invalid request or a broken rule (problem+json)."},
}


def _user_id(principal: Principal) -> str:
    if principal.user_id is None:
        raise WalletNotAvailable("Organisation API keys can't hold a wallet yet.")
    return principal.user_id


# --- card tokens and card top-ups -------------------------------------------------------------


@router.post(
    "/v1/payments/card-tokens",
    status_code=201,
    responses=ERRORS,
    summary="Tokenise a card",
    description="Sends the card number, expiry and CVC to the card processor's vault and "
    "answers a `ctok_…` token with the brand, last four digits and expiry. finhub keeps no "
    "card number and no CVC. Invalid details answer 422 `card_number_invalid` (length or "
    "Luhn check), `expiry_invalid`, `card_expired` or `cvc_invalid`. Tokenising again is "
    "harmless, so this POST takes no Idempotency-Key (its fingerprint would be an unkeyed "
    "hash of the card number).",
)
async def create_card_token(
    body: schemas.CardIn, principal: Writer, c: ContainerDep, processor: CardProcessorDep
) -> Response:
    _require_sandbox_allowed(principal, c.settings.environment)
    user_id = _user_id(principal)
    card = CardDetails(body.number, body.exp_month, body.exp_year, body.cvc)
    async with c.db.transaction() as conn:
        stored = await service.tokenize_card(conn, processor, c.clock, user_id, card)
    return json_response(201, schemas.card_payload(stored))


@router.post(
    "/v1/payments/card-topups",
    status_code=201,
    responses=ERRORS,
    summary="Top up the wallet from a card",
    description="Authorises `amount` on the card. Approved: `processing`, with the money held "
    "in the wallet (not yet available) until the processor confirms the capture by webhook, "
    "then `completed`. 3-D Secure: `requires_action` with `next_action.redirect_url`. "
    "Declined or failed: `failed` with `failure_code` (`insufficient_funds`, `stolen_card`, "
    "`processing_error`, …) and no money held. Fees and limits apply.",
)
async def create_card_topup(
    body: schemas.CardTopupIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
    processor: CardProcessorDep,
) -> Response:
    _require_sandbox_allowed(principal, c.settings.environment)
    user_id = _user_id(principal)
    async with c.db.transaction() as conn:
        topup = await service.create_card_topup(
            conn,
            c.ledger,
            processor,
            AuditContext.from_request(request, principal),
            user_id=user_id,
            card_token=body.card_token,
            amount=body.amount,
            currency=body.currency,
            idempotency_key=idem.claim.key if idem.claim else None,
        )
        return await idem.respond(conn, 201, schemas.topup_payload(topup, c.settings.public_url))


@router.get(
    "/v1/payments/card-topups/{payment_id}",
    responses=ERRORS,
    summary="Get a card top-up",
    description="Its status, card, captured and refunded amounts, and any next action.",
)
async def get_card_topup(payment_id: PaymentPath, principal: Reader, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        topup = await service.get_topup(conn, _user_id(principal), payment_id)
    return json_response(200, schemas.topup_payload(topup, c.settings.public_url))


@router.get(
    "/v1/payments/card-topups/{payment_id}/3ds-challenge",
    response_class=HTMLResponse,
    responses=ERRORS,
    summary="The 3-D Secure challenge page (sandbox)",
    description="The sandbox issuer's challenge page a card holder is redirected to: approve "
    "or deny the payment.",
)
async def challenge_page(payment_id: PaymentPath, principal: Reader, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        topup = await service.get_topup(conn, _user_id(principal), payment_id)
    return HTMLResponse(_challenge_html(topup))


@router.post(
    "/v1/payments/card-topups/{payment_id}/3ds-challenge",
    responses=ERRORS,
    summary="Complete the 3-D Secure challenge",
    description="`approve` authorises and captures the top-up (`processing`, then `completed` "
    "on the processor's webhook); `deny` fails it (`authentication_failed`) and releases the "
    "hold. 409 `payment_state_conflict` when no challenge is waiting.",
)
async def complete_challenge(
    payment_id: PaymentPath,
    body: schemas.ChallengeIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
    processor: CardProcessorDep,
) -> Response:
    async with c.db.transaction() as conn:
        topup = await service.complete_challenge(
            conn,
            c.ledger,
            processor,
            AuditContext.from_request(request, principal),
            user_id=_user_id(principal),
            payment_id=payment_id,
            outcome=body.outcome,
        )
        return await idem.respond(conn, 200, schemas.topup_payload(topup, c.settings.public_url))


@router.post(
    "/v1/payments/card-topups/{payment_id}/refunds",
    status_code=201,
    responses=ERRORS,
    summary="Refund a card top-up",
    description="Returns `amount` (all that is left if unset) to the card, taking it back from "
    "the wallet (with the same share of the fee). 422 `refund_exceeds_captured` beyond what "
    "is left, 422 `insufficient_funds` when the wallet no longer holds it, 409 "
    "`payment_state_conflict` unless the top-up is completed.",
)
async def refund_card_topup(
    payment_id: PaymentPath,
    body: schemas.RefundIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
    processor: CardProcessorDep,
) -> Response:
    async with c.db.transaction() as conn:
        refund, topup = await service.refund_topup(
            conn,
            c.ledger,
            processor,
            AuditContext.from_request(request, principal),
            user_id=_user_id(principal),
            payment_id=payment_id,
            amount=body.amount,
            idempotency_key=idem.claim.key if idem.claim else None,
        )
        payload = {
            **payment_payload(refund),
            "object": "card_topup_refund",
            "topup": schemas.topup_payload(topup, c.settings.public_url),
        }
        return await idem.respond(conn, 201, payload)


@router.post(
    WEBHOOK_PATH,
    responses={
        400: {"description": "Forged, altered or replayed message (problem+json)."},
        409: {"description": "The charge is not known yet; the processor retries."},
    },
    summary="The card processor's webhook",
    description="Signed with the shared secret (`Sandbox-Signature: t=…,v1=…`, HMAC-SHA256 "
    "over `<t>.<body>`); a signature older than the tolerance is refused. Each event is "
    "applied once: a duplicate answers 200 and changes nothing.",
)
async def card_webhook(request: Request, c: ContainerDep, processor: CardProcessorDep) -> Response:
    body = await request.body()
    event = processor.verify_webhook(body, request.headers.get("sandbox-signature"))
    async with c.db.transaction() as conn:
        result = await service.apply_processor_event(conn, c.ledger, event)
    return json_response(
        200, {"object": "webhook_receipt", "id": event.id, "type": event.type, "result": result}
    )


# --- bank transfers ---------------------------------------------------------------------------


@router.get(
    "/v1/payments/bank-topups/instructions",
    responses=ERRORS,
    summary="How to top up by bank transfer",
    description="The wallet's virtual IBAN and its payment reference. Transfers to the IBAN, "
    "or to finhub's account with the reference, are credited to the wallet.",
)
async def funding_instructions(principal: WalletReader, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        payload = await bank.funding_instructions(
            conn, c.clock, _user_id(principal), topup_settings()
        )
    return json_response(200, payload)


@router.post(
    "/v1/payments/bank-topups/simulate",
    status_code=201,
    responses=ERRORS,
    summary="Simulate an incoming bank transfer (test mode)",
    description="As if the bank reported a credit: matched by reference or virtual IBAN, it "
    "completes a `bank_topup` payment; otherwise it waits in the unmatched list for staff. "
    "The same `bank_transaction_id` is applied once (a repeat answers 200 with the first "
    "result). Only for test-mode API keys, staff, or outside production.",
)
async def simulate_bank_credit(
    body: schemas.BankCreditIn,
    request: Request,
    principal: Simulator,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    _require_test_mode(principal, c.settings.environment)
    credit = bank.IncomingCredit(
        bank_transaction_id=body.bank_transaction_id or _simulated_bank_transaction_id(),
        amount=body.amount,
        currency=body.currency,
        sender_name=body.sender_name,
        reference=body.reference,
        iban=body.iban,
    )
    async with c.db.transaction() as conn:
        booked, created = await bank.receive_credit(conn, c.ledger, credit)
        return await idem.respond(conn, 201 if created else 200, schemas.credit_payload(booked))


def _simulated_bank_transaction_id() -> str:
    """What the bank would have called the transaction, when the simulation names none."""
    return f"sim_{ULID()}"


def _require_test_mode(principal: Principal, environment: str) -> None:
    """Simulated credits create money from nothing: in production only staff who run the
    books (operations, admin) may enter one (a received transfer booked by hand)."""
    if environment != "production":
        return
    if principal.kind == "staff" and principal.staff_roles & {"operations", "admin"}:
        return
    raise SimulationNotAllowed("Use a test-mode API key (fh_test_…) to simulate bank transfers.")


def _require_sandbox_allowed(principal: Principal, environment: str) -> None:
    """The card processor is the sandbox, which approves test cards. With no separate sandbox
    ledger, its top-ups would be real money, so production has no card top-ups until a live
    processor is configured (DESIGN.md §4: sandbox providers only in test mode)."""
    if environment != "production":
        return
    raise Forbidden(
        "Card top-ups in production need a live card processor; the sandbox runs only in "
        "development and test installations.",
        code="sandbox_only_in_test_mode",
    )


@router.get(
    "/v1/payments/bank-topups/unmatched",
    response_model=Page[dict[str, Any]],
    responses=ERRORS,
    summary="Incoming transfers nobody was matched to",
    description="Staff only. Oldest first; the money waits in the bank suspense account.",
)
async def list_unmatched(
    principal: SuspenseReader,
    c: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await bank.unmatched(conn, limit=limit + 1, starting_after=starting_after)
    return json_response(200, paged(rows, limit, schemas.credit_payload, lambda r: r["id"]))


@router.post(
    "/v1/payments/bank-topups/unmatched/{credit_id}/assign",
    responses=ERRORS,
    summary="Assign an unmatched transfer to a wallet",
    description="Staff only (admin, operations). Credits the wallet from the suspense account "
    "as a completed `bank_topup`; 409 `bank_credit_already_resolved` if done before.",
)
async def assign_unmatched(
    credit_id: CreditPath,
    body: schemas.AssignIn,
    request: Request,
    principal: SuspenseWriter,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    assert principal.staff_id is not None
    async with c.db.transaction() as conn:
        credit = await bank.assign_credit(
            conn,
            c.ledger,
            AuditContext.from_request(request, principal),
            credit_id=credit_id,
            wallet_id=body.wallet_id,
            staff_id=principal.staff_id,
        )
        return await idem.respond(conn, 200, schemas.credit_payload(credit))


def _challenge_html(topup: service.CardTopup) -> str:
    payment, card = topup.payment, topup.details
    waiting = payment.status == "requires_action"
    amount = f"{payment.amount} {escape(payment.currency)} (minor units)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Card verification</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 2rem auto">
<h1>Confirm this payment</h1>
<p>Sandbox issuer: verify the top-up of {amount} with your {escape(card["brand"])} card
ending {escape(card["last4"])}.</p>
<p id="status">Status: {escape(payment.status)}</p>
{
        '<button data-outcome="approve">Approve</button> <button data-outcome="deny">Deny</button>'
        if waiting
        else ""
    }
<script>
for (const button of document.querySelectorAll("button")) {{
  button.addEventListener("click", async () => {{
    const response = await fetch(location.pathname, {{
      method: "POST", credentials: "same-origin",
      headers: {{"Content-Type": "application/json",
                 "X-CSRF-Token": sessionStorage.getItem("finhub.csrf") || ""}},
      body: JSON.stringify({{outcome: button.dataset.outcome}})
    }});
    const body = await response.json();
    document.getElementById("status").textContent = "Status: " + (body.status || body.detail);
  }});
}}
</script></body></html>"""
