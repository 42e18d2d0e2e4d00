"""The `finhub` command line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from finhub.audit.cli import app as audit_app
from finhub.config import Settings, get_settings
from finhub.identity.staff.cli import app as staff_app
from finhub.kit.logging import configure_logging
from finhub.notifications.cli import app as mail_app

app = typer.Typer(help="finhub: a self-hostable financial hub.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks against pgbench on the same server.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(bench_app, name="bench")
app.add_typer(staff_app, name="staff", help="Back-office staff accounts.")
app.add_typer(audit_app, name="audit", help="The hash-chained audit trail.")
app.add_typer(mail_app, name="mail", help="The local dev mailbox.")
secret_key_app = typer.Typer(
    help="The key that signs links and seals secrets.", no_args_is_help=True
)
app.add_typer(secret_key_app, name="secret-key")


def cli_settings() -> Settings:
    """Settings for a command, with logging configured (used by every module's commands)."""
    return _settings()


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    return settings


@contextmanager
def database(settings: Settings, *, migrate: bool = True) -> Iterator[str]:
    """The database URL: the configured server, or the embedded one for as long as needed."""
    from finhub.kit.db.embedded import EmbeddedPostgres

    embedded: EmbeddedPostgres | None = None
    if settings.database_url:
        url = settings.database_url
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.start()
    try:
        if migrate:
            _migrate(url)
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


def _migrate(url: str) -> None:
    from finhub.kit.db.migrate import upgrade
    from finhub.worker import ensure_job_schema

    upgrade(url)
    asyncio.run(ensure_job_schema(url))


def _announce_missing_staff(url: str) -> None:
    """Point a new operator at `finhub staff create` until a first staff account exists."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM staff_members").fetchone()
    if row is not None and row[0] == 0:
        typer.secho(
            "\nNo staff account exists yet. Create the first (admin) one with:\n\n"
            "    finhub staff create you@example.com --role admin\n",
            fg=typer.colors.YELLOW,
            err=True,
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API processes.")] = 1,
) -> None:
    """Run the API (and, in embedded mode, the background worker) on http://127.0.0.1:8000."""
    import uvicorn

    settings = _settings()
    _exit_cleanly_on_sigterm()
    with database(settings) as url:
        _announce_missing_staff(url)
        host = host or settings.host
        port = port or settings.port
        typer.secho(f"finhub is serving on http://{host}:{port} (docs at /docs)", err=True)
        if workers == 1:
            uvicorn.run(
                _single_process_app(settings, url),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
            )
        else:
            metrics_dir = settings.data_dir / "metrics"
            metrics_dir.mkdir(parents=True, exist_ok=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
            os.environ["FINHUB_DATABASE_URL"] = url
            os.environ["FINHUB_DATA_DIR"] = str(settings.data_dir.resolve())
            with _job_worker_process(enabled=settings.run_worker_in_process):
                _serve_workers(host, port, workers)


def _serve_workers(host: str, port: int, workers: int) -> None:
    """Several API processes under uvicorn's supervisor, each with its own listening socket
    where the system can spread connections across them (`kit.listeners`)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from finhub.kit import listeners

    options: dict[str, Any] = {
        "factory": True, "host": host, "port": port, "workers": workers,
        "log_config": None, "access_log": False,
    }  # fmt: skip
    if not listeners.AVAILABLE:
        uvicorn.run("finhub.cli:app_from_environment", **options)
        return
    config = uvicorn.Config("finhub.cli:app_from_environment", **options)
    reserved = listeners.PerWorkerListener.reserve(host, port, config.backlog)
    try:
        Multiprocess(config, sockets=[reserved]).run()
    finally:
        reserved.close()


@contextmanager
def _job_worker_process(*, enabled: bool) -> Iterator[None]:
    """With several API processes, background jobs run in one separate `finhub worker`."""
    if not enabled:
        yield
        return
    process = subprocess.Popen([sys.executable, "-m", "finhub.cli", "worker"])
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _exit_cleanly_on_sigterm() -> None:
    """uvicorn handles SIGTERM itself, then re-raises it once it has shut down; with Python's
    default handler that kills the process on the spot. Turning it into SystemExit lets the
    embedded PostgreSQL be stopped on the way out."""

    def exit_on_signal(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_on_signal)


def _single_process_app(settings: Settings, url: str) -> Any:
    from finhub.app import create_app
    from finhub.worker import in_process_worker

    background = None
    if settings.run_worker_in_process:

        def background(container: Any) -> Any:
            return in_process_worker(url, container.db, container.ledger, container.clock)

    return create_app(settings, url, background=background, settle_heap=True)


def app_from_environment() -> Any:
    """Factory for multi-process serving: each process reads the URL the parent resolved."""
    from finhub.app import create_app

    settings = _settings()
    assert settings.database_url, "the parent process sets FINHUB_DATABASE_URL"
    return create_app(settings, settings.database_url, settle_heap=True)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 4,
) -> None:
    """Run background jobs (hold expiry, housekeeping) against the configured database."""
    from finhub.worker import run_worker

    settings = _settings()
    with database(settings) as url:
        asyncio.run(run_worker(url, concurrency=concurrency))


@app.command()
def migrate() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    with database(settings):
        typer.echo("migrations applied")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from the entries and check every transaction balances."""
    from finhub.ledger.verify import run_verify

    settings = _settings()
    with database(settings) as url:
        ok = asyncio.run(run_verify(url))
    raise typer.Exit(0 if ok else 1)


@bench_app.command("ledger")
def bench_ledger(
    seconds: Annotated[float, typer.Option(help="Length of each measured run.")] = 10.0,
    concurrency: Annotated[int, typer.Option(min=2, help="Concurrent clients.")] = 32,
    only: Annotated[
        str,
        typer.Option(help="Comma-separated parts: pgbench,service,hot,http,batch,reads."),
    ] = "pgbench,service,hot,http,batch,reads",
    transactions: Annotated[
        int, typer.Option(min=1_000, help="Transactions loaded for the read measurements.")
    ] = 1_000_000,
    http_workers: Annotated[
        str, typer.Option(help="API worker counts to try for HTTP transfers; the best is shown.")
    ] = "1,2",
) -> None:
    """pgbench references, then finhub's ledger paths, with each figure's ratio."""
    from finhub.bench.context import PARTS
    from finhub.bench.ledger import run_ledger_benchmark

    parts = frozenset(part.strip() for part in only.split(",") if part.strip())
    if not parts or not parts <= set(PARTS):
        raise typer.BadParameter(f"choose among {','.join(PARTS)}", param_hint="--only")
    try:
        workers = tuple(int(count) for count in http_workers.split(",") if count.strip())
    except ValueError:
        workers = ()
    if not workers or min(workers) < 1:
        raise typer.BadParameter("e.g. 1,2", param_hint="--http-workers")
    settings = _settings()
    with database(settings) as url:
        run_ledger_benchmark(
            url,
            settings=settings,
            seconds=seconds,
            concurrency=concurrency,
            only=parts,
            transactions=transactions,
            http_workers=workers,
        )


@bench_app.command("auth")
def bench_auth(
    seconds: Annotated[float, typer.Option(help="Length of each measured run.")] = 10.0,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Sign-in clients and in-process tasks.")
    ] = 8,
) -> None:
    """argon2 cost, sign-ins/s and what authentication adds to a request, next to pgbench."""
    from finhub.bench.auth import run_auth_benchmark

    settings = _settings()
    with database(settings) as url:
        run_auth_benchmark(url, settings, seconds=seconds, concurrency=concurrency)


@bench_app.command("payments")
def bench_payments(
    seconds: Annotated[float, typer.Option(help="Length of each measured run.")] = 10.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent HTTP connections.")] = 32,
    workers: Annotated[
        str, typer.Option(help="API worker counts to try, e.g. 1,2; each is reported.")
    ] = "1,2",
) -> None:
    """P2P payments/s over HTTP next to the ledger's single transfers, on the same server."""
    from finhub.bench.payments import run_payments_benchmark

    try:
        counts = tuple(int(count) for count in workers.split(",") if count.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise typer.BadParameter("e.g. 1,2", param_hint="--workers")
    settings = _settings()
    with database(settings) as url:
        run_payments_benchmark(
            url, settings, seconds=seconds, concurrency=concurrency, workers=counts
        )


@bench_app.command("web")
def bench_web(
    transactions: Annotated[
        int, typer.Option(min=10, help="Payments in the benchmark person's wallet.")
    ] = 10_000,
    requests: Annotated[int, typer.Option(min=1, help="Measured requests per page.")] = 500,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes.")] = 1,
) -> None:
    """Server-side render time of the dashboard and activity pages (p50/p95/p99) for a person
    with many transactions, over HTTP against `finhub serve`."""
    from finhub.bench.web import run_web_benchmark

    settings = _settings()
    with database(settings) as url:
        run_web_benchmark(
            url, settings, transactions=transactions, requests=requests, workers=workers
        )


@secret_key_app.command("reseal")
def secret_key_reseal() -> None:
    """Seal stored secrets (TOTP seeds, webhook signing secrets) again under the current
    secret key, after a rotation with the old key in FINHUB_RETIRED_SECRET_KEYS."""
    from finhub.identity.factors.service import keyring_for, reseal_totp_secrets
    from finhub.kit.db import Database
    from finhub.kit.secrets import load_or_create_secret_key
    from finhub.webhooks.signing import reseal_endpoint_secrets

    settings = _settings()
    current = load_or_create_secret_key(settings.data_dir, settings.secret_key)
    keyring = keyring_for(current, tuple(settings.retired_secret_keys))

    async def reseal(url: str) -> int:
        db = Database(url, min_size=1, max_size=1)
        await db.open()
        try:
            async with db.transaction() as conn:
                totp = await reseal_totp_secrets(conn, keyring)
                return totp + await reseal_endpoint_secrets(conn, keyring)
        finally:
            await db.close()

    with database(settings) as url:
        count = asyncio.run(reseal(url))
    typer.echo(f"{count} secrets sealed again under the current key")


@app.command()
def backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.")]) -> None:
    """Write a consistent backup of all data (pg_dump custom format)."""
    from finhub.kit.db.backup import BackupError, dump

    settings = _settings()
    with database(settings) as url, _reported(BackupError):
        dump(url, file)
    typer.echo(f"backup written to {file}")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `finhub backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Replace the current data.")] = False,
) -> None:
    """Replace all data with a backup (pg_restore)."""
    from finhub.kit.db.backup import BackupError
    from finhub.kit.db.backup import restore as restore_backup

    if not yes:
        typer.secho("restore replaces every row in the database; pass --yes", err=True)
        raise typer.Exit(2)
    settings = _settings()
    with database(settings, migrate=False) as url, _reported(BackupError):
        restore_backup(url, file)
    typer.echo(f"restored from {file}")


@contextmanager
def _reported(error_type: type[Exception]) -> Iterator[None]:
    """Show an expected failure as one clear line and exit 1, not as a traceback."""
    try:
        yield
    except error_type as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error


def main() -> None:
    app()


if __name__ == "__main__":
    main()
