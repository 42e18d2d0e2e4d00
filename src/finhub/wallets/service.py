"""Wallets: one per verified person, a ledger account per currency opened on first use."""

from __future__ import annotations

import secrets

from finhub.errors import Conflict
from finhub.kit.clock import Clock
from finhub.kit.db.engine import Connection
from finhub.kit.ids import new_id
from finhub.ledger.errors import AccountNotEmpty
from finhub.ledger.models import AccountType
from finhub.ledger.service import LedgerService
from finhub.wallets import repository
from finhub.wallets.chart import wallet_account_ref
from finhub.wallets.errors import WalletClosed, WalletNotAvailable, WalletNotFound
from finhub.wallets.models import CurrencyBalance, Wallet

# Bank-transfer references: unambiguous characters only (no 0/O, 1/I), easy to read aloud.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_payment_reference() -> str:
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))
    return f"FH{body}"


async def ensure_wallet(conn: Connection, clock: Clock, user_id: str) -> Wallet:
    """The person's wallet, opened on first use; only a verified, active person gets one."""
    existing = await repository.find_by_user(conn, user_id)
    if existing is not None:
        return existing
    person = await repository.user_for_wallet_open(conn, user_id)
    if person is None or person["status"] != "active" or person["email_verified_at"] is None:
        raise WalletNotAvailable("Verify your email address to open a wallet.")
    return await repository.insert_wallet_once(
        conn,
        wallet_id=new_id("wal"),
        user_id=user_id,
        home_currency=person["home_currency"],
        payment_reference=new_payment_reference(),
        now=clock.now(),
    )


async def wallet_for_user(conn: Connection, user_id: str) -> Wallet:
    wallet = await repository.find_by_user(conn, user_id)
    if wallet is None:
        raise WalletNotFound("No wallet yet.")
    return wallet


async def get_wallet(conn: Connection, wallet_id: str) -> Wallet:
    """Any wallet by id, for flows that resolve a counterparty (not scoped to a caller)."""
    wallet = await repository.find(conn, wallet_id)
    if wallet is None:
        raise WalletNotFound(f"No wallet {wallet_id}.")
    return wallet


def require_open(wallet: Wallet) -> None:
    if wallet.status != "active":
        raise WalletClosed("The wallet is closed.")


async def lock_open(conn: Connection, wallet_id: str) -> None:
    """Hold the wallet open until the caller commits (a share lock); `WalletClosed` when it is
    closed (or no longer exists)."""
    if await repository.status_for_share(conn, wallet_id) != "active":
        raise WalletClosed("The wallet is closed.")


async def balance_account(
    conn: Connection, ledger: LedgerService, wallet: Wallet, currency: str
) -> str:
    """The ledger account holding the wallet's `currency`, opened on first use (a liability
    that can't go below zero)."""
    require_open(wallet)
    known = await repository.balance_account(conn, wallet.id, currency)
    if known is not None:
        return known
    account = await ledger.ensure_account(
        conn,
        external_ref=wallet_account_ref(wallet.id, currency),
        asset=currency,
        type=AccountType.LIABILITY,
        owner_ref=wallet.user_id,
        name=f"wallet {wallet.id} {currency}",
        debits_must_not_exceed_credits=True,
    )
    await repository.insert_balance_once(
        conn, wallet.id, currency, account.state.id, ledger.clock.now()
    )
    return account.state.id


async def open_balance_accounts(
    conn: Connection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The ledger accounts of the (wallet id, currency) balances already open; none opened."""
    return await repository.balance_accounts(conn, pairs) if pairs else {}


async def balances(conn: Connection, wallet: Wallet) -> list[CurrencyBalance]:
    rows = await repository.balances(conn, wallet.id)
    return [
        CurrencyBalance(
            currency=row["currency"],
            ledger_account_id=row["ledger_account_id"],
            balance=int(row["balance"]),
            available=int(row["balance"]) - int(row["held"]),
            held=int(row["held"]),
        )
        for row in rows
    ]


async def close_wallet(conn: Connection, ledger: LedgerService, wallet: Wallet) -> None:
    """Close a wallet and each of its ledger accounts. Every balance must be zero with no holds
    either way; closing the ledger accounts (under their row locks) is what stops a payment
    racing the close from landing in it: the ledger refuses entries to a closed account."""
    await repository.lock(conn, wallet.id)
    for balance in await balances(conn, wallet):
        try:
            await ledger.close_account(conn, balance.ledger_account_id)
        except AccountNotEmpty as error:
            raise Conflict(
                "Withdraw or convert every balance before closing the wallet.",
                code="wallet_not_empty",
            ) from error
    await repository.close(conn, wallet.id, ledger.clock.now())
