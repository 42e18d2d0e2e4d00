"""REST endpoints of a person's wallet under `/v1/wallets/me`: the overview, balances, settings,
closing, the summary a dashboard shows, the activity feed and its CSV and PDF exports.

`GET /v1/wallets/me` opens the wallet on first use (it is idempotent: one wallet per person,
whoever asks first), so a client never needs a separate "open" call; a person who has not
verified their email address gets 403 `wallet_not_available`. Organisation API keys have no
wallet (403 `wallet_not_available`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime

from finhub.api import Container, ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext, record
from finhub.errors import Unprocessable
from finhub.identity import service as identity
from finhub.identity.principal import Access, Principal
from finhub.kit.db.engine import Connection
from finhub.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_payload
from finhub.wallets import activity, schemas, statements, summary
from finhub.wallets import service as wallets
from finhub.wallets.activity_repository import ActivityFilter
from finhub.wallets.errors import WalletNotAvailable
from finhub.wallets.models import Wallet

router = APIRouter(prefix="/v1/wallets", tags=["wallets"])

Reader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("wallets:read",)))]
Writer = Annotated[Principal, Depends(Access("user", "api_key", scopes=("wallets:write",)))]
# Closing needs a second factor proven on this session: a person's session only.
Closer = Annotated[Principal, Depends(Access("user", step_up=True))]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "`wallet_not_available` (unverified person or an organisation key), "
          "`insufficient_scope` (problem+json)."},
    404: {"description": "Not found (problem+json)."},
    422: {"description": "Invalid request (problem+json)."},
}  # fmt: skip
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "`wallet_closed` or `wallet_not_empty` (problem+json)."},
}
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
ActivityPath = Annotated[str, Path(max_length=64, description="The line's id (`act_…`).")]


def _person(principal: Principal) -> str:
    if principal.user_id is None:
        raise WalletNotAvailable("Wallets belong to people; organisation keys have none.")
    return principal.user_id


async def _my_wallet(conn: Connection, c: Container, principal: Principal) -> Wallet:
    return await wallets.ensure_wallet(conn, c.clock, _person(principal))


async def _audit(
    conn: Connection,
    request: Request,
    principal: Principal,
    action: str,
    wallet: Wallet,
    after: dict[str, Any],
    before: dict[str, Any] | None = None,
) -> None:
    await record(
        conn,
        AuditContext.from_request(request, principal),
        action,
        subject_user_id=wallet.user_id,
        object_type="wallet",
        object_id=wallet.id,
        before=before,
        after=after,
    )


# --- the wallet -------------------------------------------------------------------------------


@router.get(
    "/me",
    response_model=schemas.WalletOut,
    responses=ERRORS,
    summary="Get my wallet",
    description="The caller's wallet, opened on first use: balances per currency (posted, "
    "available, held) and the total in the home currency. Without a rate for some currency "
    "the total is null and `missing_rates` lists the currencies.",
)
async def get_my_wallet(principal: Reader, c: ContainerDep) -> Response:
    async with c.db.transaction() as conn:
        wallet = await _my_wallet(conn, c, principal)
        payload = await activity.wallet_payload(conn, wallet)
    return json_response(200, payload)


@router.post(
    "/me/balances",
    status_code=201,
    response_model=schemas.BalanceOut,
    responses=WRITE_ERRORS,
    summary="Open a balance in a currency",
    description="Opens the wallet's balance in an ISO 4217 currency or a registered custom "
    "asset (422 `unknown_asset` otherwise). 201 when opened now, 200 when it was open already. "
    "Balances also open by themselves when money first arrives in a currency.",
)
async def open_balance(
    body: schemas.BalanceOpen,
    request: Request,
    principal: Writer,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    async with c.db.transaction() as conn:
        wallet = await _my_wallet(conn, c, principal)
        balance, opened = await activity.open_balance(conn, c.ledger, wallet, body.currency)
        payload = activity.balance_payload(balance)
        if opened:
            after = {"currency": balance.currency}
            await _audit(conn, request, principal, "wallet.balance_opened", wallet, after)
        return await idem.respond(conn, 201 if opened else 200, payload)


@router.patch(
    "/me",
    response_model=schemas.WalletOut,
    responses=WRITE_ERRORS,
    summary="Change my wallet's home currency",
    description="The home currency is the one the total is shown in (ISO 4217 only).",
)
async def update_my_wallet(
    body: schemas.WalletPatch, request: Request, principal: Writer, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        wallet = await _my_wallet(conn, c, principal)
        changed = await activity.change_home_currency(conn, wallet, body.home_currency)
        if changed.home_currency != wallet.home_currency:
            before = {"home_currency": wallet.home_currency}
            after = {"home_currency": changed.home_currency}
            await _audit(conn, request, principal, "wallet.updated", changed, after, before)
        payload = await activity.wallet_payload(conn, changed)
    return json_response(200, payload)


@router.post(
    "/me/close",
    response_model=schemas.WalletOut,
    responses=WRITE_ERRORS,
    summary="Close my wallet",
    description="Needs a fresh second factor (403 `step_up_required`). Only a wallet whose "
    "every balance is zero with nothing held can be closed (409 `wallet_not_empty`); a closed "
    "wallet takes no new movements (409 `wallet_closed`).",
)
async def close_my_wallet(
    request: Request, principal: Closer, c: ContainerDep, idem: IdempotentDep
) -> Response:
    async with c.db.transaction() as conn:
        wallet = await wallets.wallet_for_user(conn, _person(principal))
        wallets.require_open(wallet)
        await wallets.close_wallet(conn, c.ledger, wallet)
        closed = await wallets.get_wallet(conn, wallet.id)
        await _audit(conn, request, principal, "wallet.closed", closed, {"status": "closed"})
        return await idem.respond(conn, 200, await activity.wallet_payload(conn, closed))


# --- the summary ------------------------------------------------------------------------------


@router.get(
    "/me/summary",
    response_model=schemas.SummaryOut,
    responses=ERRORS,
    summary="Get my wallet's summary",
    description="What a dashboard shows beyond the balances, computed in the database: money "
    "in and out this month (UTC), this month's money out by category (`people`, "
    "`withdrawals`, `exchanges`, `refunds`, `fees`, `other`; they add up to the money out), "
    "and the balances at the end of each of the last `days` days with their total in the home "
    "currency. Sums are given per currency and converted to the home currency at the latest "
    "rates (for display only); without a rate for a currency involved the converted figure is "
    "null and `missing_rates` lists the currency. Only the caller's own wallet is read.",
)
async def get_summary(
    principal: Reader,
    c: ContainerDep,
    days: Annotated[
        int, Query(ge=7, le=90, description="How many days of balance history, today last.")
    ] = summary.DEFAULT_DAYS,
) -> Response:
    async with c.db.connection() as conn:
        wallet = await _my_wallet(conn, c, principal)
        payload = await summary.wallet_summary(conn, wallet, now=c.clock.now(), days=days)
    return json_response(200, payload)


# --- the activity feed ------------------------------------------------------------------------


async def activity_filter(
    kind: Annotated[
        list[schemas.ActivityKind] | None, Query(description="Repeat to match any of several.")
    ] = None,
    direction: Annotated[str | None, Query(pattern="^(in|out)$")] = None,
    status: Annotated[
        list[schemas.ActivityStatus] | None, Query(description="Repeat to match any of several.")
    ] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]{1,15}$")] = None,
    created_gte: Annotated[AwareDatetime | None, Query(description="From this moment.")] = None,
    created_lt: Annotated[AwareDatetime | None, Query(description="Before this moment.")] = None,
    min_amount: Annotated[int | None, Query(ge=0, description="Minor units.")] = None,
    max_amount: Annotated[int | None, Query(ge=0, description="Minor units.")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Search in notes and counterparties."),
    ] = None,
) -> ActivityFilter:
    return ActivityFilter(
        kinds=tuple(kind or ()),
        direction=direction,
        statuses=tuple(status or ()),
        currency=currency,
        created_gte=created_gte,
        created_lt=created_lt,
        min_amount=min_amount,
        max_amount=max_amount,
        search=q,
    )


Filters = Annotated[ActivityFilter, Depends(activity_filter)]


@router.get(
    "/me/activity",
    response_model=Page[schemas.ActivityOut],
    responses=ERRORS,
    summary="List my wallet's activity",
    description="Everything that touched the wallet, one line per payment and side, newest "
    "first. Filter by kind and status (repeatable), direction, currency, creation time range, "
    "amount range (minor units) and `q`, a case-insensitive search in notes and "
    "counterparties.",
)
async def list_activity(
    principal: Reader,
    c: ContainerDep,
    where: Filters,
    limit: Limit = DEFAULT_LIMIT,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    async with c.db.connection() as conn:
        wallet = await _my_wallet(conn, c, principal)
        rows = await activity.list_activity(
            conn, wallet, where, limit=limit + 1, starting_after=starting_after
        )
    payload = page_payload(rows, limit, activity.activity_payload, lambda row: row["id"])
    return json_response(200, payload)


@router.get(
    "/me/activity.csv",
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV file."}, **ERRORS},
    response_class=StreamingResponse,
    summary="Export my wallet's activity as CSV",
    description="The same filters as the feed, every matching line, newest first, streamed. "
    "Amounts as decimal strings in the currency's scale and in minor units; cells a "
    "spreadsheet would run as a formula start with a quote.",
)
async def export_activity_csv(principal: Reader, c: ContainerDep, where: Filters) -> Response:
    async with c.db.connection() as conn:
        wallet = await _my_wallet(conn, c, principal)

    async def lines() -> AsyncIterator[str]:
        async with c.db.connection() as conn:
            rows = activity.all_activity(conn, wallet, where)
            async for line in statements.activity_csv(conn, c.ledger, rows):
                yield line

    filename = f"{wallet.id}-activity.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/me/activity/{activity_id}",
    response_model=schemas.ActivityDetailOut,
    responses=ERRORS,
    summary="Get one line of my wallet's activity",
    description="The line with the payment behind it. Another wallet's line answers 404.",
)
async def get_activity(activity_id: ActivityPath, principal: Reader, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        wallet = await _my_wallet(conn, c, principal)
        payload = await activity.activity_detail(conn, wallet, activity_id)
    return json_response(200, payload)


# --- statements -------------------------------------------------------------------------------


@router.get(
    "/me/statement.pdf",
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF."}, **ERRORS},
    response_class=Response,
    summary="Download a PDF statement",
    description="The statement of one currency balance for the period [`from`, `to`): the "
    "opening balance, every movement with the running balance, totals in and out, fees and "
    "the closing balance, all from the ledger. `currency` defaults to the home currency.",
)
async def statement_pdf(
    principal: Reader,
    c: ContainerDep,
    period_from: Annotated[AwareDatetime, Query(alias="from", description="Period start.")],
    period_to: Annotated[AwareDatetime, Query(alias="to", description="Period end (excl.).")],
    currency: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]{1,15}$")] = None,
) -> Response:
    _check_period(period_from, period_to)
    async with c.db.connection() as conn:
        wallet = await _my_wallet(conn, c, principal)
        person = await identity.profile(conn, wallet.user_id)
        statement = await statements.build_statement(
            conn,
            c.ledger,
            wallet,
            holder=person["display_name"] or person["email"],
            currency=currency or wallet.home_currency,
            period_from=period_from,
            period_to=period_to,
        )
    filename = f"{wallet.id}-{statement.asset.code}-{period_from:%Y%m%d}-{period_to:%Y%m%d}.pdf"
    return Response(
        statements.render_pdf(statement),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _check_period(period_from: datetime, period_to: datetime) -> None:
    if period_from >= period_to:
        raise Unprocessable("`from` must be before `to`.", code="invalid_period")
