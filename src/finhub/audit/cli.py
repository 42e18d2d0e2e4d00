"""`finhub audit`: verify the hash chain and print its head for safekeeping."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from finhub.audit.verify import Anchor, ChainReport, current_head, verify_chain
from finhub.kit.db.engine import Connection

app = typer.Typer(no_args_is_help=True)


async def _connect(url: str) -> Connection:
    return await AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def _verify(url: str, anchor: Anchor | None) -> ChainReport:
    async with await _connect(url) as conn:
        return await verify_chain(conn, anchor)


async def _head(url: str) -> Anchor:
    async with await _connect(url) as conn:
        return await current_head(conn)


def _parse_anchor(value: str | None) -> Anchor | None:
    if value is None:
        return None
    try:
        return Anchor.parse(value)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--expect-head") from error


@app.command()
def verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head printed earlier by `finhub audit head`; fails if that record is "
            "gone or differs (catches a cut-off tail).",
        ),
    ] = None,
) -> None:
    """Walk the whole audit chain; exit 1 naming the first broken record."""
    from finhub.cli import cli_settings, database

    anchor = _parse_anchor(expect_head)
    settings = cli_settings()
    with database(settings) as url:
        report = asyncio.run(_verify(url, anchor))
    if not report.intact:
        typer.secho(
            f"audit chain broken at seq {report.broken_seq}: {report.reason} "
            f"({report.checked} records before it verified)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {report.checked} records, head {report.head}")


@app.command()
def head() -> None:
    """Print the chain's head as SEQ:HASH; keep it elsewhere and pass it to
    `finhub audit verify --expect-head` later."""
    from finhub.cli import cli_settings, database

    settings = cli_settings()
    with database(settings) as url:
        anchor = asyncio.run(_head(url))
    typer.echo(str(anchor))
