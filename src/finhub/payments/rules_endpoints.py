"""Back-office endpoints for the rules around every payment: fee schedules and limits per KYC
tier, under `/v1/staff`. Any staff member may read them; operations and admin change them, and
every change is audited with its before and after."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from finhub.api import ContainerDep, json_response
from finhub.audit.service import AuditContext
from finhub.identity.principal import STAFF_ROLES, Access, Principal
from finhub.kit.money import MAX_AMOUNT
from finhub.payments import fees, limits

READ_ACCESS = Access("staff", staff_roles=STAFF_ROLES)
CHANGE_ACCESS = Access("staff", staff_roles=("operations", "admin"))
router = APIRouter(prefix="/v1/staff", tags=["payment rules"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "Not a staff member allowed to do this (problem+json)."},
    422: {"description": "Invalid figures (problem+json)."},
}

Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
OptionalAmount = Annotated[int | None, Field(ge=0, le=MAX_AMOUNT)]
OperationPath = Annotated[str, Path(description="The operation.", pattern=r"^[a-z0-9_]{1,32}$")]
FeeCurrencyPath = Annotated[
    str,
    Path(
        description="A currency code, or `*` for the fallback.",
        pattern=r"^([A-Z][A-Z0-9]{2,11}|\*)$",
    ),
]
CurrencyPath = Annotated[
    str, Path(description="A currency code.", pattern=r"^[A-Z][A-Z0-9]{2,11}$")
]
TierPath = Annotated[str, Path(description="The KYC tier: basic, verified or premium.")]


class FeeScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fixed: Amount = Field(0, description="Fixed part, minor units.")
    percent_bps: Decimal = Field(
        Decimal(0),
        ge=0,
        le=10_000,
        max_digits=9,
        decimal_places=4,
        description="Percentage in basis points (100 = 1 %), up to 4 decimals.",
    )
    min: Amount = Field(0, description="Smallest fee charged, minor units.")
    max: OptionalAmount = Field(None, description="Largest fee charged; null: no cap.")


class LimitSetIn(BaseModel):
    """Minor units of the currency; null means no limit."""

    model_config = ConfigDict(extra="forbid")

    per_payment: OptionalAmount = None
    daily: OptionalAmount = None
    monthly: OptionalAmount = None
    topup_per_payment: OptionalAmount = None
    topup_daily: OptionalAmount = None
    topup_monthly: OptionalAmount = None
    balance: OptionalAmount = None


@router.get(
    "/fees",
    responses=ERRORS,
    summary="List fee schedules",
    description="Every fee schedule per operation and currency (`*` is the percentage-only "
    "fallback). Fee = fixed + percentage rounded half-up to the minor unit, clamped to "
    "[min, max].",
)
async def list_fees(c: ContainerDep, staff: Annotated[Principal, Depends(READ_ACCESS)]) -> Response:
    async with c.db.connection() as conn:
        schedules = await fees.list_schedules(conn)
    return json_response(
        200,
        {
            "object": "list",
            "data": [fees.schedule_payload(s) for s in schedules],
            "has_more": False,
        },
    )


@router.put(
    "/fees/{operation}/{currency}",
    responses=ERRORS,
    summary="Set a fee schedule",
    description="Create or replace the schedule of one operation (p2p, card_topup, bank_topup, "
    "withdrawal, fx_conversion, request_payment) in one currency. The `*` fallback takes a "
    "percentage only. Audited with before and after.",
)
async def put_fee(
    operation: OperationPath,
    currency: FeeCurrencyPath,
    body: FeeScheduleIn,
    request: Request,
    c: ContainerDep,
    staff: Annotated[Principal, Depends(CHANGE_ACCESS)],
) -> Response:
    schedule = fees.FeeSchedule(
        operation=operation,
        currency=currency,
        fixed=body.fixed,
        percent_bps=body.percent_bps,
        min_fee=body.min,
        max_fee=body.max,
    )
    async with c.db.transaction() as conn:
        saved = await fees.set_schedule(
            conn, AuditContext.from_request(request, staff), schedule, now=c.clock.now()
        )
    return json_response(200, fees.schedule_payload(saved))


@router.get(
    "/limits",
    responses=ERRORS,
    summary="List limits per KYC tier",
    description="Each tier's limits per currency in minor units (null: no limit). Currencies "
    "without a row use the tier's EUR figures converted at the latest rate.",
)
async def list_limits(
    c: ContainerDep,
    staff: Annotated[Principal, Depends(READ_ACCESS)],
    tier: Annotated[str | None, Query(description="Only this tier.", max_length=16)] = None,
) -> Response:
    async with c.db.connection() as conn:
        rows = await limits.list_limits(conn, tier)
    return json_response(
        200,
        {"object": "list", "data": [limits.limits_payload(r) for r in rows], "has_more": False},
    )


@router.put(
    "/limits/{tier}/{currency}",
    responses=ERRORS,
    summary="Set a tier's limits in a currency",
    description="Create or replace the limits of one KYC tier in one currency: per payment, "
    "daily and monthly (money sent), the same for card top-ups, and the balance cap. Audited "
    "with before and after.",
)
async def put_limits(
    tier: TierPath,
    currency: CurrencyPath,
    body: LimitSetIn,
    request: Request,
    c: ContainerDep,
    staff: Annotated[Principal, Depends(CHANGE_ACCESS)],
) -> Response:
    wanted = limits.LimitSet(tier=tier, currency=currency, **body.model_dump())
    async with c.db.transaction() as conn:
        saved = await limits.set_limits(
            conn, AuditContext.from_request(request, staff), wanted, now=c.clock.now()
        )
    return json_response(200, limits.limits_payload(saved))
