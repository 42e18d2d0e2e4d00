"""The benchmark's own accounts, in ledgers of their own, created once and reused by reruns.

Each account is found again by its external reference, so a rerun (or an interrupted first
run) only creates what is missing. The accounts have no limits: the benchmark measures the
write path, not a stream of `insufficient_funds` rejections.
"""

from __future__ import annotations

from finhub.kit.db import Database
from finhub.ledger.models import AccountType
from finhub.ledger.repository import AccountFilter
from finhub.ledger.service import LedgerService

ASSET = "USD"
TRANSFER_LEDGER = "bench"  # single transfers, the batch API and the hot account
READS_LEDGER = "bench_reads"  # the large data set the read latencies are measured on
HOT_REF = "hot"


def account_ref(index: int) -> str:
    return f"acct-{index:06d}"


async def ensure_accounts(
    db: Database, ledger: LedgerService, *, ledger_id: str, refs: list[str]
) -> dict[str, str]:
    """The account id of each external reference, creating the accounts that don't exist."""
    async with db.transaction() as conn:
        existing = await ledger.list_accounts(
            conn, AccountFilter(ledger_id=ledger_id), limit=len(refs) + 1_000
        )
    ids = {a.external_ref: a.state.id for a in existing if a.external_ref is not None}
    missing = [ref for ref in refs if ref not in ids]
    # Chunks keep each transaction short; a rerun picks up after an interruption.
    for start in range(0, len(missing), 2_000):
        async with db.transaction() as conn:
            for ref in missing[start : start + 2_000]:
                account = await ledger.create_account(
                    conn,
                    asset=ASSET,
                    type=AccountType.LIABILITY,
                    ledger_id=ledger_id,
                    name=f"benchmark {ref}",
                    external_ref=ref,
                )
                ids[ref] = account.state.id
    return {ref: ids[ref] for ref in refs}


async def transfer_accounts(
    db: Database, ledger: LedgerService, count: int
) -> tuple[list[str], str]:
    """`count` ordinary accounts and one hot account in the transfer ledger."""
    refs = [account_ref(i) for i in range(count)]
    ids = await ensure_accounts(db, ledger, ledger_id=TRANSFER_LEDGER, refs=[*refs, HOT_REF])
    return [ids[ref] for ref in refs], ids[HOT_REF]
