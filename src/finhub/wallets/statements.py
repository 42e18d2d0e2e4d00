"""Exports of a wallet: the activity feed as CSV and a PDF statement for a period.

The statement is built from the ledger, not from the feed: the opening balance is the wallet
account's balance just before the period, every line is a ledger transaction that moved the
posted balance, and each line's running balance is the balance the ledger recorded after it
(DESIGN.md §3). `build_statement` checks that opening + lines = closing before anything is
rendered, so a statement that doesn't add up is never handed out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fpdf import FPDF

from finhub.errors import FinhubError, NotFound
from finhub.kit.db.engine import Connection
from finhub.kit.money import Asset
from finhub.ledger.service import LedgerService
from finhub.wallets import activity_repository
from finhub.wallets import repository as wallet_repository
from finhub.wallets.models import Wallet

# Cells a spreadsheet would run as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = (
    "id",
    "created_at",
    "kind",
    "direction",
    "status",
    "currency",
    "amount",
    "amount_minor",
    "fee",
    "fee_minor",
    "counterparty",
    "note",
    "payment_id",
)
KIND_LABELS = {
    "p2p": "Transfer",
    "card_topup": "Card top-up",
    "bank_topup": "Bank transfer top-up",
    "withdrawal": "Withdrawal",
    "fx_conversion": "Currency conversion",
    "request_payment": "Payment request",
    "refund": "Refund",
}
# The ledger's as-of balances include entries posted at the given moment; periods are
# half-open [from, to), so the balance "at from" is the one just before it.
JUST_BEFORE = timedelta(microseconds=1)


class BalanceNotFound(NotFound):
    code = "balance_not_found"


class StatementInconsistent(FinhubError):
    status = 500
    code = "statement_inconsistent"
    title = "The statement does not add up"


# --- CSV --------------------------------------------------------------------------------------


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting with a formula trigger gets a quote."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def format_decimal(asset: Asset, minor: int) -> str:
    return f"{asset.to_decimal(minor):.{asset.scale}f}"


def _csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue()


async def activity_csv(
    conn: Connection, ledger: LedgerService, rows: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[str]:
    """The CSV file, a line at a time: amounts as decimal strings in the currency's scale and
    as minor units, every text cell quoted as needed and defused against formulas."""
    yield _csv_line(CSV_HEADER)
    assets: dict[str, Asset] = {}
    async for row in rows:
        currency = row["currency"]
        if currency not in assets:
            assets[currency] = await ledger.resolve_asset(conn, currency)
        asset = assets[currency]
        amount, fee = int(row["amount"]), int(row["fee"])
        yield _csv_line(
            (
                row["id"],
                row["created_at"].isoformat(),
                row["kind"],
                row["direction"],
                row["status"],
                currency,
                format_decimal(asset, amount),
                str(amount),
                format_decimal(asset, fee),
                str(fee),
                row["counterparty"] or "",
                row["note"] or "",
                row["payment_id"],
            )
        )


# --- the statement's data ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementLine:
    posted_at: datetime
    description: str
    reference: str  # the payment's id, or the ledger transaction's for a movement without one
    amount_in: int
    amount_out: int
    fee: int  # the payment's fee: already within the line's amount, shown for the totals
    balance: int  # the posted balance right after this line


@dataclass(frozen=True, slots=True)
class Statement:
    holder: str
    wallet_id: str
    asset: Asset
    period_from: datetime
    period_to: datetime
    opening_balance: int
    closing_balance: int
    lines: list[StatementLine]
    generated_at: datetime

    @property
    def total_in(self) -> int:
        return sum(line.amount_in for line in self.lines)

    @property
    def total_out(self) -> int:
        return sum(line.amount_out for line in self.lines)

    @property
    def total_fees(self) -> int:
        return sum(line.fee for line in self.lines)


async def build_statement(
    conn: Connection,
    ledger: LedgerService,
    wallet: Wallet,
    *,
    holder: str,
    currency: str,
    period_from: datetime,
    period_to: datetime,
) -> Statement:
    """The statement of the wallet's `currency` balance for [period_from, period_to)."""
    account_id = await wallet_repository.balance_account(conn, wallet.id, currency)
    if account_id is None:
        raise BalanceNotFound(f"The wallet has no {currency} balance.")
    asset = await ledger.resolve_asset(conn, currency)
    opening = (await ledger.balance(conn, account_id, as_of=period_from - JUST_BEFORE)).account
    closing = (await ledger.balance(conn, account_id, as_of=period_to - JUST_BEFORE)).account
    entries = await activity_repository.posted_entries(
        conn,
        ledger_id=opening.ledger_id,
        account_id=account_id,
        wallet_id=wallet.id,
        after_seq=opening.entry_count,
        upto_seq=closing.entry_count,
    )
    statement = Statement(
        holder=holder,
        wallet_id=wallet.id,
        asset=asset,
        period_from=period_from,
        period_to=period_to,
        opening_balance=opening.posted_balance,
        closing_balance=closing.posted_balance,
        lines=statement_lines(entries),
        generated_at=ledger.clock.now(),
    )
    check_statement(statement)
    return statement


def statement_lines(entries: list[dict[str, Any]]) -> list[StatementLine]:
    """One line per ledger transaction (its entries on the account netted), oldest first; a
    payment's fee is shown once, on its first line."""
    groups: list[list[dict[str, Any]]] = []
    for entry in entries:
        if groups and groups[-1][0]["transaction_id"] == entry["transaction_id"]:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    fees_shown: set[str] = set()
    lines = []
    for group in groups:
        first, last = group[0], group[-1]
        net = sum(
            int(e["amount"]) if e["direction"] == "credit" else -int(e["amount"]) for e in group
        )
        fee = 0
        if first["activity_id"] and first["activity_id"] not in fees_shown:
            fees_shown.add(first["activity_id"])
            fee = int(first["fee"] or 0)
        lines.append(
            StatementLine(
                posted_at=first["posted_at"],
                description=describe(first),
                reference=first["payment_id"] or first["transaction_id"],
                amount_in=max(net, 0),
                amount_out=max(-net, 0),
                fee=fee,
                balance=int(last["balance_after"]),
            )
        )
    return lines


def describe(entry: dict[str, Any]) -> str:
    if entry["kind"] is None:
        return str(entry["description"] or "Ledger transaction")
    parts = [KIND_LABELS.get(entry["kind"], entry["kind"])]
    if entry["transaction_kind"] == "reversal":
        parts[0] = f"Reversal of {parts[0].lower()}"
    if entry["counterparty"]:
        parts.append(entry["counterparty"])
    if entry["note"]:
        parts.append(entry["note"])
    return " - ".join(parts)


def check_statement(statement: Statement) -> None:
    """Opening + every line = closing, and each running balance is the one before it plus
    the line; a statement that breaks this is never rendered."""
    running = statement.opening_balance
    for line in statement.lines:
        running += line.amount_in - line.amount_out
        if running != line.balance:
            raise StatementInconsistent(
                f"The running balance after {line.reference} is {running}, "
                f"the ledger says {line.balance}."
            )
    if running != statement.closing_balance:
        raise StatementInconsistent(
            f"Opening plus lines is {running}, the closing balance {statement.closing_balance}."
        )


# --- the PDF ----------------------------------------------------------------------------------

COLUMNS = (("Date", 30.0), ("Description", 70.0), ("In", 22.0), ("Out", 22.0), ("Fee", 16.0))
BALANCE_WIDTH = 30.0
ROW_HEIGHT = 6.0


def money(asset: Asset, minor: int) -> str:
    return f"{asset.to_decimal(minor):,.{asset.scale}f}"


def _latin1(text: str) -> str:
    """The PDF's built-in fonts cover Latin-1; anything else shows as '?' rather than failing."""
    return text.encode("latin-1", "replace").decode("latin-1")


class _StatementPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def render_pdf(statement: Statement) -> bytes:
    pdf = _StatementPDF(format="A4")
    pdf.set_title(f"Statement {statement.wallet_id} {statement.asset.code}")
    pdf.set_creation_date(statement.generated_at)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    _header(pdf, statement)
    _table_head(pdf)
    asset = statement.asset
    pdf.set_font("Helvetica", size=8)
    for line in statement.lines:
        if pdf.will_page_break(ROW_HEIGHT):
            pdf.add_page()
            _table_head(pdf)
            pdf.set_font("Helvetica", size=8)
        _row(
            pdf,
            (
                line.posted_at.strftime("%Y-%m-%d %H:%M"),
                _fit(pdf, line.description, COLUMNS[1][1]),
                money(asset, line.amount_in) if line.amount_in else "",
                money(asset, line.amount_out) if line.amount_out else "",
                money(asset, line.fee) if line.fee else "",
                money(asset, line.balance),
            ),
        )
    _summary(pdf, statement)
    return bytes(pdf.output())


def _header(pdf: FPDF, statement: Statement) -> None:
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 10, "Wallet statement", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    period = f"{statement.period_from:%Y-%m-%d %H:%M} to {statement.period_to:%Y-%m-%d %H:%M} UTC"
    for label, value in (
        ("Account holder", statement.holder),
        ("Wallet", statement.wallet_id),
        ("Currency", statement.asset.code),
        ("Period", period),
        ("Opening balance", money(statement.asset, statement.opening_balance)),
    ):
        pdf.cell(40, 6, f"{label}:")
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _table_head(pdf: FPDF) -> None:
    pdf.set_font("Helvetica", style="B", size=9)
    _row(pdf, (*(title for title, _ in COLUMNS), "Balance"), border="B")


def _row(pdf: FPDF, cells: tuple[str, ...], border: str = "") -> None:
    widths = [width for _, width in COLUMNS] + [BALANCE_WIDTH]
    for index, (text, width) in enumerate(zip(cells, widths, strict=True)):
        align = "L" if index < 2 else "R"
        pdf.cell(width, ROW_HEIGHT, _latin1(text), border=border, align=align)
    pdf.ln(ROW_HEIGHT)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    text = _latin1(text)
    if pdf.get_string_width(text) <= width - 2:
        return text
    while text and pdf.get_string_width(text + "...") > width - 2:
        text = text[:-1]
    return text + "..."


def _summary(pdf: FPDF, statement: Statement) -> None:
    asset = statement.asset
    pdf.ln(4)
    pdf.set_font("Helvetica", size=10)
    for label, value in (
        ("Total in", money(asset, statement.total_in)),
        ("Total out", money(asset, statement.total_out)),
        ("Fees", money(asset, statement.total_fees)),
    ):
        pdf.cell(40, 6, f"{label}:")
        pdf.cell(0, 6, f"{value} {asset.code}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.cell(40, 6, "Closing balance:")
    closing = money(asset, statement.closing_balance)
    pdf.cell(0, 6, f"{closing} {asset.code}", new_x="LMARGIN", new_y="NEXT")
