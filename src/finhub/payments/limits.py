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
completed; failed and canceled ones give their allowance back), kept by the database as
running totals per UTC day (`payment_usage`, migration 0019).

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
# The running totals the database keeps per kind of usage (migration 0019 maps kinds the same).
USAGE_SCOPES = {SENT_KINDS: "sent", TOPUP_KINDS: "topup"}
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


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One payment's amount against one person's limits for `operation` ("receive" checks the
    balance cap of a wallet about to be credited)."""

    user_id: str
    operation: str
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class _Rule:
    kinds: tuple[str, ...]  # the payment kinds whose usage counts; () for none
    prefix: str  # "" or "topup_": which per_payment/daily/monthly figures apply
    balance_cap: bool


def _rule(operation: str) -> _Rule | None:
    if operation in SENT_KINDS:
        return _Rule(SENT_KINDS, "", balance_cap=False)
    if operation in TOPUP_KINDS:
        return _Rule(TOPUP_KINDS, "topup_", balance_cap=True)
    if operation in RECEIVE_OPERATIONS:
        return _Rule((), "", balance_cap=True)
    return None  # refunds and other corrections give money back; no limit applies


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
    [refusal] = await limit_refusals(conn, [LimitCheck(user_id, operation, currency, amount)], now)
    if refusal is not None:
        raise refusal


async def limit_refusals(
    conn: Connection, checks: list[LimitCheck], now: datetime
) -> list[LimitExceeded | None]:
    """Each check's refusal, or None where it passes, in a handful of round trips whatever the
    number of checks (a group of payments is checked at once).

    The wallets whose usage or balance is read are locked first (see the module docstring).
    Checks are taken in order and each one that passes counts towards the later ones of the
    same wallet, so two payments of one person checked together can't share one allowance."""
    rules = [_rule(check.operation) for check in checks]
    people = await _people(conn, {c.user_id for c, r in zip(checks, rules, strict=True) if r})
    limit_sets: dict[tuple[str, str], LimitSet | None] = {}
    for check, rule in zip(checks, rules, strict=True):
        if rule is None:
            continue
        key = (people[check.user_id].tier, check.currency)
        if key not in limit_sets:
            limit_sets[key] = await limits_for(conn, *key)
    windows: set[tuple[str, str, tuple[str, ...]]] = set()
    caps: set[tuple[str, str]] = set()
    for check, rule in zip(checks, rules, strict=True):
        person = people.get(check.user_id)
        limits = limit_sets.get((person.tier, check.currency)) if person else None
        if rule is None or limits is None or person is None or person.wallet_id is None:
            continue
        if rule.kinds and _has_window(limits, rule.prefix):
            windows.add((person.wallet_id, limits.currency, rule.kinds))
        if rule.balance_cap and limits.balance is not None:
            caps.add((person.wallet_id, limits.currency))
    await serialise_wallets(conn, [w for w, _, _ in windows] + [w for w, _ in caps])
    usage = await _usage_of(conn, windows, now)
    balances = await _balances_of(conn, caps)
    refusals: list[LimitExceeded | None] = []
    for check, rule in zip(checks, rules, strict=True):
        person = people.get(check.user_id)
        limits = limit_sets.get((person.tier, check.currency)) if person else None
        if rule is None or limits is None or person is None:
            refusals.append(None)
            continue
        refusal = _judge(check, rule, limits, person, usage, balances)
        refusals.append(refusal)
        if refusal is None and person.wallet_id is not None:
            _count(check, rule, limits, person.wallet_id, usage, balances)
    return refusals


def _has_window(limits: LimitSet, prefix: str) -> bool:
    return getattr(limits, prefix + "daily") is not None or (
        getattr(limits, prefix + "monthly") is not None
    )


def _judge(
    check: LimitCheck,
    rule: _Rule,
    limits: LimitSet,
    person: Person,
    usage: dict[tuple[str, str, tuple[str, ...]], Usage],
    balances: dict[tuple[str, str], int],
) -> LimitExceeded | None:
    amount, currency = check.amount, limits.currency
    if rule.kinds:
        per_payment: int | None = getattr(limits, rule.prefix + "per_payment")
        if per_payment is not None and amount > per_payment:
            return _exceeded("per_payment", per_payment, currency)
        used = usage.get((person.wallet_id or "", currency, rule.kinds), Usage(0, 0))
        daily: int | None = getattr(limits, rule.prefix + "daily")
        if daily is not None and used.today + amount > daily:
            return _exceeded("daily", daily - used.today, currency)
        monthly: int | None = getattr(limits, rule.prefix + "monthly")
        if monthly is not None and used.this_month + amount > monthly:
            return _exceeded("monthly", monthly - used.this_month, currency)
    if rule.balance_cap and limits.balance is not None:
        balance = balances.get((person.wallet_id or "", currency), 0)
        if balance + amount > limits.balance:
            return _exceeded("balance", limits.balance - balance, currency)
    return None


def _count(
    check: LimitCheck,
    rule: _Rule,
    limits: LimitSet,
    wallet_id: str,
    usage: dict[tuple[str, str, tuple[str, ...]], Usage],
    balances: dict[tuple[str, str], int],
) -> None:
    """What a passed check uses up, for the checks after it."""
    window = (wallet_id, limits.currency, rule.kinds)
    if window in usage:
        used = usage[window]
        usage[window] = Usage(used.today + check.amount, used.this_month + check.amount)
    cap = (wallet_id, limits.currency)
    if rule.balance_cap and cap in balances:
        balances[cap] += check.amount


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


async def _people(conn: Connection, user_ids: set[str]) -> dict[str, Person]:
    """Each person's tier and wallet in one round trip; an unknown id counts as basic, with
    no wallet."""
    found = {user_id: Person(tier=TIERS[0], wallet_id=None) for user_id in user_ids}
    if not user_ids:
        return found
    cursor = await conn.execute(
        """
        SELECT u.id, u.kyc_tier, w.id AS wallet_id
          FROM users u LEFT JOIN wallets w ON w.user_id = u.id
         WHERE u.id = ANY(%s)
        """,
        (list(user_ids),),
    )
    for row in await cursor.fetchall():
        tier = row["kyc_tier"] if row["kyc_tier"] in TIERS else TIERS[0]
        found[row["id"]] = Person(tier=tier, wallet_id=row["wallet_id"])
    return found


async def serialise_wallets(conn: Connection, wallet_ids: list[str]) -> None:
    """Take the limit locks of several wallets in a fixed order (sorted by id), before checking
    the limits of payments between them: two payments in opposite directions then can't
    deadlock. One statement; `unnest` yields the keys in the order given, and each lock is
    taken as its row is read."""
    keys = [f"limits:{wallet_id}" for wallet_id in sorted(set(wallet_ids))]
    if len(keys) == 1:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (keys[0],))
    elif keys:
        await conn.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))"
            "  FROM unnest(%s::text[]) WITH ORDINALITY AS l(k, n)",
            (keys,),
        )


async def _usage(
    conn: Connection, wallet_id: str, currency: str, kinds: tuple[str, ...], now: datetime
) -> Usage:
    """What the wallet's payments of `kinds` in `currency` used today and this month."""
    found = await _usage_many(conn, [(wallet_id, currency)], kinds, now)
    return found.get((wallet_id, currency), Usage(0, 0))


async def _usage_of(
    conn: Connection, windows: set[tuple[str, str, tuple[str, ...]]], now: datetime
) -> dict[tuple[str, str, tuple[str, ...]], Usage]:
    """`_usage` of several (wallet, currency, kinds) at once: one query per set of kinds."""
    found = dict.fromkeys(windows, Usage(0, 0))
    for kinds in {window[2] for window in windows}:
        pairs = [(w, c) for w, c, k in windows if k == kinds]
        for (wallet_id, currency), usage in (await _usage_many(conn, pairs, kinds, now)).items():
            found[(wallet_id, currency, kinds)] = usage
    return found


async def _usage_many(
    conn: Connection, pairs: list[tuple[str, str]], kinds: tuple[str, ...], now: datetime
) -> dict[tuple[str, str], Usage]:
    """From the running totals per day (`payment_usage`, kept by the database): at most 31
    rows per wallet, however often it pays."""
    day = day_window(now)[0].date()
    month_start, month_end = (moment.date() for moment in month_window(now))
    cursor = await conn.execute(
        """
        SELECT u.wallet_id, u.currency,
               coalesce(sum(u.amount) FILTER (WHERE u.day = %(day)s), 0) AS today,
               coalesce(sum(u.amount), 0) AS this_month
          FROM unnest(%(wallets)s::text[], %(currencies)s::text[]) AS l(wallet_id, currency)
          JOIN payment_usage u ON u.wallet_id = l.wallet_id AND u.currency = l.currency
         WHERE u.scope = %(scope)s AND u.day >= %(month)s AND u.day < %(month_end)s
         GROUP BY u.wallet_id, u.currency
        """,
        {
            "day": day,
            "month": month_start,
            "month_end": month_end,
            "wallets": [wallet_id for wallet_id, _ in pairs],
            "currencies": [currency for _, currency in pairs],
            "scope": USAGE_SCOPES[kinds],
        },
    )
    return {
        (row["wallet_id"], row["currency"]): Usage(int(row["today"]), int(row["this_month"]))
        for row in await cursor.fetchall()
    }


async def _balances_of(conn: Connection, caps: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """`_balance` of several (wallet, currency) at once; 0 where the currency isn't open."""
    if not caps:
        return {}
    pairs = sorted(caps)
    cursor = await conn.execute(
        """
        SELECT b.wallet_id, b.currency,
               a.credits_posted + a.credits_pending - a.debits_posted AS balance
          FROM unnest(%s::text[], %s::text[]) AS l(wallet_id, currency)
          JOIN wallet_balances b ON b.wallet_id = l.wallet_id AND b.currency = l.currency
          JOIN ledger_accounts a ON a.id = b.ledger_account_id
        """,
        ([w for w, _ in pairs], [c for _, c in pairs]),
    )
    found = dict.fromkeys(pairs, 0)
    for row in await cursor.fetchall():
        found[(row["wallet_id"], row["currency"])] = int(row["balance"])
    return found


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
