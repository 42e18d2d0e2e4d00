"""The wallets' chart of accounts in the ledger.

Customer money is a liability of the operator: each wallet currency is one liability account
that can't go below zero. Money enters and leaves through clearing accounts per rail (assets:
what the card processor or the bank owes or holds), fees are revenue, currency conversions pass
through an FX position account per currency, and rounding remainders go to a rounding account
so no fraction of a minor unit vanishes (DESIGN.md §3).
"""

from __future__ import annotations

from enum import StrEnum

from finhub.kit.db.engine import Connection
from finhub.ledger.models import AccountType
from finhub.ledger.service import LedgerService


class SystemAccount(StrEnum):
    CARD_CLEARING = "card_clearing"  # owed to us by the card processor for captured top-ups
    BANK_CLEARING = "bank_clearing"  # our bank account: incoming transfers land here
    PAYOUT_CLEARING = "payout_clearing"  # withdrawals sent to the bank, awaiting its report
    FEE_REVENUE = "fee_revenue"
    FX_POSITION = "fx_position"  # the currency we bought or sold in conversions
    ROUNDING = "rounding"


TYPES = {
    SystemAccount.CARD_CLEARING: AccountType.ASSET,
    SystemAccount.BANK_CLEARING: AccountType.ASSET,
    SystemAccount.PAYOUT_CLEARING: AccountType.LIABILITY,
    SystemAccount.FEE_REVENUE: AccountType.REVENUE,
    SystemAccount.FX_POSITION: AccountType.ASSET,
    SystemAccount.ROUNDING: AccountType.EXPENSE,
}


async def system_account(
    conn: Connection, ledger: LedgerService, role: SystemAccount, currency: str
) -> str:
    """The ledger account id of `role` in `currency`, opened on first use."""
    account = await ledger.ensure_account(
        conn,
        external_ref=f"system:{role.value}:{currency}",
        asset=currency,
        type=TYPES[role],
        name=f"{role.value.replace('_', ' ')} {currency}",
    )
    return account.state.id


def wallet_account_ref(wallet_id: str, currency: str) -> str:
    return f"wallet:{wallet_id}:{currency}"
