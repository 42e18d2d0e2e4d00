"""What a person sees of their wallet: the overview (balances per currency and a total in the
home currency), the unified activity feed with its filters and search, and the wallet settings
they may change.

Rules only; the endpoints commit. Every lookup is scoped to the caller's wallet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from finhub.errors import FinhubError, NotFound, Unprocessable
from finhub.fx import service as fx
from finhub.kit.db.engine import Connection
from finhub.kit.money import iso_currency
from finhub.ledger.service import LedgerService
from finhub.payments.core import payment_for_wallet, payment_payload
from finhub.wallets import activity_repository as repository
from finhub.wallets import repository as wallet_records
from finhub.wallets import service as wallets
from finhub.wallets.activity_repository import ActivityFilter
from finhub.wallets.models import CurrencyBalance, Wallet

EXPORT_BATCH = 500


class ActivityNotFound(NotFound):
    code = "activity_not_found"


class InvalidCursor(Unprocessable):
    code = "invalid_cursor"


# --- the overview -----------------------------------------------------------------------------


def balance_payload(balance: CurrencyBalance) -> dict[str, Any]:
    return {
        "object": "wallet_balance",
        "currency": balance.currency,
        "balance": balance.balance,
        "available": balance.available,
        "held": balance.held,
    }


async def home_total(
    conn: Connection, wallet: Wallet, balances: list[CurrencyBalance]
) -> dict[str, Any]:
    """The balances summed in the home currency at the latest rates. Without a rate for some
    currency the total is unknown (null) rather than wrong, and the currency is listed."""
    total = 0
    missing: list[str] = []
    for balance in balances:
        converted = await fx.convert(conn, balance.balance, balance.currency, wallet.home_currency)
        if converted is None:
            missing.append(balance.currency)
        else:
            total += converted
    return {
        "currency": wallet.home_currency,
        "amount": None if missing else total,
        "missing_rates": missing,
    }


async def wallet_payload(conn: Connection, wallet: Wallet) -> dict[str, Any]:
    balances = await wallets.balances(conn, wallet)
    return {
        "object": "wallet",
        "id": wallet.id,
        "home_currency": wallet.home_currency,
        "status": wallet.status,
        "payment_reference": wallet.payment_reference,
        "balances": [balance_payload(b) for b in balances],
        "total": await home_total(conn, wallet, balances),
        "created_at": wallet.created_at,
        "closed_at": wallet.closed_at,
    }


async def open_balance(
    conn: Connection, ledger: LedgerService, wallet: Wallet, currency: str
) -> tuple[CurrencyBalance, bool]:
    """Open the wallet's balance in `currency` (ISO 4217 or a registered custom asset); the
    flag says whether it was opened now. An unknown code is a 422 `unknown_asset`."""
    wallets.require_open(wallet)
    await ledger.resolve_asset(conn, currency)
    existed = {b.currency for b in await wallets.balances(conn, wallet)}
    await wallets.balance_account(conn, ledger, wallet, currency)
    opened = next(b for b in await wallets.balances(conn, wallet) if b.currency == currency)
    return opened, currency not in existed


async def change_home_currency(conn: Connection, wallet: Wallet, currency: str) -> Wallet:
    wallets.require_open(wallet)
    if iso_currency(currency) is None:
        raise FinhubError(
            f"{currency} is not an ISO 4217 currency.",
            code="invalid_home_currency",
            status=422,
        )
    await wallet_records.set_home_currency(conn, wallet.id, currency)
    return await wallets.get_wallet(conn, wallet.id)


# --- the feed ---------------------------------------------------------------------------------


def activity_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "wallet_activity",
        "id": row["id"],
        "payment_id": row["payment_id"],
        "kind": row["kind"],
        "direction": row["direction"],
        "amount": int(row["amount"]),
        "currency": row["currency"],
        "fee": int(row["fee"]),
        "counterparty": row["counterparty"],
        "note": row["note"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def list_activity(
    conn: Connection,
    wallet: Wallet,
    where: ActivityFilter,
    *,
    limit: int,
    starting_after: str | None = None,
) -> list[dict[str, Any]]:
    """Up to `limit` lines, newest first, after the line `starting_after` (of this wallet)."""
    after = None
    if starting_after is not None:
        seen = await repository.find_activity(conn, wallet.id, starting_after)
        if seen is None:
            raise InvalidCursor("starting_after is not a line of this wallet's activity.")
        after = (seen["created_at"], seen["id"])
    return await repository.list_activity(conn, wallet.id, where, limit=limit, after=after)


async def all_activity(
    conn: Connection, wallet: Wallet, where: ActivityFilter
) -> AsyncIterator[dict[str, Any]]:
    """Every matching line, newest first, fetched a batch at a time (for exports)."""
    after: tuple[Any, str] | None = None
    while True:
        rows = await repository.list_activity(
            conn, wallet.id, where, limit=EXPORT_BATCH, after=after
        )
        for row in rows:
            yield row
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])


async def activity_detail(conn: Connection, wallet: Wallet, activity_id: str) -> dict[str, Any]:
    """One line with the payment behind it; another wallet's line answers 404."""
    row = await repository.find_activity(conn, wallet.id, activity_id)
    if row is None:
        raise ActivityNotFound(f"No activity {activity_id}.")
    payment = await payment_for_wallet(conn, row["payment_id"], wallet.id)
    return {**activity_payload(row), "payment": payment_payload(payment)}
