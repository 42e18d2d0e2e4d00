"""REST endpoints of payments between people: `/v1/payments/p2p`, `/v1/payments/qr`,
`/v1/payments/static-qr…` and `/v1/payment-requests`.

A person's session or personal API key acts for that person; an organisation's key has no
wallet here (403 `wallet_not_available`). Money-moving POSTs take `Idempotency-Key`, so a
retried request never pays twice.

The payments run in a pipelined transaction: every audited write in finhub waits for the audit
chain's head row from its audit record until its commit, so the statements after the record
(the stored idempotent response) travel with the COMMIT in one round trip instead of each
waiting its turn.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import Container, ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.identity.principal import Access, Principal
from finhub.kit.db.engine import Connection
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.payments.core import payment_payload
from finhub.payments.step_up import payment_step_up
from finhub.payments.transfers import qr, schemas, service
from finhub.payments.transfers.errors import HandleNotFound
from finhub.payments.transfers.group import Party, counterparty_label
from finhub.payments.transfers.repository import PaymentRequest, Person, RequestFilter
from finhub.wallets.errors import WalletNotAvailable

router = APIRouter(tags=["payments"])

Writer = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:write",)))]
Reader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:read",)))]
RequestPath = Annotated[str, Path(max_length=64, description="The request's id (`prq_…`).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
QrCurrency = Annotated[
    str | None,
    Query(pattern="^[A-Z]{3}$", description="The code's currency; your home currency if left out."),
]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "No wallet for this caller, or a missing scope (problem+json)."},
    404: {"description": "No such recipient or payment request (problem+json)."},
    409: {"description": "Already paid, canceled or expired; a closed wallet (problem+json)."},
    422: {"description": "Invalid input, insufficient funds or a limit (problem+json)."},
    429: {"description": "Too many unknown recipients looked up (problem+json)."},
}
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "The QR code as a PNG image."}
}
SVG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/svg+xml": {}}, "description": "The QR code as an SVG image."}
}


def _user_id(principal: Principal) -> str:
    if principal.user_id is None:
        raise WalletNotAvailable("Organisations have no wallet here yet.")
    return principal.user_id


def _context(c: Container, request: Request, principal: Principal) -> service.Context:
    return service.Context(
        c.ledger,
        c.throttle,
        AuditContext.from_request(request, principal),
        payment_step_up(request, principal),
    )


def _image(payload: str, kind: Literal["png", "svg"]) -> Response:
    if kind == "png":
        return Response(qr.png(payload), media_type="image/png")
    return Response(qr.svg(payload), media_type="image/svg+xml")


# --- P2P and QR payments ----------------------------------------------------------------------


@router.post(
    "/v1/payments/p2p",
    status_code=201,
    response_model=schemas.PaymentOut,
    responses=ERRORS,
    summary="Send money to a person",
    description="Pay another person by `email`, `phone` or `wallet_id`, instantly, with an "
    "optional note, or by `username` (the handle they took, see `PUT /v1/payments/handle`). "
    "Unknown, unverified and disabled people all answer 404 `recipient_not_found`; lookups by "
    "email, phone or handle that find no one are throttled per payer (429). The amount "
    "plus any fee leaves your balance in `currency`; both sides see the payment in their "
    "activity and the recipient is notified.",
)
async def send_p2p(
    body: schemas.P2PIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    recipient = body.to.as_recipient()
    assert recipient is not None
    # The parties are found on an autocommit connection; the payment itself is posted with
    # the next group commit, which stores this response for the idempotency key.
    async with c.db.connection() as conn:
        order = await service.p2p_order(
            conn,
            _context(c, request, principal),
            payer_user_id=_user_id(principal),
            to=recipient,
            amount=body.amount,
            currency=body.currency,
            note=body.note,
        )
    payment = await c.payments.submit(order, idem.claim)
    return json_response(201, payment_payload(payment))


@router.post(
    "/v1/payments/qr",
    status_code=201,
    response_model=schemas.PaymentOut,
    responses=ERRORS,
    summary="Pay a scanned QR code",
    description="Send the text of a scanned finhub EMVCo QR code. A static code (a person's or "
    "shop's own) needs `amount`; a dynamic code (a payment request) carries its amount, which "
    "`amount`, if sent, must match, and paying it settles the request. A damaged payload (bad "
    "CRC) or a code of another scheme answers 422 `qr_invalid`.",
)
async def pay_qr(
    body: schemas.PayQrIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.pipelined_transaction() as conn:
        payment = await service.pay_qr(
            conn,
            _context(c, request, principal),
            payer_user_id=_user_id(principal),
            payload=body.payload,
            amount=body.amount,
            note=body.note,
        )
        return await idem.respond(conn, 201, payment_payload(payment))


@router.get(
    "/v1/payments/static-qr",
    response_model=schemas.StaticQrOut,
    responses=ERRORS,
    summary="Your static QR code's payload",
    description="The EMVCo payload of your own static code: whoever scans it pays you the "
    "amount they choose, in `currency`.",
)
async def static_qr(principal: Reader, c: ContainerDep, currency: QrCurrency = None) -> Response:
    party, payload = await _static_payload(c, principal, currency)
    return json_response(
        200,
        {
            "object": "static_qr",
            "wallet_id": party.wallet.id,
            "currency": currency or party.wallet.home_currency,
            "payload": payload,
        },
    )


@router.get(
    "/v1/payments/static-qr.png",
    response_class=Response,
    responses={**ERRORS, **PNG},
    summary="Your static QR code (PNG)",
    description="Your own static EMVCo QR code as a PNG image.",
)
async def static_qr_png(
    principal: Reader, c: ContainerDep, currency: QrCurrency = None
) -> Response:
    return _image((await _static_payload(c, principal, currency))[1], "png")


@router.get(
    "/v1/payments/static-qr.svg",
    response_class=Response,
    responses={**ERRORS, **SVG},
    summary="Your static QR code (SVG)",
    description="Your own static EMVCo QR code as an SVG image.",
)
async def static_qr_svg(
    principal: Reader, c: ContainerDep, currency: QrCurrency = None
) -> Response:
    return _image((await _static_payload(c, principal, currency))[1], "svg")


async def _static_payload(
    c: Container, principal: Principal, currency: str | None
) -> tuple[Party, str]:
    async with c.db.transaction() as conn:
        party = await service.payer_party(conn, c.clock, _user_id(principal))
    return party, service.static_qr_payload(party, currency or party.wallet.home_currency)


# --- handles ----------------------------------------------------------------------------------


@router.get(
    "/v1/payments/handle",
    response_model=schemas.HandleOut,
    responses=ERRORS,
    summary="Your handle",
    description="The handle others can pay you by (`to: {username: …}`); 404 `handle_not_found` "
    "while you have none.",
)
async def get_handle(principal: Reader, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        party = await service.own_party(conn, c.clock, _user_id(principal))
        handle = await service.handle_of(conn, party)
    if handle is None:
        raise HandleNotFound("You have no handle.")
    return json_response(200, _handle_payload(handle, party))


@router.put(
    "/v1/payments/handle",
    response_model=schemas.HandleOut,
    responses=ERRORS,
    summary="Take or change your handle",
    description="3 to 30 letters, digits or underscores, case-insensitive; people can then pay "
    "you as @handle. A handle someone else has, or a reserved one, answers 409 "
    "`handle_taken`. Setting the same handle again changes nothing.",
)
async def put_handle(
    body: schemas.HandleIn, request: Request, principal: Writer, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        party = await service.payer_party(conn, c.clock, _user_id(principal))
        handle = await service.set_handle(conn, _context(c, request, principal), party, body.handle)
    return json_response(200, _handle_payload(handle, party))


@router.delete(
    "/v1/payments/handle",
    status_code=204,
    response_class=Response,
    responses=ERRORS,
    summary="Give up your handle",
    description="Others can no longer pay you by it, and anyone may take it afterwards.",
)
async def delete_handle(request: Request, principal: Writer, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        party = await service.own_party(conn, c.clock, _user_id(principal))
        await service.remove_handle(conn, _context(c, request, principal), party)
    return Response(status_code=204)


def _handle_payload(handle: str, party: Party) -> dict[str, Any]:
    return {"object": "wallet_handle", "id": handle, "handle": handle, "wallet_id": party.wallet.id}


# --- payment requests -------------------------------------------------------------------------


@router.post(
    "/v1/payment-requests",
    status_code=201,
    response_model=schemas.PaymentRequestOut,
    responses=ERRORS,
    tags=["payment requests"],
    summary="Request money",
    description="Ask a person (`from`: email, phone or wallet id) for an amount, or leave "
    "`from` out for an open request anyone with its link or QR code can pay once. The answer "
    "carries the share `token`, `link` and `qr_payload` (shown to the requester only). "
    "Requests expire after 7 days unless `expires_at` says otherwise.",
)
async def create_request(
    body: schemas.PaymentRequestIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    payer = body.from_.as_recipient() if body.from_ is not None else None
    async with c.db.transaction() as conn:
        created = await service.create_request(
            conn,
            _context(c, request, principal),
            requester_user_id=_user_id(principal),
            amount=body.amount,
            currency=body.currency,
            note=body.note,
            payer=payer,
            expires_at=body.expires_at,
        )
        payload = (await _request_payloads(conn, c, [created], created.requester_wallet_id))[0]
        return await idem.respond(conn, 201, payload)


@router.get(
    "/v1/payment-requests",
    response_model=Page[schemas.PaymentRequestOut],
    responses=ERRORS,
    tags=["payment requests"],
    summary="List your payment requests",
    description="Requests you sent and requests addressed to you, newest first; filter by "
    "`role` (sent, received) and `status` (open, paid, canceled, expired).",
)
async def list_requests(
    principal: Reader,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
    role: Literal["sent", "received"] | None = None,
    status: Literal["open", "paid", "canceled", "expired"] | None = None,
) -> Response:
    async with c.db.transaction() as conn:
        wallet = (await service.own_party(conn, c.clock, _user_id(principal))).wallet
        found = await service.list_requests(
            conn,
            c.clock,
            wallet,
            RequestFilter(role, status),
            limit=limit + 1,
            starting_after=starting_after,
        )
        payloads = await _request_payloads(conn, c, found, wallet.id)
    return json_response(200, page_payload(payloads, limit, lambda p: p, lambda p: p["id"]))


@router.get(
    "/v1/payment-requests/{request_id}",
    response_model=schemas.PaymentRequestOut,
    responses=ERRORS,
    tags=["payment requests"],
    summary="Get a payment request",
    description="A request you sent or that is addressed to you; any other id answers 404.",
)
async def get_request(request_id: RequestPath, principal: Reader, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        wallet = (await service.own_party(conn, c.clock, _user_id(principal))).wallet
        found = await service.visible_request(conn, wallet, request_id)
        payload = (await _request_payloads(conn, c, [found], wallet.id))[0]
    return json_response(200, payload)


@router.post(
    "/v1/payment-requests/{request_id}/pay",
    status_code=201,
    response_model=schemas.PaymentRequestOut,
    responses=ERRORS,
    tags=["payment requests"],
    summary="Pay a payment request addressed to you",
    description="Pays the request once, instantly; a paid request answers 409 "
    "`payment_request_paid`, a canceled or expired one 409 `payment_request_closed`.",
)
async def pay_request(
    request_id: RequestPath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.pipelined_transaction() as conn:
        paid = await service.pay_request(
            conn,
            _context(c, request, principal),
            payer_user_id=_user_id(principal),
            request_id=request_id,
        )
        return await idem.respond(conn, 201, await _paid_payload(conn, c, paid))


@router.post(
    "/v1/payment-requests/pay-by-token",
    status_code=201,
    response_model=schemas.PaymentRequestOut,
    responses=ERRORS,
    tags=["payment requests"],
    summary="Pay a payment request from its link",
    description="Pays the request behind a shared link's `token` (in the body, never in the "
    "URL) once. A request addressed to someone else answers 404.",
)
async def pay_by_token(
    body: schemas.PayByTokenIn,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.pipelined_transaction() as conn:
        paid = await service.pay_request(
            conn,
            _context(c, request, principal),
            payer_user_id=_user_id(principal),
            token=body.token,
        )
        return await idem.respond(conn, 201, await _paid_payload(conn, c, paid))


@router.post(
    "/v1/payment-requests/{request_id}/cancel",
    response_model=schemas.PaymentRequestOut,
    responses=ERRORS,
    tags=["payment requests"],
    summary="Cancel your payment request",
    description="Only the requester can cancel, and only while the request is open.",
)
async def cancel_request(
    request_id: RequestPath,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    user_id = _user_id(principal)
    async with c.db.transaction() as conn:
        wallet = (await service.own_party(conn, c.clock, user_id)).wallet
        canceled = await service.cancel_request(
            conn, _context(c, request, principal), wallet, user_id, request_id
        )
        payload = (await _request_payloads(conn, c, [canceled], wallet.id))[0]
        return await idem.respond(conn, 200, payload)


@router.get(
    "/v1/payment-requests/{request_id}/qr.png",
    response_class=Response,
    responses={**ERRORS, **PNG},
    tags=["payment requests"],
    summary="The request's QR code (PNG)",
    description="The dynamic EMVCo QR code of your own request; scanning and paying it is one "
    "call (`POST /v1/payments/qr`).",
)
async def request_qr_png(request_id: RequestPath, principal: Reader, c: ContainerDep) -> Response:
    return _image(await _request_qr(c, principal, request_id), "png")


@router.get(
    "/v1/payment-requests/{request_id}/qr.svg",
    response_class=Response,
    responses={**ERRORS, **SVG},
    tags=["payment requests"],
    summary="The request's QR code (SVG)",
    description="The dynamic EMVCo QR code of your own request, as SVG.",
)
async def request_qr_svg(request_id: RequestPath, principal: Reader, c: ContainerDep) -> Response:
    return _image(await _request_qr(c, principal, request_id), "svg")


async def _request_qr(c: Container, principal: Principal, request_id: str) -> str:
    async with c.db.transaction() as conn:
        party = await service.payer_party(conn, c.clock, _user_id(principal))
        found = await service.own_request(conn, party.wallet, request_id)
    return service.request_qr_payload(found, party.person)


# --- payloads ---------------------------------------------------------------------------------


async def _paid_payload(conn: Connection, c: Container, paid: service.PaidRequest) -> Any:
    [payload] = await _request_payloads(conn, c, [paid.request], paid.payment.wallet_id)
    return {**payload, "payment": payment_payload(paid.payment)}


async def _request_payloads(
    conn: Connection, c: Container, requests: list[PaymentRequest], viewer_wallet_id: str
) -> list[dict[str, Any]]:
    wallet_ids = {r.requester_wallet_id for r in requests}
    wallet_ids |= {r.payer_wallet_id or r.paid_by_wallet_id or "" for r in requests} - {""}
    people = await service.people_of_wallets(conn, sorted(wallet_ids))
    return [_request_payload(c, r, people, viewer_wallet_id) for r in requests]


def _request_payload(
    c: Container, found: PaymentRequest, people: dict[str, Person], viewer_wallet_id: str
) -> dict[str, Any]:
    requester = people[found.requester_wallet_id]
    payer_wallet = found.payer_wallet_id or found.paid_by_wallet_id
    mine = found.requester_wallet_id == viewer_wallet_id
    payload: dict[str, Any] = {
        "object": "payment_request",
        "id": found.id,
        "role": "requester" if mine else "payer",
        "status": found.state(c.clock.now()),
        "amount": found.amount,
        "currency": found.currency,
        "note": found.note,
        "requester": _party(found.requester_wallet_id, requester),
        "payer": _party(payer_wallet, people[payer_wallet]) if payer_wallet else None,
        "payment_id": found.paid_payment_id,
        "created_at": found.created_at,
        "expires_at": found.expires_at,
        "paid_at": found.paid_at,
        "canceled_at": found.canceled_at,
    }
    if mine:
        payload["token"] = found.token
        payload["link"] = f"{c.settings.public_url.rstrip('/')}/pay#{found.token}"
        payload["qr_payload"] = service.request_qr_payload(found, requester)
    return payload


def _party(wallet_id: str, person: Person) -> dict[str, str]:
    return {"wallet_id": wallet_id, "name": counterparty_label(person)}
