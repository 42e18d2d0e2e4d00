"""Limits per KYC tier: per payment, daily, monthly and balance caps.

Tiers are `basic` (every new person), `verified` and `premium` (`users.kyc_tier`). Each tier has
one row of limits per currency, in minor units; a NULL figure is no limit.

- **Sent** (p2p, withdrawal, request_payment, fx_conversion — its sell side): `per_payment`,
  `daily`, `monthly`.
- **Top-ups** (card_topup) have limits of their own: `topup_per_payment`, `topup_daily`,
  `topup_monthly`; a top-up also checks the balance cap, since it credits the person's wallet.
- **Received** (operation `receive`, and bank_topup which can only be refused by its size):
  the `balance` cap of the wallet being credited: balance + amount may not exceed it.

Windows are calendar days and months in UTC, as bank statements count them: the daily
allowance comes back at 00:00 UTC, the monthly one on the 1st. Usage is the sum of the
person's payments of those kinds in the currency whose status still counts (processing or
completed; failed and canceled ones give their allowance back), read through one index
(`payments_limit_usage`).

Currencies without their own row use the tier's EUR figures converted at the latest rate
(`finhub.fx.service.convert`); with no rate known, the EUR figures' minor-unit values apply
unchanged (100 000 = 1 000.00 EUR becomes 1 000.00 in a currency of scale 2).

Two payments of one person checked at the same time would both see the usage before either;
the check therefore takes a transaction-scoped advisory lock on the person's wallet, so the
usage it reads includes every payment committed before it, and the caller's payment commits
(or not) before the next check of that wallet reads.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from finhub.audit.service import AuditContext, record
from finhub.errors import Unprocessable
from finhub.kit.db.engine import Connection, Row
from finhub.payments.errors import LimitExceeded

TIERS = ("basic", "verified", "premium")
REFERENCE_CURRENCY = "EUR"
SENT_KINDS = ("p2p", "withdrawal", "request_payment", "fx_conversion")
TOPUP_KINDS = ("card_topup",)
RECEIVE_OPERATIONS = ("receive", "bank_topup")
FIGURES = (
    "per_payment",
    "daily",
    "monthly",
    "topup_per_payment",
    "topup_daily",
    "topup_monthly",
    "balance",
)


@dataclass(frozen=True, slots=True)
class LimitSet:
    """One tier's limits in one currency (minor units; None: no limit)."""

    tier: str
    currency: str
    per_payment: int | None = None
    daily: int | None = None
    monthly: int | None = None
    topup_per_payment: int | None = None
    topup_daily: int | None = None
    topup_monthly: int | None = None
    balance: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    derived_from: str | None = None  # "EUR" when the figures come from the EUR row


@dataclass(frozen=True, slots=True)
class Usage:
    today: int
    this_month: int


@dataclass(frozen=True, slots=True)
class Person:
    tier: str
    wallet_id: str | None


def day_window(now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar day holding `now`: [start, end)."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def month_window(now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar month holding `now`: [start, end)."""
    start = day_window(now)[0].replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


async def check_limits(
    conn: Connection,
    *,
    user_id: str,
    operation: str,
    currency: str,
    amount: int,
    now: datetime,
) -> None:
    """Raise `LimitExceeded` (422 `limit_exceeded`, with `limit`, `remaining` and `currency`)
    when `amount` would break one of the person's limits for `operation`; `operation` "receive"
    checks the balance cap of a wallet about to be credited."""
    kinds: tuple[str, ...]
    if operation in SENT_KINDS:
        kinds, prefix = SENT_KINDS, ""
    elif operation in TOPUP_KINDS:
        kinds, prefix = TOPUP_KINDS, "topup_"
    elif operation in RECEIVE_OPERATIONS:
        kinds, prefix = (), ""
    else:
        return  # refunds and other corrections give money back; no limit applies
    person = await _person(conn, user_id)
    limits = await limits_for(conn, person.tier, currency)
    if limits is None:
        return
    if kinds:
        await _check_window_limits(conn, person, limits, kinds, prefix, amount, now)
    if operation not in SENT_KINDS:
        await _check_balance_cap(conn, person, limits, amount)


async def _check_window_limits(
    conn: Connection,
    person: Person,
    limits: LimitSet,
    kinds: tuple[str, ...],
    prefix: str,
    amount: int,
    now: datetime,
) -> None:
    per_payment: int | None = getattr(limits, prefix + "per_payment")
    if per_payment is not None and amount > per_payment:
        raise _exceeded("per_payment", per_payment, limits.currency)
    daily: int | None = getattr(limits, prefix + "daily")
    monthly: int | None = getattr(limits, prefix + "monthly")
    if person.wallet_id is None or (daily is None and monthly is None):
        usage = Usage(0, 0)
    else:
        await _serialise_checks(conn, person.wallet_id)
        usage = await _usage(conn, person.wallet_id, limits.currency, kinds, now)
    if daily is not None and usage.today + amount > daily:
        raise _exceeded("daily", daily - usage.today, limits.currency)
    if monthly is not None and usage.this_month + amount > monthly:
        raise _exceeded("monthly", monthly - usage.this_month, limits.currency)


async def _check_balance_cap(
    conn: Connection, person: Person, limits: LimitSet, amount: int
) -> None:
    if limits.balance is None:
        return
    if person.wallet_id is not None:
        # Incoming payments racing each other must see each other's credits.
        await _serialise_checks(conn, person.wallet_id)
    balance = await _balance(conn, person.wallet_id, limits.currency)
    if balance + amount > limits.balance:
        raise _exceeded("balance", limits.balance - balance, limits.currency)


def _exceeded(limit: str, remaining: int, currency: str) -> LimitExceeded:
    remaining = max(remaining, 0)
    names = {
        "per_payment": "the largest single payment",
        "daily": "today's allowance",
        "monthly": "this month's allowance",
        "balance": "the most this wallet may hold",
    }
    return LimitExceeded(
        f"This payment is over {names[limit]}; {remaining} (minor units of {currency}) remain.",
        limit=limit,
        remaining=remaining,
        currency=currency,
    )


async def limits_for(conn: Connection, tier: str, currency: str) -> LimitSet | None:
    """The tier's limits in `currency`: its own row, else the EUR row converted (see the
    module docstring); None when neither exists."""
    own = await _limit_row(conn, tier, currency)
    if own is not None or currency == REFERENCE_CURRENCY:
        return own
    reference = await _limit_row(conn, tier, REFERENCE_CURRENCY)
    if reference is None:
        return None
    # Imported here: the FX module checks limits itself, so a module-level import is circular.
    from finhub.fx.service import convert

    converted: dict[str, Any] = {}
    for name in FIGURES:
        figure = getattr(reference, name)
        if figure is not None:
            rate_applied = await convert(conn, figure, REFERENCE_CURRENCY, currency)
            converted[name] = figure if rate_applied is None else rate_applied
    return replace(reference, currency=currency, derived_from=REFERENCE_CURRENCY, **converted)


async def overview(
    conn: Connection, *, user_id: str, currency: str, now: datetime
) -> dict[str, Any]:
    """What a person sees of their limits in `currency`: each limit and what remains."""
    person = await _person(conn, user_id)
    limits = await limits_for(conn, person.tier, currency)
    if limits is None:
        limits = LimitSet(tier=person.tier, currency=currency)
    sent = topup = Usage(0, 0)
    if person.wallet_id is not None:
        sent = await _usage(conn, person.wallet_id, currency, SENT_KINDS, now)
        topup = await _usage(conn, person.wallet_id, currency, TOPUP_KINDS, now)
    balance = await _balance(conn, person.wallet_id, currency)
    day_end = day_window(now)[1]
    month_end = month_window(now)[1]
    return {
        "object": "payment_limits",
        "id": f"{person.tier}/{currency}",
        "tier": person.tier,
        "currency": currency,
        "per_payment": _figure(limits.per_payment, None, None),
        "daily": _figure(limits.daily, sent.today, day_end),
        "monthly": _figure(limits.monthly, sent.this_month, month_end),
        "topup_per_payment": _figure(limits.topup_per_payment, None, None),
        "topup_daily": _figure(limits.topup_daily, topup.today, day_end),
        "topup_monthly": _figure(limits.topup_monthly, topup.this_month, month_end),
        "balance": _figure(limits.balance, balance, None),
    }


def _figure(limit: int | None, used: int | None, resets_at: datetime | None) -> dict[str, Any]:
    remaining = None if limit is None else max(limit - (used or 0), 0)
    shown: dict[str, Any] = {"limit": limit, "remaining": remaining}
    if used is not None:
        shown["used"] = used
    if resets_at is not None:
        shown["resets_at"] = resets_at
    return shown


# --- staff administration -----------------------------------------------------------------------


def limits_payload(limits: LimitSet) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "object": "limit_set",
        "id": f"{limits.tier}/{limits.currency}",
        "tier": limits.tier,
        "currency": limits.currency,
    }
    payload.update({name: getattr(limits, name) for name in FIGURES})
    payload["updated_at"] = limits.updated_at
    payload["updated_by"] = limits.updated_by
    return payload


async def list_limits(conn: Connection, tier: str | None = None) -> list[LimitSet]:
    cursor = await conn.execute(
        """
        SELECT tier, currency, per_payment, daily, monthly, topup_per_payment, topup_daily,
               topup_monthly, balance, updated_at, updated_by
          FROM payment_limits
         WHERE %(tier)s::text IS NULL OR tier = %(tier)s
         ORDER BY array_position(%(tiers)s::text[], tier), currency
        """,
        {"tier": tier, "tiers": list(TIERS)},
    )
    return [_limit_set(row) for row in await cursor.fetchall()]


async def set_limits(
    conn: Connection, audit: AuditContext, limits: LimitSet, *, now: datetime
) -> LimitSet:
    """Create or replace a tier's limits in one currency, audited with before and after."""
    if limits.tier not in TIERS:
        raise Unprocessable(f"Tiers are {', '.join(TIERS)}.", code="unknown_tier")
    before = await _limit_row(conn, limits.tier, limits.currency, lock=True)
    cursor = await conn.execute(
        """
        INSERT INTO payment_limits (tier, currency, per_payment, daily, monthly,
                                    topup_per_payment, topup_daily, topup_monthly, balance,
                                    updated_at, updated_by)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (tier, currency) DO UPDATE
           SET per_payment = excluded.per_payment, daily = excluded.daily,
               monthly = excluded.monthly, topup_per_payment = excluded.topup_per_payment,
               topup_daily = excluded.topup_daily, topup_monthly = excluded.topup_monthly,
               balance = excluded.balance,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by
        RETURNING tier, currency, per_payment, daily, monthly, topup_per_payment, topup_daily,
                  topup_monthly, balance, updated_at, updated_by
        """,
        (
            limits.tier,
            limits.currency,
            *(getattr(limits, name) for name in FIGURES),
            now,
            audit.actor_id,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    saved = _limit_set(row)
    await record(
        conn,
        audit,
        "limits.changed",
        object_type="limit_set",
        object_id=f"{saved.tier}/{saved.currency}",
        before=_audit_figures(before) if before else None,
        after=_audit_figures(saved),
    )
    return saved


def _audit_figures(limits: LimitSet) -> dict[str, Any]:
    return {
        name: None if getattr(limits, name) is None else str(getattr(limits, name))
        for name in FIGURES
    }


# --- storage ------------------------------------------------------------------------------------

LIMIT_ROW = """
    SELECT tier, currency, per_payment, daily, monthly, topup_per_payment, topup_daily,
           topup_monthly, balance, updated_at, updated_by
      FROM payment_limits WHERE tier = %s AND currency = %s
"""
LIMIT_ROW_FOR_UPDATE = LIMIT_ROW + " FOR UPDATE"


async def _person(conn: Connection, user_id: str) -> Person:
    """The person's tier and wallet in one round trip (this runs on every payment)."""
    cursor = await conn.execute(
        """
        SELECT u.kyc_tier, w.id AS wallet_id
          FROM users u LEFT JOIN wallets w ON w.user_id = u.id
         WHERE u.id = %s
        """,
        (user_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        return Person(tier=TIERS[0], wallet_id=None)
    tier = row["kyc_tier"] if row["kyc_tier"] in TIERS else TIERS[0]
    return Person(tier=tier, wallet_id=row["wallet_id"])


async def serialise_wallets(conn: Connection, wallet_ids: list[str]) -> None:
    """Take the limit locks of several wallets in a fixed order, before checking the limits of
    a payment between them: two payments in opposite directions then can't deadlock."""
    for wallet_id in sorted(set(wallet_ids)):
        await _serialise_checks(conn, wallet_id)


async def _serialise_checks(conn: Connection, wallet_id: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"limits:{wallet_id}",)
    )


async def _usage(
    conn: Connection, wallet_id: str, currency: str, kinds: tuple[str, ...], now: datetime
) -> Usage:
    day_start = day_window(now)[0]
    month_start = month_window(now)[0]
    cursor = await conn.execute(
        """
        SELECT coalesce(sum(amount) FILTER (WHERE created_at >= %(day)s), 0) AS today,
               coalesce(sum(amount), 0) AS this_month
          FROM payments
         WHERE wallet_id = %(wallet)s AND currency = %(currency)s
           AND status IN ('requires_action', 'processing', 'completed')
           AND created_at >= %(month)s AND created_at < %(month_end)s
           AND kind = ANY(%(kinds)s)
        """,
        {
            "day": day_start,
            "month": month_start,
            "month_end": month_window(now)[1],
            "wallet": wallet_id,
            "currency": currency,
            "kinds": list(kinds),
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return Usage(today=int(row["today"]), this_month=int(row["this_month"]))


async def _balance(conn: Connection, wallet_id: str | None, currency: str) -> int:
    """The wallet's posted balance in `currency` plus credits on hold for it (an authorised
    card top-up), 0 before the currency is opened, from the wallets module's ledger account."""
    if wallet_id is None:
        return 0
    cursor = await conn.execute(
        """
        SELECT a.credits_posted + a.credits_pending - a.debits_posted AS balance
          FROM wallet_balances b JOIN ledger_accounts a ON a.id = b.ledger_account_id
         WHERE b.wallet_id = %s AND b.currency = %s
        """,
        (wallet_id, currency),
    )
    row = await cursor.fetchone()
    return 0 if row is None else int(row["balance"])


async def _limit_row(
    conn: Connection, tier: str, currency: str, *, lock: bool = False
) -> LimitSet | None:
    cursor = await conn.execute(LIMIT_ROW_FOR_UPDATE if lock else LIMIT_ROW, (tier, currency))
    row = await cursor.fetchone()
    return _limit_set(row) if row else None


def _limit_set(row: Row) -> LimitSet:
    figures: dict[str, Any] = {
        name: None if row[name] is None else int(row[name]) for name in FIGURES
    }
    return LimitSet(
        tier=row["tier"],
        currency=row["currency"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        **figures,
    )
