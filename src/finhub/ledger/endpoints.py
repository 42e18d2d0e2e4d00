"""REST endpoints of the ledger under `/v1/ledger`: staff only (admin and operations).

Customers never reach the ledger directly; the product modules post to it through its service.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from finhub.api import ContainerDep, DeferredKeyDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext, AuditEntry, record, record_many
from finhub.identity.principal import Access, Principal
from finhub.kit.db.engine import Connection
from finhub.kit.jsonutil import dumps
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.ledger import schemas
from finhub.ledger.batcher import TransactionAudit
from finhub.ledger.models import AccountType, EntrySpec, Transaction, TransactionKind
from finhub.ledger.repository import AccountFilter, TransactionFilter
from finhub.ledger.service import PostOutcome

LEDGER_ACCESS = Access("staff", staff_roles=("admin", "operations"))
router = APIRouter(prefix="/v1/ledger", tags=["ledger"], dependencies=[Depends(LEDGER_ACCESS)])
# The same dependency as the router's (FastAPI runs it once per request), for the audit trail.
Staff = Annotated[Principal, Depends(LEDGER_ACCESS)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "Not a staff member with the admin or operations role (problem+json)."},
    404: {"description": "Not found (problem+json)."},
    409: {"description": "Conflicts with the current state (problem+json)."},
    422: {"description": "Invalid request or a broken ledger rule (problem+json)."},
}

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
AccountPath = Annotated[str, Path(description="The account's id (`acct_…`).")]
TransactionPath = Annotated[str, Path(description="The transaction's id (`txn_…`).")]


def _entry_specs(entries: list[schemas.EntryIn]) -> list[EntrySpec]:
    return [EntrySpec(e.account, e.direction, e.amount, asset=e.asset) for e in entries]


def _transaction_audit(request: Request, staff: Principal) -> TransactionAudit:
    """The audit record of a posted transaction, written in the transaction that posts it."""
    context = AuditContext.from_request(request, staff)

    def audit(transaction: Transaction) -> AuditEntry:
        return AuditEntry(
            context,
            "ledger.transaction_posted",
            object_type="ledger_transaction",
            object_id=transaction.id,
            after=_transaction_summary(transaction),
        )

    return audit


async def _audit(
    conn: Connection,
    request: Request,
    staff: Principal,
    action: str,
    object_type: str,
    after: dict[str, Any],
) -> None:
    context = AuditContext.from_request(request, staff)
    object_id = after.get("id") or after["code"]
    await record(conn, context, action, object_type=object_type, object_id=object_id, after=after)


async def _audit_batch(
    conn: Connection,
    request: Request,
    staff: Principal,
    mode: str,
    outcomes: list[PostOutcome],
) -> None:
    """One record for the whole batch, naming every transaction it posted.

    The request is the action; the entries themselves are in the append-only ledger. (A record
    per transaction used to cost more than posting them: each one is hashed into the chain.)
    """
    posted = [outcome.transaction.id for outcome in outcomes if outcome.transaction]
    if not posted:
        return  # nothing moved: a rejected batch leaves no money record
    await record(
        conn,
        AuditContext.from_request(request, staff),
        "ledger.batch_posted",
        object_type="ledger_batch",
        after={
            "mode": mode,
            "posted": len(posted),
            "failed": len(outcomes) - len(posted),
            "transactions": posted,
        },
    )


def _transaction_summary(transaction: Transaction) -> dict[str, Any]:
    return {
        "kind": transaction.kind.value,
        "entries": [
            [e.account_id, e.direction.value, e.phase.value, str(e.amount), e.asset]
            for e in transaction.entries
        ],
        "pending_id": transaction.pending_id,
        "reverses_id": transaction.reverses_id,
    }


# --- assets -----------------------------------------------------------------------------------


@router.post(
    "/assets",
    status_code=201,
    response_model=schemas.AssetOut,
    responses=ERRORS,
    summary="Create a custom asset",
    description="Register a non-ISO asset (e.g. BTC with scale 8, reward points with scale 0). "
    "ISO 4217 currencies exist already and need no registration.",
)
async def create_asset(
    body: schemas.AssetCreate, request: Request, staff: Staff, c: ContainerDep, idem: IdempotentDep
) -> Response:
    async with c.db.transaction() as conn:
        asset = await c.ledger.create_asset(conn, body.code, body.scale, body.name)
        payload = schemas.asset_out(asset)
        await _audit(conn, request, staff, "ledger.asset_created", "asset", payload)
        return await idem.respond(conn, 201, payload)


@router.get(
    "/assets",
    response_model=list[schemas.AssetOut],
    summary="List assets in use",
    description="Custom assets and the ISO currencies that accounts have used so far.",
)
async def list_assets(c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        assets = await c.ledger.list_assets(conn)
    return json_response(200, [schemas.asset_out(a) for a in assets])


# --- accounts ---------------------------------------------------------------------------------


@router.post(
    "/accounts",
    status_code=201,
    response_model=schemas.AccountOut,
    responses=ERRORS,
    summary="Create an account",
    description="Open an account for one asset, with its type, normal side and optional limits.",
)
async def create_account(
    body: schemas.AccountCreate,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        account = await c.ledger.create_account(
            conn,
            ledger_id=body.ledger,
            asset=body.asset,
            type=body.type,
            normal_side=body.normal_side,
            name=body.name,
            external_ref=body.external_ref,
            owner_ref=body.owner_ref,
            metadata=body.metadata,
            debits_must_not_exceed_credits=body.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=body.credits_must_not_exceed_debits,
            overdraft_limit=body.overdraft_limit,
        )
        payload = schemas.account_out(account)
        await _audit(conn, request, staff, "ledger.account_opened", "ledger_account", payload)
        return await idem.respond(conn, 201, payload)


@router.get(
    "/accounts",
    response_model=Page[schemas.AccountOut],
    responses=ERRORS,
    summary="List accounts",
    description="Newest first. Filter by ledger, asset, type, owner, external reference, status, "
    "and metadata with `metadata[key]=value` query parameters.",
)
async def list_accounts(
    request: Request,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ledger: str | None = None,
    asset: str | None = None,
    type: AccountType | None = None,
    owner_ref: str | None = None,
    external_ref: str | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
) -> Response:
    metadata = {
        key[len("metadata[") : -1]: value
        for key, value in request.query_params.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    where = AccountFilter(ledger, asset, type, owner_ref, external_ref, status, metadata or None)
    async with c.db.connection() as conn:
        accounts = await c.ledger.list_accounts(
            conn, where, limit=limit + 1, starting_after=starting_after
        )
    return json_response(
        200, page_payload(accounts, limit, schemas.account_out, lambda a: a.state.id)
    )


@router.get(
    "/accounts/{account_id}",
    response_model=schemas.AccountOut,
    responses=ERRORS,
    summary="Get an account",
)
async def get_account(account_id: AccountPath, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        account = await c.ledger.get_account(conn, account_id)
    return json_response(200, schemas.account_out(account))


@router.post(
    "/accounts/{account_id}/close",
    response_model=schemas.AccountOut,
    responses=ERRORS,
    summary="Close an account",
    description="Only an empty account (zero balance, no holds) can be closed. A closed "
    "account takes no new entries.",
)
async def close_account(
    account_id: AccountPath,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        account = await c.ledger.close_account(conn, account_id)
        payload = schemas.account_out(account)
        await _audit(conn, request, staff, "ledger.account_closed", "ledger_account", payload)
        return await idem.respond(conn, 200, payload)


@router.get(
    "/accounts/{account_id}/balance",
    response_model=schemas.BalanceOut,
    responses=ERRORS,
    summary="Get an account's balance, now or as of a past moment",
)
async def get_balance(
    account_id: AccountPath,
    c: ContainerDep,
    as_of: Annotated[
        AwareDatetime | None, Query(description="ISO 8601 moment with offset; omit for now.")
    ] = None,
) -> Response:
    async with c.db.connection() as conn:
        balance = await c.ledger.balance(conn, account_id, as_of)
    return json_response(200, schemas.balance_out(balance))


@router.get(
    "/accounts/{account_id}/entries",
    response_model=Page[schemas.StatementEntryOut],
    responses=ERRORS,
    summary="Statement: an account's entries with the balance after each",
    description="Newest first; page with `starting_after` set to the last entry id seen.",
)
async def list_entries(
    account_id: AccountPath,
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(pattern=r"^ent_\d{1,19}$")] = None,
) -> Response:
    cursor = int(starting_after.removeprefix("ent_")) if starting_after else None
    async with c.db.connection() as conn:
        account, entries = await c.ledger.statement(
            conn, account_id, limit=limit + 1, starting_after=cursor
        )
    payload = page_payload(
        entries,
        limit,
        lambda e: schemas.statement_entry_out(e, account.state),
        lambda e: f"ent_{e.id}",
    )
    return json_response(200, payload)


# --- transactions -----------------------------------------------------------------------------


def _transaction_spec(c: ContainerDep, body: schemas.TransactionCreate) -> Any:
    return c.ledger.transaction_spec(
        ledger_id=body.ledger,
        entries=_entry_specs(body.entries),
        description=body.description,
        metadata=body.metadata,
        pending=body.pending,
        expires_at=body.expires_at,
        effective_at=body.effective_at,
    )


@router.post(
    "/transactions",
    status_code=201,
    response_model=schemas.TransactionOut,
    responses=ERRORS,
    summary="Post a transaction",
    description="Two or more entries that balance per asset, applied atomically. With "
    "`pending: true` the amounts are held until posted, voided or expired.",
)
async def create_transaction(
    body: schemas.TransactionCreate,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    spec = _transaction_spec(c, body)
    async with c.db.transaction() as conn:
        transaction = await c.ledger.post_one(conn, spec)
        await record_many(conn, [_transaction_audit(request, staff)(transaction)])
        return await idem.respond(conn, 201, schemas.transaction_out(transaction))


@router.post(
    "/transactions/batch",
    status_code=201,
    response_model=schemas.BatchOut,
    responses=ERRORS,
    summary="Post many transactions in one request",
    description="`atomic`: all are posted or none (a broken rule answers 422 with the failing "
    "`index`). `independent`: each is posted or rejected on its own, with a result per item.",
)
async def create_batch(
    body: schemas.BatchCreate,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    specs = [_transaction_spec(c, item) for item in body.transactions]
    async with c.db.transaction() as conn:
        outcomes = await c.ledger.post(conn, specs, atomic=body.mode == "atomic")
        await _audit_batch(conn, request, staff, body.mode, outcomes)
        payload = schemas.batch_out(body.mode, outcomes, request.url.path)
        return await idem.respond(conn, 201, payload)


@router.get(
    "/transactions",
    response_model=Page[schemas.TransactionOut],
    responses=ERRORS,
    summary="List transactions",
    description="Newest first; filter by ledger, account, kind and creation time range.",
)
async def list_transactions(
    c: ContainerDep,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ledger: str | None = None,
    account: str | None = None,
    kind: TransactionKind | None = None,
    created_gte: AwareDatetime | None = None,
    created_lt: AwareDatetime | None = None,
) -> Response:
    where = TransactionFilter(ledger, account, kind, created_gte, created_lt)
    async with c.db.connection() as conn:
        transactions = await c.ledger.list_transactions(
            conn, where, limit=limit + 1, starting_after=starting_after
        )
    return json_response(
        200, page_payload(transactions, limit, schemas.transaction_out, lambda t: t.id)
    )


@router.get(
    "/transactions/{transaction_id}",
    response_model=schemas.TransactionOut,
    responses=ERRORS,
    summary="Get a transaction",
)
async def get_transaction(transaction_id: TransactionPath, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        transaction = await c.ledger.get_transaction(conn, transaction_id)
    return json_response(200, schemas.transaction_out(transaction))


@router.post(
    "/transactions/{transaction_id}/post",
    status_code=201,
    response_model=schemas.TransactionOut,
    responses=ERRORS,
    summary="Post a pending transaction (fully or partly)",
    description="Releases the hold and posts the given amount (default: all of it). The answer "
    "is the new posting transaction; the hold's status becomes `posted`.",
)
async def post_pending(
    transaction_id: TransactionPath,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
    body: schemas.PostPendingIn | None = None,
) -> Response:
    body = body or schemas.PostPendingIn()
    entries = _entry_specs(body.entries) if body.entries is not None else None
    async with c.db.transaction() as conn:
        transaction = await c.ledger.post_pending(
            conn, transaction_id, amount=body.amount, entries=entries, description=body.description
        )
        await record_many(conn, [_transaction_audit(request, staff)(transaction)])
        return await idem.respond(conn, 201, schemas.transaction_out(transaction))


@router.post(
    "/transactions/{transaction_id}/void",
    status_code=201,
    response_model=schemas.TransactionOut,
    responses=ERRORS,
    summary="Void a pending transaction",
    description="Releases the whole hold; nothing is posted.",
)
async def void_pending(
    transaction_id: TransactionPath,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
    body: schemas.VoidPendingIn | None = None,
) -> Response:
    description = body.description if body else None
    async with c.db.transaction() as conn:
        transaction = await c.ledger.void_pending(conn, transaction_id, description=description)
        await record_many(conn, [_transaction_audit(request, staff)(transaction)])
        return await idem.respond(conn, 201, schemas.transaction_out(transaction))


@router.post(
    "/transactions/{transaction_id}/reverse",
    status_code=201,
    response_model=schemas.TransactionOut,
    responses=ERRORS,
    summary="Reverse a posted transaction",
    description="Posts the mirror image of the transaction (each side swapped). A transaction "
    "is reversed at most once; the reversal can fail for insufficient funds.",
)
async def reverse_transaction(
    transaction_id: TransactionPath,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    idem: IdempotentDep,
    body: schemas.ReverseIn | None = None,
) -> Response:
    body = body or schemas.ReverseIn()
    async with c.db.transaction() as conn:
        transaction = await c.ledger.reverse(
            conn, transaction_id, description=body.description, metadata=body.metadata
        )
        await record_many(conn, [_transaction_audit(request, staff)(transaction)])
        return await idem.respond(conn, 201, schemas.transaction_out(transaction))


# --- transfers --------------------------------------------------------------------------------


@router.post(
    "/transfers",
    status_code=201,
    response_model=schemas.TransactionOut,
    responses=ERRORS,
    summary="Transfer between two accounts",
    description="Shorthand for a two-entry transaction: debit `from_account`, credit "
    "`to_account`. Concurrent transfers are group-committed, so this is the fastest way to "
    "move money one payment at a time; the `Idempotency-Key` is claimed in the same commit.",
)
async def create_transfer(
    body: schemas.TransferCreate,
    request: Request,
    staff: Staff,
    c: ContainerDep,
    key: DeferredKeyDep,
) -> Response:
    spec = c.ledger.transfer_spec(
        ledger_id=body.ledger,
        from_account=body.from_account,
        to_account=body.to_account,
        amount=body.amount,
        asset=body.asset,
        description=body.description,
        metadata=body.metadata,
        pending=body.pending,
        expires_at=body.expires_at,
        effective_at=body.effective_at,
    )
    rendered: list[bytes] = []

    def render(transaction: Transaction) -> tuple[int, bytes]:
        rendered.append(dumps(schemas.transaction_out(transaction)))
        return 201, rendered[-1]

    transaction = await c.batcher.submit(
        spec, key=key, render=render, audit=_transaction_audit(request, staff)
    )
    body_bytes = rendered[-1] if rendered else dumps(schemas.transaction_out(transaction))
    return Response(body_bytes, status_code=201, media_type="application/json")
