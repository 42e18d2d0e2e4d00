"""`finhub mail`: read the local dev mailbox (and every message finhub has sent)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from finhub.errors import NotFound
from finhub.kit.db.engine import Row
from finhub.kit.pagination import MAX_LIMIT
from finhub.notifications import mail
from finhub.notifications.repository import MailFilter

app = typer.Typer(no_args_is_help=True)


async def _list(url: str, where: MailFilter, limit: int) -> list[Row]:
    async with await AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return await mail.list_mail(conn, where, limit=limit, starting_after=None)


async def _get(url: str, mail_id: str) -> Row:
    async with await AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return await mail.get_mail(conn, mail_id)


@app.command("list")
def list_mail(
    to: Annotated[str | None, typer.Option("--to", help="Only mail to this address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many to show.")] = 20,
) -> None:
    """The newest messages, one a line: id, time, status, recipient, subject."""
    from finhub.cli import cli_settings, database

    settings = cli_settings()
    with database(settings) as url:
        rows = asyncio.run(_list(url, MailFilter(to_address=to), limit))
    if not rows:
        typer.echo("no mail")
        return
    for row in rows:
        created = row["created_at"].strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(
            f"{row['id']}  {created}  {row['status']:<6}  {row['to_address']}  {row['subject']}"
        )


@app.command()
def show(mail_id: Annotated[str, typer.Argument(help="The message's id (`mail_…`).")]) -> None:
    """Print one message: its headers, then its text (links in it can be followed)."""
    from finhub.cli import cli_settings, database

    settings = cli_settings()
    with database(settings) as url:
        try:
            row = asyncio.run(_get(url, mail_id))
        except NotFound as error:
            typer.secho(str(error), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from error
    typer.echo(_render(row, settings.mail_from))


def _render(row: Row, mail_from: str) -> str:
    lines = [
        f"Id:      {row['id']}",
        f"From:    {mail_from}",
        f"To:      {row['to_address']}",
        f"Subject: {row['subject']}",
        f"Date:    {row['created_at'].isoformat()}",
        f"Tag:     {row['tag']}",
        f"Status:  {row['status']} ({row['attempts']} attempts)",
    ]
    if row["last_error"]:
        lines.append(f"Error:   {row['last_error']}")
    lines += ["", row["text_body"].rstrip("\n")]
    if row["html_body"]:
        lines += ["", f"(an HTML version of {len(row['html_body'])} characters is attached)"]
    return "\n".join(lines)
