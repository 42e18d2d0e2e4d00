"""`finhub staff`: create the first (and any later) staff account from the command line, and
list them. The new member's authenticator is set up on the spot: the command prints the
`otpauth://` URI, a QR code for the terminal and the secret, once."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from finhub.errors import FinhubError

if TYPE_CHECKING:
    from finhub.config import Settings
    from finhub.identity.staff.repository import StaffRow
    from finhub.identity.staff.service import NewMember

app = typer.Typer(no_args_is_help=True)


@app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="The staff member's email address.")],
    role: Annotated[
        list[str],
        typer.Option("--role", help="support, compliance, operations or admin (repeatable)."),
    ],
    name: Annotated[
        str | None, typer.Option(help="Display name (default: from the email).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a staff member with a password and an authenticator app (TOTP)."""
    from finhub.cli import cli_settings, database

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = cli_settings()
    display_name = name or email.partition("@")[0]
    with database(settings) as url:
        try:
            created = asyncio.run(_create(url, settings, email, display_name, role, password))
        except FinhubError as error:
            typer.secho(f"error: {error.detail or error.title}", err=True, fg="red")
            raise typer.Exit(1) from error
    from finhub.identity.factors.totp import terminal_qr

    member, totp = created.member, created.totp
    assert totp is not None
    typer.echo(
        f"Created staff member {member.id} ({member.email}); roles: {', '.join(member.roles)}"
    )
    typer.echo("\nScan this with an authenticator app (shown only now):\n")
    typer.echo(terminal_qr(totp.provisioning.uri))
    typer.echo(f"otpauth URI: {totp.provisioning.uri}")
    typer.echo(f"Secret:      {totp.provisioning.secret}")


async def _create(
    url: str, settings: Settings, email: str, display_name: str, roles: list[str], password: str
) -> NewMember:
    from finhub.audit.service import AuditContext
    from finhub.identity.factors.crypto import Keyring
    from finhub.identity.factors.service import FactorDeps
    from finhub.identity.staff.service import create_member
    from finhub.kit.clock import SystemClock
    from finhub.kit.db import Database
    from finhub.kit.secrets import load_or_create_secret_key
    from finhub.kit.throttle import Throttle
    from finhub.notifications.mail import Mailer

    db = Database(url, min_size=1, max_size=2)
    await db.open()
    try:
        deps = FactorDeps(
            settings,
            Keyring(load_or_create_secret_key(settings.data_dir, settings.secret_key)),
            Throttle(db),
            Mailer(db, settings),
        )
        async with db.transaction() as conn:
            created = await create_member(
                conn,
                deps,
                AuditContext.system("cli"),
                email=email,
                display_name=display_name,
                roles=roles,
                password=password,
                now=SystemClock().now(),
            )
    finally:
        await db.close()
    return created


@app.command("list")
def list_members() -> None:
    """List staff members."""
    from finhub.cli import cli_settings, database

    settings = cli_settings()
    with database(settings) as url:
        rows = asyncio.run(_list(url))
    if not rows:
        typer.echo("No staff members yet.")
    for row in rows:
        typer.echo(f"{row.id}  {row.email:<40} {row.status:<9} {','.join(sorted(row.roles))}")


async def _list(url: str) -> list[StaffRow]:
    from finhub.identity.staff import repository
    from finhub.kit.db import Database

    db = Database(url, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.connection() as conn:
            return await repository.page(conn, limit=10_000, starting_after=None)
    finally:
        await db.close()
