"""Exports: the activity CSV (content, quoting, formula safety, filters, many batches) and the
PDF statement (its numbers add up, they come from the ledger, and the PDF shows them)."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import zlib
from datetime import datetime
from typing import Any

import pytest

from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.payments.core import change_status
from finhub.wallets import repository as wallet_repository
from finhub.wallets import statements
from finhub.wallets.activity import EXPORT_BATCH
from finhub.wallets.statements import CSV_HEADER, StatementInconsistent
from tests.wallets.conftest import (
    AUDIT,
    Holder,
    HolderFactory,
    fund,
    pay,
    register_asset,
    top_up,
    withdraw_pending,
)


async def export(holder: Holder, **params: Any) -> list[list[str]]:
    response = await holder.client.get("/v1/wallets/me/activity.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.reader(io.StringIO(response.text, newline="")))


async def database_now(db: Database) -> datetime:
    """The ledger stamps entries with the database's time, so periods are taken from it."""
    async with db.connection() as conn:
        cursor = await conn.execute("SELECT clock_timestamp() AS now")
        row = await cursor.fetchone()
    assert row is not None
    moment: datetime = row["now"]
    return moment


# --- CSV --------------------------------------------------------------------------------------


async def test_csv_has_every_line_with_decimal_and_minor_amounts(
    make_holder: HolderFactory, db: Database, ledger: LedgerService
) -> None:
    ada, grace = await make_holder(), await make_holder()
    await register_asset(db, ledger, "WBTC", 8)
    salary = await top_up(db, ledger, ada.wallet, 123_456, note="Salary", fee=56)
    yen = await top_up(db, ledger, ada.wallet, 1_500, currency="JPY", note="Tokyo")
    coins = await top_up(db, ledger, ada.wallet, 12_345, currency="WBTC", counterparty=None)
    dinner = await pay(db, ledger, ada.wallet, grace.wallet, 999, note="Dinner")
    rows = await export(ada)
    assert rows[0] == list(CSV_HEADER)
    by_payment = {row[-1]: dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]}
    assert list(by_payment) == [dinner.id, coins.id, yen.id, salary.id]
    assert by_payment[salary.id]["amount"] == "1234.56"
    assert by_payment[salary.id]["amount_minor"] == "123456"
    assert by_payment[salary.id]["fee"] == "0.56"
    assert by_payment[salary.id]["fee_minor"] == "56"
    assert by_payment[yen.id]["amount"] == "1500"
    assert by_payment[coins.id]["amount"] == "0.00012345"
    assert by_payment[coins.id]["counterparty"] == ""
    dinner_row = by_payment[dinner.id]
    assert (dinner_row["kind"], dinner_row["direction"], dinner_row["status"]) == (
        "p2p",
        "out",
        "completed",
    )
    assert (dinner_row["currency"], dinner_row["amount"], dinner_row["note"]) == (
        "EUR",
        "9.99",
        "Dinner",
    )
    assert dinner_row["created_at"].startswith(str(dinner.created_at.year))
    # Grace's export has her side only; filters apply as on the feed.
    assert [row[-1] for row in (await export(grace))[1:]] == [dinner.id]
    assert [row[-1] for row in (await export(ada, currency="EUR", direction="in"))[1:]] == [
        salary.id
    ]
    assert len(await export(ada, q="no such note")) == 1  # the header only


async def test_csv_quotes_and_defuses_formulas(
    holder: Holder, db: Database, ledger: LedgerService
) -> None:
    tricky = {
        '=HYPERLINK("http://evil.example","x")': '\'=HYPERLINK("http://evil.example","x")',
        "+1 555 0100": "'+1 555 0100",
        "-2+3": "'-2+3",
        "@SUM(A1:A2)": "'@SUM(A1:A2)",
        'Dinner, "the good one"\nthanks': 'Dinner, "the good one"\nthanks',
        "plain = fine": "plain = fine",
    }
    for note in tricky:
        await top_up(db, ledger, holder.wallet, 100, note=note, counterparty=note[:40])
    response = await holder.client.get("/v1/wallets/me/activity.csv")
    # Proper quoting: the comma, quotes and newline stay inside one quoted field.
    assert '"Dinner, ""the good one""\nthanks"' in response.text
    rows = list(csv.reader(io.StringIO(response.text, newline="")))[1:]
    notes = [row[CSV_HEADER.index("note")] for row in rows]
    assert sorted(notes) == sorted(tricky.values())
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


async def test_csv_streams_more_lines_than_one_batch(holder: Holder, db: Database) -> None:
    count = EXPORT_BATCH + 17
    async with db.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO payments (id, kind, status, wallet_id, amount, currency, note,
                                  created_at, updated_at)
            SELECT 'pay_csv_' || %(wallet)s || '_' || i, 'bank_topup', 'completed', %(wallet)s,
                   i, 'EUR', 'Line ' || i, now() - make_interval(secs => i),
                   now() - make_interval(secs => i)
              FROM generate_series(1, %(count)s) AS i
            """,
            {"wallet": holder.wallet.id, "count": count},
        )
        await conn.execute(
            """
            INSERT INTO wallet_activity (id, wallet_id, payment_id, kind, direction, amount,
                                         currency, note, status, created_at, updated_at)
            SELECT 'act_csv_' || p.id, p.wallet_id, p.id, p.kind, 'in', p.amount, p.currency,
                   p.note, p.status, p.created_at, p.updated_at
              FROM payments p WHERE p.wallet_id = %(wallet)s
            """,
            {"wallet": holder.wallet.id},
        )
    rows = (await export(holder))[1:]
    assert len(rows) == count
    assert len({row[0] for row in rows}) == count
    assert [row[CSV_HEADER.index("amount_minor")] for row in rows] == [
        str(i) for i in range(1, count + 1)
    ]


# --- the statement ----------------------------------------------------------------------------


@pytest.fixture
async def month(
    make_holder: HolderFactory, db: Database, ledger: LedgerService
) -> tuple[Holder, Holder, datetime, datetime]:
    """Ada's EUR month: 50.00 before it; in it a card top-up of 100.00 (1.00 fee), a dinner
    of 15.00 she paid (0.50 fee), 7.00 back from Grace, a withdrawal of 10.00 that was held
    and then paid out, another held 4.00 still on its way and 3.00 moved by the ledger without
    a payment; 9.99 after it."""
    ada = await make_holder(display_name="Ada Lovelace")
    grace = await make_holder(display_name="Grace Hopper")
    await fund(db, ledger, ada.wallet, 5_000)
    period_from = await database_now(db)
    await top_up(db, ledger, ada.wallet, 10_000, kind="card_topup", counterparty="Visa 4242",
                 fee=100)  # fmt: skip
    await pay(db, ledger, ada.wallet, grace.wallet, 1_500, note="Dinner", fee=50)
    await pay(db, ledger, grace.wallet, ada.wallet, 700, note="My share",
              payer_name="Grace Hopper", payee_name="Ada Lovelace")  # fmt: skip
    withdrawal = await withdraw_pending(db, ledger, ada.wallet, 1_000)
    async with db.transaction() as conn:
        assert withdrawal.hold_transaction_id is not None
        await ledger.post_pending(conn, withdrawal.hold_transaction_id)
        await change_status(conn, ledger, AUDIT, withdrawal.id, "completed")
    await withdraw_pending(db, ledger, ada.wallet, 400)
    await fund(db, ledger, ada.wallet, 300)
    period_to = await database_now(db)
    await top_up(db, ledger, ada.wallet, 999, note="Next month")
    return ada, grace, period_from, period_to


async def test_the_statement_adds_up_from_the_ledger(
    month: tuple[Holder, Holder, datetime, datetime], db: Database, ledger: LedgerService
) -> None:
    ada, _, period_from, period_to = month
    async with db.connection() as conn:
        statement = await statements.build_statement(
            conn, ledger, ada.wallet, holder="Ada Lovelace", currency="EUR",
            period_from=period_from, period_to=period_to,
        )  # fmt: skip
    assert statement.opening_balance == 5_000
    assert [(line.amount_in, line.amount_out, line.fee) for line in statement.lines] == [
        (9_900, 0, 100),
        (0, 1_550, 50),
        (700, 0, 0),
        (0, 1_000, 0),
        (300, 0, 0),
    ]
    assert [line.balance for line in statement.lines] == [14_900, 13_350, 14_050, 13_050, 13_350]
    assert statement.closing_balance == 13_350
    assert (statement.total_in, statement.total_out, statement.total_fees) == (10_900, 2_550, 150)
    assert (
        statement.opening_balance + statement.total_in - statement.total_out
        == statement.closing_balance
    )
    descriptions = [line.description for line in statement.lines]
    assert descriptions[:4] == [
        "Card top-up - Visa 4242",
        "Transfer - Grace Hopper - Dinner",
        "Transfer - Grace Hopper - My share",
        "Withdrawal - My bank",  # the posting of a hold is traced back to its payment
    ]
    # The closing balance is the ledger's own, and the held 4.00 is not part of it.
    async with db.connection() as conn:
        account_id = await wallet_repository.balance_account(conn, ada.wallet.id, "EUR")
        assert account_id is not None
        at_end = await ledger.balance(conn, account_id, period_to)
        report = await ledger.verify(conn)
    assert at_end.account.posted_balance == statement.closing_balance
    assert report.ok, report


async def test_a_statement_that_does_not_add_up_is_refused(
    month: tuple[Holder, Holder, datetime, datetime], db: Database, ledger: LedgerService
) -> None:
    ada, _, period_from, period_to = month
    async with db.connection() as conn:
        statement = await statements.build_statement(
            conn, ledger, ada.wallet, holder="Ada", currency="EUR",
            period_from=period_from, period_to=period_to,
        )  # fmt: skip
    broken_line = dataclasses.replace(statement.lines[1], amount_out=1_500)
    broken = dataclasses.replace(statement, lines=[statement.lines[0], broken_line])
    with pytest.raises(StatementInconsistent):
        statements.check_statement(broken)
    with pytest.raises(StatementInconsistent):
        statements.check_statement(dataclasses.replace(statement, closing_balance=1))


def pdf_text(document: bytes) -> bytes:
    """The page content of an fpdf2 document, inflated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.DOTALL)
    text = b""
    for stream in streams:
        try:
            text += zlib.decompress(stream)
        except zlib.error:
            text += stream
    return text


def page_numbers(text: bytes) -> list[tuple[int, int]]:
    """The footers' "Page n of m" (fpdf2 writes the total as its own text run)."""
    found = re.findall(rb"\(Page (\d+) of \) Tj \((\d+)\) Tj", text)
    return [(int(page), int(total)) for page, total in found]


async def test_the_pdf_statement(month: tuple[Holder, Holder, datetime, datetime]) -> None:
    ada, _, period_from, period_to = month
    response = await ada.client.get(
        "/v1/wallets/me/statement.pdf",
        params={"from": period_from.isoformat(), "to": period_to.isoformat(), "currency": "EUR"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for expected in (
        b"Ada Lovelace",
        ada.wallet.id.encode(),
        b"50.00",  # opening
        b"149.00",  # the first running balance
        b"109.00 EUR",  # total in
        b"25.50 EUR",  # total out
        b"1.50 EUR",  # fees
        b"133.50 EUR",  # closing
    ):
        assert expected in text, expected
    assert page_numbers(text) == [(1, 1)]
    assert b"Next month" not in text
    # The home currency is the default.
    default = await ada.client.get(
        "/v1/wallets/me/statement.pdf",
        params={"from": period_from.isoformat(), "to": period_to.isoformat()},
    )
    assert b"133.50 EUR" in pdf_text(default.content)


async def test_a_long_statement_has_numbered_pages(
    holder: Holder, db: Database, ledger: LedgerService
) -> None:
    period_from = await database_now(db)
    for cents in range(1, 81):
        await fund(db, ledger, holder.wallet, cents)
    period_to = await database_now(db)
    response = await holder.client.get(
        "/v1/wallets/me/statement.pdf",
        params={"from": period_from.isoformat(), "to": period_to.isoformat()},
    )
    text = pdf_text(response.content)
    numbers = page_numbers(text)
    assert len(numbers) > 1
    assert numbers == [(page, len(numbers)) for page in range(1, len(numbers) + 1)]
    assert b"32.40 EUR" in text  # 1 + 2 + ... + 80 cents


async def test_statement_errors(
    month: tuple[Holder, Holder, datetime, datetime], holder: Holder
) -> None:
    ada, _, period_from, period_to = month
    window = {"from": period_from.isoformat(), "to": period_to.isoformat()}
    for client, params, status, code in (
        (ada.client, {**window, "from": period_to.isoformat()}, 422, "invalid_period"),
        (ada.client, {"to": period_to.isoformat()}, 422, "validation_error"),
        (ada.client, {**window, "from": "2026-01-01"}, 422, "validation_error"),
        (ada.client, {**window, "currency": "GBP"}, 404, "balance_not_found"),
        (ada.client, {**window, "currency": "eur"}, 422, "validation_error"),
        # Someone else asking for the same period gets their own (empty) wallet, not Ada's.
        (holder.client, window, 404, "balance_not_found"),
    ):
        response = await client.get("/v1/wallets/me/statement.pdf", params=params)
        assert response.status_code == status, params
        assert response.json()["code"] == code, params
