"""REST endpoints of currencies: rates (`/v1/fx/rates`), quotes and conversions
(`/v1/fx/quotes`), and the staff's rates and settings (`/v1/staff/fx`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from finhub.api import ContainerDep, IdempotentDep, json_response
from finhub.audit.service import AuditContext
from finhub.errors import FinhubError
from finhub.fx import quotes, schemas, service
from finhub.fx.tasks import ECB_FETCH_TIMEOUT
from finhub.identity.principal import Access, Principal
from finhub.wallets.errors import WalletNotAvailable

router = APIRouter(tags=["fx"])

STAFF_ACCESS = Access("staff", staff_roles=("admin", "operations"))
Staff = Annotated[Principal, Depends(STAFF_ACCESS)]
Reader = Annotated[
    Principal, Depends(Access("user", "staff", "api_key", scopes=("payments:read",)))
]
QuoteReader = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:read",)))]
Converter = Annotated[Principal, Depends(Access("user", "api_key", scopes=("payments:write",)))]

Code = Annotated[str, Path(pattern=r"^[A-Z][A-Z0-9_]{1,15}$", description="A currency code.")]
QuoteId = Annotated[str, Path(max_length=64, description="The quote's id (`qte_…`).")]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials (problem+json)."},
    403: {"description": "Not allowed for this caller (problem+json)."},
    422: {"description": "Invalid request or a broken rule (problem+json)."},
}
QUOTE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"description": "No such quote of yours (problem+json)."},
}


async def rates_http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP client that fetches rates from a URL (tests override this dependency with a
    client on an `httpx.MockTransport`)."""
    async with httpx.AsyncClient(timeout=ECB_FETCH_TIMEOUT) as client:
        yield client


HttpClient = Annotated[httpx.AsyncClient, Depends(rates_http_client)]


def _person(principal: Principal) -> str:
    if principal.user_id is None:
        raise WalletNotAvailable("Conversions are for people's wallets; use a personal key.")
    return principal.user_id


# --- rates ------------------------------------------------------------------------------------


@router.get(
    "/v1/fx/rates",
    response_model=schemas.RateListOut,
    responses=ERRORS,
    summary="List exchange rates",
    description="The mid-market rate from `base` to every currency finhub has a rate for: "
    "the newest stored rate of the pair, its inverse, or a cross rate via EUR. Quotes add "
    "the spread to these.",
)
async def list_rates(
    principal: Reader,
    c: ContainerDep,
    base: Annotated[
        str, Query(pattern=r"^[A-Z][A-Z0-9_]{1,15}$", description="The base currency.")
    ] = "EUR",
) -> Response:
    async with c.db.connection() as conn:
        rates = await service.rates_from(conn, base)
    data = [schemas.mid_rate_payload(rate) for rate in rates]
    return json_response(200, {"object": "list", "data": data, "has_more": False})


@router.post(
    "/v1/staff/fx/rates/import-ecb",
    status_code=201,
    response_model=schemas.ImportOut,
    responses={
        **ERRORS,
        415: {"description": "Neither JSON nor XML."},
        502: {"description": "The URL could not be fetched (problem+json)."},
    },
    summary="Import the ECB reference rates",
    description="Send the ECB's `eurofxref-daily.xml` (or the 90-day or history file) as the "
    'body with `Content-Type: application/xml`, or JSON `{"url": …}` to fetch it, or an '
    "empty JSON object to fetch the configured `ecb_url`. A file that is not a well-formed "
    "ECB document answers 422 `invalid_rates_file` and stores nothing. Importing the same "
    "file again changes nothing.",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": schemas.EcbImportIn.model_json_schema()},
                "application/xml": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_ecb(
    request: Request, staff: Staff, c: ContainerDep, idem: IdempotentDep, client: HttpClient
) -> Response:
    document, url = await _import_request(request)
    async with c.db.connection() as conn:
        source = await service.ecb_source(conn, document=document, url=url, client=client)
    facts = await source.fetch()  # before the transaction: no transaction waits on the network
    audit = AuditContext.from_request(request, staff)
    async with c.db.transaction() as conn:
        summary = await service.store_import(conn, source.name, facts, audit, now=c.clock.now())
        return await idem.respond(conn, 201, schemas.import_payload(summary))


async def _import_request(request: Request) -> tuple[bytes | None, str | None]:
    """(an uploaded document, or a URL to fetch), from an XML or a JSON body."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if media_type in ("application/xml", "text/xml"):
        return body, None
    if media_type not in ("application/json", "") or (media_type == "" and body):
        raise FinhubError(
            "Send the XML file as application/xml, or JSON.",
            code="unsupported_media_type",
            status=415,
            title="Unsupported media type",
        )
    try:
        parsed = schemas.EcbImportIn.model_validate_json(body or b"{}")
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    return None, str(parsed.url) if parsed.url else None


@router.put(
    "/v1/staff/fx/rates/{base}/{quote}",
    response_model=schemas.ManualRateOut,
    responses=ERRORS,
    summary="Set a rate by hand",
    description="1 `base` = `rate` `quote`, in force from now until a newer rate for the "
    "pair (or its inverse) arrives, such as the next ECB import.",
)
async def set_rate(
    base: Code,
    quote: Code,
    body: schemas.ManualRateIn,
    request: Request,
    staff: Staff,
    c: ContainerDep,
) -> Response:
    async with c.db.transaction() as conn:
        fact = await service.set_manual_rate(
            conn,
            c.ledger,
            AuditContext.from_request(request, staff),
            base=base,
            quote=quote,
            rate=body.rate,
        )
    return json_response(200, schemas.manual_rate_payload(fact))


@router.get(
    "/v1/staff/fx/settings",
    response_model=schemas.SettingsOut,
    responses=ERRORS,
    summary="Get the FX settings",
    description="The ECB URL of the daily import (none: no daily import) and the spread.",
)
async def get_settings(staff: Staff, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        settings = await service.get_settings(conn)
    return json_response(200, schemas.settings_payload(settings))


@router.patch(
    "/v1/staff/fx/settings",
    response_model=schemas.SettingsOut,
    responses=ERRORS,
    summary="Change the FX settings",
    description="Change `ecb_url` (null stops the daily import) and/or `spread_bps` (the "
    "margin taken off the mid rate in quotes, 0 to 5000).",
)
async def update_settings(
    body: schemas.SettingsPatch, request: Request, staff: Staff, c: ContainerDep
) -> Response:
    async with c.db.transaction() as conn:
        settings = await service.update_settings(
            conn, AuditContext.from_request(request, staff), body.changes(), now=c.clock.now()
        )
    return json_response(200, schemas.settings_payload(settings))


# --- quotes -----------------------------------------------------------------------------------


@router.post(
    "/v1/fx/quotes",
    status_code=201,
    response_model=schemas.QuoteOut,
    responses=ERRORS,
    summary="Quote a conversion",
    description="Price selling `sell_amount` (or buying `buy_amount`) at the mid rate less "
    "the spread; the fee is charged in the sell currency on top. The amount received is "
    "rounded down to the buy currency's minor unit. The quote holds until `expires_at` "
    "(30 seconds).",
)
async def create_quote(
    body: schemas.QuoteCreate, principal: Converter, c: ContainerDep, idem: IdempotentDep
) -> Response:
    user_id = _person(principal)
    request = quotes.QuoteRequest(
        body.sell_currency, body.buy_currency, body.sell_amount, body.buy_amount
    )
    async with c.db.transaction() as conn:
        quote = await quotes.create_quote(conn, c.ledger, user_id, request)
        return await idem.respond(conn, 201, schemas.quote_payload(quote, c.clock.now()))


@router.get(
    "/v1/fx/quotes/{quote_id}",
    response_model=schemas.QuoteOut,
    responses=QUOTE_ERRORS,
    summary="Get a quote",
    description="One of your quotes, with its status (open, expired or accepted).",
)
async def get_quote(quote_id: QuoteId, principal: QuoteReader, c: ContainerDep) -> Response:
    async with c.db.connection() as conn:
        quote = await quotes.get_quote(conn, _person(principal), quote_id)
    return json_response(200, schemas.quote_payload(quote, c.clock.now()))


@router.post(
    "/v1/fx/quotes/{quote_id}/accept",
    response_model=schemas.QuoteOut,
    responses={
        **QUOTE_ERRORS,
        409: {"description": "Accepted already (`quote_already_accepted`)."},
    },
    summary="Accept a quote",
    description="Convert at the quoted figures, once, before `expires_at` (else 422 "
    "`quote_expired`): the sell amount and fee leave the wallet and the buy amount arrives "
    "in one ledger transaction. Not enough money is a 422 `insufficient_funds` and the "
    "quote stays open.",
)
async def accept_quote(
    quote_id: QuoteId,
    request: Request,
    principal: Converter,
    c: ContainerDep,
    idem: IdempotentDep,
) -> Response:
    user_id = _person(principal)
    audit = AuditContext.from_request(request, principal)
    async with c.db.transaction() as conn:
        quote, payment = await quotes.accept_quote(conn, c.ledger, audit, user_id, quote_id)
        return await idem.respond(conn, 200, schemas.quote_payload(quote, c.clock.now(), payment))
