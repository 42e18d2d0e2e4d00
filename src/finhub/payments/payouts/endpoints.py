"""REST endpoints of money out: `/v1/payees`, `/v1/payments/withdrawals` and, for staff,
`/v1/staff/payout-batches` (pain.001 export and pain.002 import).

Adding a payee needs a fresh second factor: once saved, a payee is where money can be sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.errors import Unprocessable
from finhub.identity.principal import Access, Principal
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.payments.payouts import batches, schemas, service
from finhub.payments.step_up import payment_step_up
from finhub.wallets.errors import WalletNotAvailable

router = APIRouter()

SteppedUpPersonDep = Annotated[Principal, Depends(Access("user", step_up=True))]
ReaderDep = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:read",)))]
WriterDep = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:write",)))]
PayoutStaffDep = Annotated[Principal, Depends(Access("staff", staff_roles=("operations", "admin")))]
PayeePath = Annotated[str, Path(max_length=64, description="The payee's id (`pye_…`).")]
WithdrawalPath = Annotated[
    str, Path(max_length=64, description="The withdrawal's payment id (`pay_…`).")
]
BatchPath = Annotated[str, Path(max_length=64, description="The batch's id (`pob_…`).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="The last id of the previous page.")
]
MAX_REPORT_BYTES = 5_000_000

ERRORS: dict[int, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {
        "description": "Not allowed: wrong credentials (`wrong_principal_type`, "
        "`insufficient_scope`, `permission_denied`), no fresh second factor "
        "(`step_up_required`) or no wallet (`wallet_not_available`) (problem+json)."
    },
    404: {"description": "No such payee, withdrawal or batch for this caller (problem+json)."},
    409: {
        "description": "The wallet is closed (`wallet_closed`), the withdrawal is already in a "
        "batch (`withdrawal_already_batched`) or in a final state (`payment_state_conflict`), "
        "or a report contradicts an earlier one (`payout_status_conflict`) (problem+json)."
    },
    422: {
        "description": "Invalid request: bank details (`iban_invalid`, `bic_invalid`, "
        "`bic_mismatch`, `sort_code_invalid`, `routing_number_invalid`, …), "
        "`currency_mismatch`, `insufficient_funds`, `limit_exceeded`, "
        "`invalid_status_report`, `status_report_mismatch` (problem+json)."
    },
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: ERRORS[status] for status in statuses}


def _person(principal: Principal) -> str:
    """The person the caller acts for; an organisation's key has no wallet (yet)."""
    if principal.user_id is None:
        raise WalletNotAvailable("Organisation API keys have no wallet to pay out from.")
    return principal.user_id


# --- payees ------------------------------------------------------------------------------------


@router.post(
    "/v1/payees",
    status_code=201,
    tags=["payees"],
    response_model=schemas.PayeeOut,
    responses=_errors(401, 403, 422),
    summary="Add a payee",
    description="Save a bank account to withdraw to: an IBAN (the BIC is optional and, when "
    "given, must match the IBAN's country and bank) or a local account number with its sort "
    "code (GB) or routing number (US). Euro payees need an IBAN in the SEPA zone. Needs a "
    "second factor proven in the last few minutes (`POST /v1/auth/step-up`).",
)
async def add_payee(
    body: schemas.PayeeCreate,
    request: Request,
    principal: SteppedUpPersonDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    user_id = _person(principal)
    new = service.new_payee(**body.model_dump())
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        payee = await service.add_payee(conn, c.clock, audit, user_id, new)
        return await idem.respond(conn, 201, schemas.payee_out(payee))


@router.get(
    "/v1/payees",
    tags=["payees"],
    response_model=Page[schemas.PayeeOut],
    responses=_errors(401, 403, 422),
    summary="List payees",
    description="Your saved payees, newest first.",
)
async def list_payees(
    principal: ReaderDep,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Cursor = None,
) -> Response:
    user_id = _person(principal)
    async with c.db.connection() as conn:
        payees = await service.list_payees(
            conn, user_id, limit=limit + 1, starting_after=starting_after
        )
    return json_response(200, page_payload(payees, limit, schemas.payee_out, lambda p: p.id))


@router.get(
    "/v1/payees/{payee_id}",
    tags=["payees"],
    response_model=schemas.PayeeOut,
    responses=_errors(401, 403, 404),
    summary="Get a payee",
    description="One of your saved payees.",
)
async def get_payee(payee_id: PayeePath, principal: ReaderDep, c: ContainerDep) -> Response:
    user_id = _person(principal)
    async with c.db.connection() as conn:
        payee = await service.get_payee(conn, user_id, payee_id)
    return json_response(200, schemas.payee_out(payee))


@router.delete(
    "/v1/payees/{payee_id}",
    tags=["payees"],
    response_model=schemas.PayeeOut,
    responses=_errors(401, 403, 404),
    summary="Remove a payee",
    description="Remove a saved payee. Withdrawals already on their way to it still complete.",
)
async def remove_payee(
    payee_id: PayeePath, request: Request, principal: WriterDep, c: ContainerDep
) -> Response:
    user_id = _person(principal)
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        payee = await service.remove_payee(conn, c.clock, audit, user_id, payee_id)
    return json_response(200, schemas.payee_out(payee))


# --- withdrawals -------------------------------------------------------------------------------


@router.post(
    "/v1/payments/withdrawals",
    status_code=201,
    tags=["payments"],
    response_model=schemas.WithdrawalOut,
    responses=_errors(401, 403, 404, 409, 422),
    summary="Withdraw to a payee",
    description="Hold `amount` plus the withdrawal fee in your wallet and send it to the payee "
    "with the next payout batch. The withdrawal is `processing` until the bank reports it "
    "paid (`completed`) or rejected (`failed`, the money is back in the wallet). Send an "
    "`Idempotency-Key`: a retry never withdraws twice.",
)
async def create_withdrawal(
    body: schemas.WithdrawalCreate,
    request: Request,
    principal: WriterDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    user_id = _person(principal)
    new = service.NewWithdrawal(
        payee_id=body.payee_id, amount=body.amount, currency=body.currency, note=body.note
    )
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        await payment_step_up(request, principal).check(conn, body.amount, body.currency)
        withdrawal = await service.create_withdrawal(conn, c.ledger, audit, user_id, new)
        return await idem.respond(conn, 201, schemas.withdrawal_out(withdrawal))


@router.get(
    "/v1/payments/withdrawals/{payment_id}",
    tags=["payments"],
    response_model=schemas.WithdrawalOut,
    responses=_errors(401, 403, 404),
    summary="Get a withdrawal",
    description="One of your withdrawals, with where it stands at the bank.",
)
async def get_withdrawal(
    payment_id: WithdrawalPath, principal: ReaderDep, c: ContainerDep
) -> Response:
    user_id = _person(principal)
    async with c.db.connection() as conn:
        withdrawal = await service.get_withdrawal(conn, user_id, payment_id)
    return json_response(200, schemas.withdrawal_out(withdrawal))


@router.post(
    "/v1/payments/withdrawals/{payment_id}/cancel",
    tags=["payments"],
    response_model=schemas.WithdrawalOut,
    responses=_errors(401, 403, 404, 409),
    summary="Cancel a withdrawal",
    description="Cancel a withdrawal that no payout batch has taken yet; the held money is "
    "available again at once.",
)
async def cancel_withdrawal(
    payment_id: WithdrawalPath,
    request: Request,
    principal: WriterDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    user_id = _person(principal)
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        withdrawal = await service.cancel_withdrawal(conn, c.ledger, audit, user_id, payment_id)
        return await idem.respond(conn, 200, schemas.withdrawal_out(withdrawal))


# --- payout batches (staff) --------------------------------------------------------------------


@router.post(
    "/v1/staff/payout-batches",
    status_code=201,
    tags=["payouts"],
    response_model=schemas.PayoutBatchList,
    responses=_errors(401, 403, 422),
    summary="Run a payout batch",
    description="Gather every withdrawal not yet in a batch into one batch per currency (EUR "
    "as SEPA credit transfers) and store its ISO 20022 pain.001.001.09 file, validated "
    "against the official XSD. One transaction: an interrupted run leaves the withdrawals "
    "for the next one. Answers the batches created (none when nothing is waiting). Staff "
    "with the operations or admin role.",
)
async def create_payout_batches(
    request: Request,
    principal: PayoutStaffDep,
    c: ContainerDep,
    idem: IdempotentDep,
    body: schemas.PayoutBatchCreate | None = None,
) -> Response:
    assert principal.staff_id is not None
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        created = await batches.create_batches(
            conn, c.ledger, audit, principal.staff_id, currency=body.currency if body else None
        )
        payload = {"object": "list", "data": [schemas.batch_out(batch) for batch in created]}
        return await idem.respond(conn, 201, payload)


@router.get(
    "/v1/staff/payout-batches",
    tags=["payouts"],
    response_model=Page[schemas.PayoutBatchOut],
    responses=_errors(401, 403, 422),
    summary="List payout batches",
    description="Payout batches, newest first.",
)
async def list_payout_batches(
    principal: PayoutStaffDep,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Cursor = None,
) -> Response:
    async with c.db.connection() as conn:
        found = await batches.list_batches(conn, limit=limit + 1, starting_after=starting_after)
    return json_response(200, page_payload(found, limit, schemas.batch_out, lambda b: b.id))


@router.get(
    "/v1/staff/payout-batches/{batch_id}",
    tags=["payouts"],
    response_model=schemas.PayoutBatchOut,
    responses=_errors(401, 403, 404),
    summary="Get a payout batch",
    description="A batch with each of its payments and the bank's answer for it.",
)
async def get_payout_batch(
    batch_id: BatchPath, principal: PayoutStaffDep, c: ContainerDep
) -> Response:
    async with c.db.connection() as conn:
        batch = await batches.get_batch(conn, batch_id)
        payouts = await batches.batch_payouts(conn, batch_id)
    return json_response(200, schemas.batch_out(batch, payouts))


@router.get(
    "/v1/staff/payout-batches/{batch_id}/pain001",
    tags=["payouts"],
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {}}, "description": "The pain.001 file."},
        **_errors(401, 403, 404),
    },
    summary="Download a batch's pain.001 file",
    description="The ISO 20022 credit-transfer file exactly as it was stored when the batch "
    "was created (its SHA-256 is the batch's `pain001_sha256`).",
)
async def get_pain001(batch_id: BatchPath, principal: PayoutStaffDep, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        batch = await batches.get_batch(conn, batch_id)
    return Response(
        batch.pain001.encode("utf-8"),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{batch.message_id}.xml"'},
    )


@router.post(
    "/v1/staff/payout-batches/{batch_id}/status-report",
    tags=["payouts"],
    response_model=schemas.StatusReportOut,
    responses=_errors(401, 403, 404, 409, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
    summary="Import the bank's status report",
    description="Apply a pain.002 customer payment status report to the batch: payments "
    "settled (ACSC, ACCC) are completed, rejected ones (RJCT) fail with the bank's reason "
    "code and their money is released back to the wallet; interim statuses change nothing. "
    "All or nothing: a report naming payments outside the batch is refused whole. Importing "
    "the same report again changes nothing.",
)
async def import_status_report(
    batch_id: BatchPath,
    request: Request,
    principal: PayoutStaffDep,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    assert principal.staff_id is not None
    document = await request.body()
    if not document.strip():
        raise Unprocessable("Send the pain.002 XML as the body.", code="invalid_status_report")
    if len(document) > MAX_REPORT_BYTES:
        raise Unprocessable("The report is too large.", code="invalid_status_report")
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        outcome = await batches.import_status_report(
            conn, c.ledger, audit, principal.staff_id, batch_id, document
        )
        return await idem.respond(conn, 200, schemas.report_out(outcome))
