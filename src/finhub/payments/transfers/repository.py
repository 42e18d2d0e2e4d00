"""All SQL of payments between people: payment requests and finding a recipient.

Every request query names the wallet asking (as requester or addressee), so no function can
reach someone else's request by accident; `find_by_token` is the one lookup by capability (the
unguessable token of a link or QR code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finhub.kit.db.engine import Connection
from finhub.wallets.models import Wallet

COLUMNS = """id, requester_wallet_id, payer_wallet_id, amount, currency, note, token, status,
    paid_payment_id, paid_by_wallet_id, created_at, expires_at, paid_at, canceled_at, updated_at"""


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    id: str
    requester_wallet_id: str
    payer_wallet_id: str | None
    amount: int
    currency: str
    note: str | None
    token: str
    status: str  # as stored: open, paid, canceled (see `state` for expiry)
    paid_payment_id: str | None
    paid_by_wallet_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    canceled_at: datetime | None
    updated_at: datetime

    def state(self, now: datetime) -> str:
        """open, paid, canceled or expired (an open request past its expiry)."""
        if self.status == "open" and self.expires_at <= now:
            return "expired"
        return self.status


@dataclass(frozen=True, slots=True)
class Person:
    """What a payment shows of its counterparty."""

    user_id: str
    email: str
    display_name: str | None
    status: str
    email_verified: bool


def _request(row: dict[str, Any]) -> PaymentRequest:
    return PaymentRequest(**{**row, "amount": int(row["amount"])})


# --- people -----------------------------------------------------------------------------------

PERSON_COLUMNS = """id AS user_id, email, display_name, status,
    email_verified_at IS NOT NULL AS email_verified"""


async def person_by_email(conn: Connection, email_normalized: str) -> Person | None:
    cursor = await conn.execute(
        f"SELECT {PERSON_COLUMNS} FROM users WHERE email_normalized = %s", (email_normalized,)
    )
    row = await cursor.fetchone()
    return Person(**row) if row else None


async def person_by_phone(conn: Connection, phone: str) -> Person | None:
    """The one person with this number; None when nobody, or several people, have it."""
    cursor = await conn.execute(
        f"SELECT {PERSON_COLUMNS} FROM users WHERE phone = %s LIMIT 2", (phone,)
    )
    rows = await cursor.fetchall()
    return Person(**rows[0]) if len(rows) == 1 else None


async def person(conn: Connection, user_id: str) -> Person | None:
    cursor = await conn.execute(f"SELECT {PERSON_COLUMNS} FROM users WHERE id = %s", (user_id,))
    row = await cursor.fetchone()
    return Person(**row) if row else None


# --- payment requests -------------------------------------------------------------------------


async def insert_request(
    conn: Connection,
    *,
    request_id: str,
    requester_wallet_id: str,
    payer_wallet_id: str | None,
    amount: int,
    currency: str,
    note: str | None,
    token: str,
    now: datetime,
    expires_at: datetime,
) -> PaymentRequest:
    cursor = await conn.execute(
        f"""
        INSERT INTO payment_requests (id, requester_wallet_id, payer_wallet_id, amount,
                                      currency, note, token, created_at, expires_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING {COLUMNS}
        """,
        (
            request_id,
            requester_wallet_id,
            payer_wallet_id,
            amount,
            currency,
            note,
            token,
            now,
            expires_at,
            now,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _request(row)


async def find_visible(
    conn: Connection, request_id: str, wallet_id: str, *, lock: bool = False
) -> PaymentRequest | None:
    """A request the wallet made or that is addressed to it (optionally locked)."""
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM payment_requests
         WHERE id = %s AND (requester_wallet_id = %s OR payer_wallet_id = %s)
        {"FOR UPDATE" if lock else ""}
        """,
        (request_id, wallet_id, wallet_id),
    )
    row = await cursor.fetchone()
    return _request(row) if row else None


async def find_by_token(
    conn: Connection, token: str, *, lock: bool = False
) -> PaymentRequest | None:
    """The request behind a link or QR code (the token is the capability)."""
    locking = "FOR UPDATE" if lock else ""
    cursor = await conn.execute(
        f"SELECT {COLUMNS} FROM payment_requests WHERE token = %s {locking}", (token,)
    )
    row = await cursor.fetchone()
    return _request(row) if row else None


@dataclass(frozen=True, slots=True)
class RequestFilter:
    role: str | None = None  # "sent", "received" or None for both
    status: str | None = None  # open, paid, canceled, expired


async def list_for_wallet(
    conn: Connection,
    wallet_id: str,
    where: RequestFilter,
    *,
    now: datetime,
    limit: int,
    starting_after: str | None,
) -> list[PaymentRequest]:
    """Requests the wallet sent or received, newest first (ids are time-ordered ULIDs)."""
    clauses: list[str] = []
    params: dict[str, Any] = {"wallet": wallet_id, "now": now, "limit": limit}
    if where.role == "sent":
        clauses.append("requester_wallet_id = %(wallet)s")
    elif where.role == "received":
        clauses.append("payer_wallet_id = %(wallet)s")
    else:
        clauses.append("(requester_wallet_id = %(wallet)s OR payer_wallet_id = %(wallet)s)")
    if where.status == "expired":
        clauses.append("status = 'open' AND expires_at <= %(now)s")
    elif where.status == "open":
        clauses.append("status = 'open' AND expires_at > %(now)s")
    elif where.status is not None:
        clauses.append("status = %(status)s")
        params["status"] = where.status
    if starting_after is not None:
        clauses.append("id < %(after)s")
        params["after"] = starting_after
    cursor = await conn.execute(
        f"""
        SELECT {COLUMNS} FROM payment_requests
         WHERE {" AND ".join(clauses)}
         ORDER BY id DESC
         LIMIT %(limit)s
        """,
        params,
    )
    return [_request(row) for row in await cursor.fetchall()]


async def mark_paid(
    conn: Connection, request_id: str, *, payment_id: str, payer_wallet_id: str, now: datetime
) -> PaymentRequest:
    cursor = await conn.execute(
        f"""
        UPDATE payment_requests
           SET status = 'paid', paid_payment_id = %s, paid_by_wallet_id = %s, paid_at = %s,
               updated_at = %s
         WHERE id = %s AND status = 'open'
        RETURNING {COLUMNS}
        """,
        (payment_id, payer_wallet_id, now, now, request_id),
    )
    row = await cursor.fetchone()
    assert row is not None, "mark_paid runs on a locked, open request"
    return _request(row)


async def mark_canceled(conn: Connection, request_id: str, now: datetime) -> PaymentRequest:
    cursor = await conn.execute(
        f"""
        UPDATE payment_requests SET status = 'canceled', canceled_at = %s, updated_at = %s
         WHERE id = %s AND status = 'open'
        RETURNING {COLUMNS}
        """,
        (now, now, request_id),
    )
    row = await cursor.fetchone()
    assert row is not None, "mark_canceled runs on a locked, open request"
    return _request(row)


async def people_of_wallets(conn: Connection, wallet_ids: list[str]) -> dict[str, Person]:
    """The person behind each wallet, for showing counterparties (one query for a page)."""
    cursor = await conn.execute(
        """
        SELECT w.id AS wallet_id, u.id AS user_id, u.email, u.display_name, u.status,
               u.email_verified_at IS NOT NULL AS email_verified
          FROM wallets w JOIN users u ON u.id = w.user_id
         WHERE w.id = ANY(%s)
        """,
        (wallet_ids,),
    )
    return {
        row.pop("wallet_id"): Person(**row) for row in [dict(r) for r in await cursor.fetchall()]
    }


@dataclass(frozen=True, slots=True)
class WalletOwner:
    """A wallet and the person it belongs to, read together (one round trip per party of a
    payment instead of two)."""

    wallet: Wallet
    person: Person


WALLET_OWNER_SQL = """
    SELECT w.id, w.user_id, w.home_currency, w.status AS wallet_status, w.payment_reference,
           w.created_at, w.closed_at, u.email, u.display_name, u.status AS person_status,
           u.email_verified_at IS NOT NULL AS email_verified
      FROM wallets w JOIN users u ON u.id = w.user_id
"""


def _wallet_owner(row: dict[str, Any]) -> WalletOwner:
    wallet = Wallet(
        id=row["id"],
        user_id=row["user_id"],
        home_currency=row["home_currency"],
        status=row["wallet_status"],
        payment_reference=row["payment_reference"],
        created_at=row["created_at"],
        closed_at=row["closed_at"],
    )
    person = Person(
        user_id=row["user_id"],
        email=row["email"],
        display_name=row["display_name"],
        status=row["person_status"],
        email_verified=row["email_verified"],
    )
    return WalletOwner(wallet, person)


async def owner_of_wallet(conn: Connection, wallet_id: str) -> WalletOwner | None:
    cursor = await conn.execute(WALLET_OWNER_SQL + " WHERE w.id = %s", (wallet_id,))
    row = await cursor.fetchone()
    return _wallet_owner(row) if row else None


async def wallet_of_user(conn: Connection, user_id: str) -> WalletOwner | None:
    """The person's wallet with them; None while they have no wallet yet."""
    cursor = await conn.execute(WALLET_OWNER_SQL + " WHERE w.user_id = %s", (user_id,))
    row = await cursor.fetchone()
    return _wallet_owner(row) if row else None


# --- handles ----------------------------------------------------------------------------------


async def wallet_for_handle(conn: Connection, handle: str) -> str | None:
    cursor = await conn.execute("SELECT wallet_id FROM wallet_handles WHERE handle = %s", (handle,))
    row = await cursor.fetchone()
    return str(row["wallet_id"]) if row else None


async def handle_of_wallet(conn: Connection, wallet_id: str) -> str | None:
    cursor = await conn.execute(
        "SELECT handle FROM wallet_handles WHERE wallet_id = %s", (wallet_id,)
    )
    row = await cursor.fetchone()
    return str(row["handle"]) if row else None


async def set_handle(conn: Connection, wallet_id: str, handle: str, now: datetime) -> bool:
    """Give the wallet `handle` (replacing its old one); False when someone else has it."""
    await conn.execute("DELETE FROM wallet_handles WHERE wallet_id = %s", (wallet_id,))
    cursor = await conn.execute(
        """
        INSERT INTO wallet_handles (handle, wallet_id, created_at) VALUES (%s, %s, %s)
        ON CONFLICT (handle) DO NOTHING
        """,
        (handle, wallet_id, now),
    )
    return cursor.rowcount == 1


async def delete_handle(conn: Connection, wallet_id: str) -> bool:
    cursor = await conn.execute("DELETE FROM wallet_handles WHERE wallet_id = %s", (wallet_id,))
    return cursor.rowcount == 1
