"""Every payment event puts a note in the owner's inbox and queues an email, exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from finhub.audit.service import AuditContext
from finhub.config import Settings
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.kit.db.engine import Connection
from finhub.ledger.models import Direction, EntrySpec
from finhub.ledger.service import LedgerService
from finhub.notifications.mail import Mailer
from finhub.payments.core import Posting, change_status, create_payment
from finhub.payments.models import ActivityLine, NewPayment, Payment
from finhub.wallets import service as wallets
from finhub.wallets.chart import SystemAccount, system_account
from finhub.wallets.models import Wallet
from finhub.webhooks.payment_notifications import notify_pending
from finhub.webhooks.wording import PaymentView, compose, format_amount
from tests.factories import create_user
from tests.webhooks.conftest import scalar

AUDIT = AuditContext.system("test")


class CrashingMailer(Mailer):
    """Fails when asked to mail `victim`, as a process dying mid-batch would."""

    def __init__(self, *args: Any, victim: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.victim = victim

    async def queue(self, conn: Connection, *, to: str, **kwargs: Any) -> str:
        if to == self.victim:
            raise RuntimeError("crash")
        return await super().queue(conn, to=to, **kwargs)


async def person(
    db: Database, ledger: LedgerService, clock: OffsetClock, name: str, funded: int = 0
) -> tuple[Wallet, str, str]:
    """A verified person with a wallet (funded from the bank): wallet, EUR account, email."""
    async with db.transaction() as conn:
        user_id = await create_user(conn, display_name=name)
        wallet = await wallets.ensure_wallet(conn, clock, user_id)
        account = await wallets.balance_account(conn, ledger, wallet, "EUR")
        if funded:
            bank = await system_account(conn, ledger, SystemAccount.BANK_CLEARING, "EUR")
            await ledger.post_one(
                conn,
                ledger.transfer_spec(
                    from_account=bank, to_account=account, amount=funded, asset="EUR"
                ),
            )
    return wallet, account, f"{user_id.lower()}@example.com"


async def p2p(
    db: Database,
    ledger: LedgerService,
    payer: tuple[Wallet, str, str],
    payee: tuple[Wallet, str, str],
    amount: int,
    note: str | None = None,
) -> Payment:
    async with db.transaction() as conn:
        return await create_payment(
            conn, ledger, AUDIT,
            NewPayment(kind="p2p", wallet_id=payer[0].id, amount=amount, currency="EUR",
                       counterparty_wallet_id=payee[0].id, note=note),
            posting=Posting([EntrySpec(payer[1], Direction.DEBIT, amount),
                             EntrySpec(payee[1], Direction.CREDIT, amount)]),
            status="completed",
            activity=[ActivityLine(payer[0].id, "out", amount, "EUR", note=note),
                      ActivityLine(payee[0].id, "in", amount, "EUR", note=note)],
        )  # fmt: skip


async def inbox(db: Database, wallet: Wallet) -> list[tuple[str, str, str]]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind, title, body FROM notifications WHERE user_id = %s ORDER BY id",
            (wallet.user_id,),
        )
        return [(r["kind"], r["title"], r["body"]) for r in await cursor.fetchall()]


async def mails(db: Database, address: str) -> list[str]:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT subject FROM outbound_mail WHERE to_address = %s AND tag = %s ORDER BY id",
            (address, "payment_notification"),
        )
        return [r["subject"] for r in await cursor.fetchall()]


async def notify_until(
    db: Database, mailer: Mailer, clock: OffsetClock, wallet: Wallet, n: int
) -> None:
    """Run the consumer until the person has `n` notifications (the outbox's fence is
    cluster-wide, so a transaction open elsewhere on the server can hold events back)."""
    for _ in range(200):
        await notify_pending(db, mailer, clock)
        if len(await inbox(db, wallet)) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{wallet.user_id} has {len(await inbox(db, wallet))} notifications")


@pytest.fixture
def mailer(db: Database, settings: Settings, clock: OffsetClock) -> Mailer:
    return Mailer(db, settings, clock=clock)


async def test_both_sides_of_a_payment_are_told_once(
    db: Database, ledger: LedgerService, clock: OffsetClock, mailer: Mailer
) -> None:
    ada = await person(db, ledger, clock, "Ada", funded=5_000)
    bob = await person(db, ledger, clock, "Bob")
    payment = await p2p(db, ledger, ada, bob, 1_250, note="lunch")
    await notify_until(db, mailer, clock, bob[0], 1)
    await notify_until(db, mailer, clock, ada[0], 1)

    [(kind, title, body)] = await inbox(db, bob[0])
    assert kind == "payment.completed"
    assert title == "You received €12.50 from Ada"
    assert "Note: lunch" in body
    assert await inbox(db, ada[0]) == [
        ("payment.completed", "You sent €12.50 to Bob", "Note: lunch")
    ]
    assert await mails(db, bob[2]) == ["You received €12.50 from Ada"]
    assert await mails(db, ada[2]) == ["You sent €12.50 to Bob"]
    data = await scalar(db, "SELECT data FROM notifications WHERE user_id = %s", bob[0].user_id)
    assert data["payment_id"] == payment.id

    # Running again, even several consumers at once, tells nobody twice.
    await asyncio.gather(*(notify_pending(db, mailer, clock) for _ in range(3)))
    assert len(await inbox(db, bob[0])) == 1
    assert len(await mails(db, ada[2])) == 1


async def test_a_failed_withdrawal_is_reported(
    db: Database, ledger: LedgerService, clock: OffsetClock, mailer: Mailer
) -> None:
    ada = await person(db, ledger, clock, "Ada", funded=10_000)
    async with db.transaction() as conn:
        payment = await create_payment(
            conn, ledger, AUDIT,
            NewPayment(kind="withdrawal", wallet_id=ada[0].id, amount=4_000, currency="EUR"),
            posting=None, status="processing",
            activity=[ActivityLine(ada[0].id, "out", 4_000, "EUR")],
        )  # fmt: skip
    async with db.transaction() as conn:
        await change_status(
            conn, ledger, AUDIT, payment.id, "failed",
            failure_code="account_closed", failure_message="The bank account is closed.",
        )  # fmt: skip
    await notify_until(db, mailer, clock, ada[0], 2)
    titles = [title for _, title, _ in await inbox(db, ada[0])]
    assert titles == [
        "Your withdrawal of €40.00 is on its way",
        "Your withdrawal of €40.00 failed",
    ]
    [_, (_, _, body)] = await inbox(db, ada[0])
    assert body == "The bank account is closed. The amount is available in your wallet again."


async def test_a_crash_mid_batch_leaves_nothing_half_done(
    db: Database, ledger: LedgerService, clock: OffsetClock, settings: Settings, mailer: Mailer
) -> None:
    dave = await person(db, ledger, clock, "Dave", funded=5_000)
    carol = await person(db, ledger, clock, "Carol")
    await p2p(db, ledger, dave, carol, 700)
    crashing = CrashingMailer(db, settings, clock=clock, victim=carol[2])
    crashed = False
    for _ in range(200):
        try:
            await notify_pending(db, crashing, clock)
        except RuntimeError:
            crashed = True
            break
        await asyncio.sleep(0.05)
    assert crashed
    # Dave's event came first in the same batch: it was rolled back with Carol's.
    assert await inbox(db, dave[0]) == []
    assert await inbox(db, carol[0]) == []

    await notify_until(db, mailer, clock, carol[0], 1)
    assert [t for _, t, _ in await inbox(db, carol[0])] == ["You received €7.00 from Dave"]
    assert [t for _, t, _ in await inbox(db, dave[0])] == ["You sent €7.00 to Carol"]
    assert len(await mails(db, carol[2])) == 1


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1_250, "EUR", "€12.50"),
        (120_000, "JPY", "¥120,000"),
        (1_234, "BHD", "1.234 BHD"),
        (5, "USD", "$0.05"),
        (123_456_789, "THB", "฿1,234,567.89"),
    ],
)
def test_amounts_use_the_currencys_decimals(minor: int, currency: str, shown: str) -> None:
    assert format_amount(minor, currency) == shown


@pytest.mark.parametrize(
    ("kind", "status", "side", "title"),
    [
        ("card_topup", "completed", "sender", "You added €12.50 to your wallet by card"),
        ("card_topup", "failed", "sender", "Your card top-up of €12.50 failed"),
        ("card_topup", "requires_action", "sender",
         "Your card top-up of €12.50 needs your attention"),
        ("bank_topup", "completed", "sender", "You received €12.50 by bank transfer"),
        ("withdrawal", "completed", "sender", "Your withdrawal of €12.50 has been paid out"),
        ("request_payment", "completed", "recipient", "Ada paid your request for €12.50"),
        ("request_payment", "completed", "sender", "You paid Ada's request for €12.50"),
        ("p2p", "failed", "sender", "Your payment of €12.50 to Ada failed"),
        ("refund", "completed", "recipient", "You received a refund of €12.50 from Ada"),
        ("fx_conversion", "completed", "sender", "You converted €12.50 to $13.60"),
    ],
)  # fmt: skip
def test_wording_per_kind_and_status(kind: str, status: str, side: Any, title: str) -> None:
    needs_name = kind in ("p2p", "request_payment", "refund")
    view = PaymentView(
        kind=kind, status=status, side=side, amount="€12.50", fee=None,
        counterparty="Ada" if needs_name else None, note=None, failure_message=None,
        converted_to="$13.60" if kind == "fx_conversion" else None,
    )  # fmt: skip
    assert compose(view).title == title
