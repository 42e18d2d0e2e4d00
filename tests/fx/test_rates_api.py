"""Rates through the API: the ECB import (file and URL), manual rates, the settings, the rates
list, and the daily import job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from httpx import AsyncClient

from finhub.fx import tasks
from finhub.fx.endpoints import rates_http_client
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.ledger.service import LedgerService
from finhub.runtime import Runtime, install_runtime
from tests.fx.conftest import MakePerson, StaffApp, ecb_document, scalar, set_rate

IMPORT = "/v1/staff/fx/rates/import-ecb"
SETTINGS = "/v1/staff/fx/settings"
XML = {"Content-Type": "application/xml"}
ECB_URL = "https://rates.example/eurofxref-daily.xml"


@contextmanager
def ecb_served(app: Any, answer: Callable[[httpx.Request], httpx.Response]) -> Iterator[list[str]]:
    """The app fetches rates through a mock transport while the block lasts; yields the URLs
    it fetched."""
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return answer(request)

    async def client() -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mocked:
            yield mocked

    app.dependency_overrides[rates_http_client] = client
    try:
        yield fetched
    finally:
        del app.dependency_overrides[rates_http_client]


def serve(document: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=document)


async def ecb_rows(db: Database, day: date) -> int:
    return int(
        await scalar(
            db, "SELECT count(*) FROM fx_rates WHERE source = 'ecb' AND as_of_date = %s", day
        )
    )


async def test_staff_upload_the_ecb_file_once(app_client: AsyncClient, db: Database) -> None:
    day = date(2003, 3, 3)
    response = await app_client.post(IMPORT, content=ecb_document(day), headers=XML)
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["object"] == "fx_rate_import"
    assert summary["dates"] == [day.isoformat()]
    assert summary["rates"] + len(summary["skipped"]) == 30
    assert summary["stored"] == summary["rates"] == await ecb_rows(db, day)
    again = await app_client.post(IMPORT, content=ecb_document(day), headers=XML)
    assert again.json()["stored"] == 0
    assert await ecb_rows(db, day) == summary["rates"]
    audited = await scalar(
        db, "SELECT count(*) FROM audit_events WHERE action = 'fx.rates_imported'"
    )
    assert audited >= 2


async def test_a_malformed_file_is_refused_and_stores_nothing(
    app_client: AsyncClient, db: Database
) -> None:
    before = await scalar(db, "SELECT count(*) FROM fx_rates")
    broken = ecb_document(date(2003, 3, 4)).replace(b"rate='161.13'", b"rate='161,13'")
    for document in (broken, b"<html>maintenance</html>", b"<Cube"):
        response = await app_client.post(IMPORT, content=document, headers=XML)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_rates_file"
    assert await scalar(db, "SELECT count(*) FROM fx_rates") == before
    wrong_type = await app_client.post(IMPORT, content=b"x", headers={"Content-Type": "text/csv"})
    assert wrong_type.status_code == 415


async def test_import_from_a_url(staff_app: StaffApp, db: Database) -> None:
    day = date(2003, 3, 5)
    with ecb_served(staff_app.app, serve(ecb_document(day))) as fetched:
        response = await staff_app.client.post(IMPORT, json={"url": ECB_URL})
    assert response.status_code == 201, response.text
    assert fetched == [ECB_URL]
    assert response.json()["stored"] == await ecb_rows(db, day) > 0


async def test_a_url_that_fails_stores_nothing(staff_app: StaffApp, db: Database) -> None:
    app, app_client = staff_app.app, staff_app.client
    before = await scalar(db, "SELECT count(*) FROM fx_rates")
    with ecb_served(app, lambda request: httpx.Response(500, text="oops")):
        failed = await app_client.post(IMPORT, json={"url": ECB_URL})
    assert failed.status_code == 502
    assert failed.json()["code"] == "rates_source_unavailable"
    with ecb_served(app, serve(b"<html>not the file</html>")):
        garbage = await app_client.post(IMPORT, json={"url": ECB_URL})
    assert garbage.json()["code"] == "invalid_rates_file"
    bad_url = await app_client.post(IMPORT, json={"url": "file:///etc/passwd"})
    assert bad_url.status_code == 422
    assert await scalar(db, "SELECT count(*) FROM fx_rates") == before


async def test_without_a_url_the_configured_one_is_fetched(staff_app: StaffApp) -> None:
    app, app_client = staff_app.app, staff_app.client
    missing = await app_client.post(IMPORT, json={})
    assert missing.status_code == 422
    assert missing.json()["code"] == "rates_url_missing"
    configured = await app_client.patch(SETTINGS, json={"ecb_url": ECB_URL})
    assert configured.status_code == 200, configured.text
    assert configured.json()["ecb_url"] == ECB_URL
    try:
        with ecb_served(app, serve(ecb_document(date(2003, 3, 6)))) as fetched:
            response = await app_client.post(IMPORT)
        assert response.status_code == 201, response.text
        assert fetched == [ECB_URL]
    finally:
        cleared = await app_client.patch(SETTINGS, json={"ecb_url": None})
        assert cleared.json()["ecb_url"] is None


async def test_the_daily_job_imports_from_the_configured_url(
    db: Database, clock: OffsetClock, app_client: AsyncClient
) -> None:
    day = date(2003, 3, 7)
    install_runtime(Runtime(db=db, clock=clock, ledger=LedgerService(clock)))
    try:
        assert await tasks.import_ecb_rates(timestamp=0) == 0  # no URL configured: no fetch
        handler = serve(ecb_document(day))
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            stored = await tasks.import_from_url(ECB_URL, client)
    finally:
        install_runtime(None)
    assert stored == await ecb_rows(db, day) > 0
    actor = await scalar(
        db,
        "SELECT actor_id FROM audit_events WHERE action = 'fx.rates_imported'"
        " ORDER BY occurred_at DESC LIMIT 1",
    )
    assert actor == "fx.import_ecb_rates"


async def test_staff_set_a_rate_by_hand(
    app_client: AsyncClient, make_person: MakePerson, db: Database
) -> None:
    response = await app_client.put("/v1/staff/fx/rates/EUR/KWD", json={"rate": "0.3210"})
    assert response.status_code == 200, response.text
    assert response.json()["rate"] == "0.321"
    assert response.json()["source"] == "manual"
    person = await make_person()
    listed = await person.client.get("/v1/fx/rates", params={"base": "KWD"})
    assert listed.status_code == 200
    to_eur = next(rate for rate in listed.json()["data"] if rate["quote"] == "EUR")
    assert to_eur["source"] == "manual"
    assert abs(Decimal(to_eur["rate"]) * Decimal("0.3210") - 1) < Decimal("1e-18")
    stored = await scalar(
        db,
        "SELECT rate FROM fx_rates WHERE base = 'EUR' AND quote = 'KWD' AND source = 'manual'"
        " ORDER BY as_of DESC LIMIT 1",
    )
    assert stored == Decimal("0.3210")


async def test_manual_rates_are_checked(app_client: AsyncClient) -> None:
    for path, body, code in (
        ("/v1/staff/fx/rates/EUR/USD", {"rate": "0"}, "validation_error"),
        ("/v1/staff/fx/rates/EUR/USD", {"rate": "-1.2"}, "validation_error"),
        ("/v1/staff/fx/rates/EUR/USD", {"rate": "abc"}, "validation_error"),
        ("/v1/staff/fx/rates/EUR/USD", {"rate": "1.1", "extra": 1}, "validation_error"),
        ("/v1/staff/fx/rates/EUR/EUR", {"rate": "1"}, "same_currency"),
        ("/v1/staff/fx/rates/EUR/ZZZ", {"rate": "1"}, "unknown_asset"),
        ("/v1/staff/fx/rates/EUR/usd", {"rate": "1"}, "validation_error"),
    ):
        response = await app_client.put(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["code"] == code


async def test_people_read_rates_but_only_staff_change_them(
    app_client: AsyncClient, make_person: MakePerson, anonymous_client: AsyncClient
) -> None:
    await set_rate(app_client, "EUR", "USD", "1.0412")
    person = await make_person()
    listed = await person.client.get("/v1/fx/rates")
    assert listed.status_code == 200
    usd = next(rate for rate in listed.json()["data"] if rate["quote"] == "USD")
    assert (usd["base"], usd["rate"], usd["via"]) == ("EUR", "1.0412", None)
    assert (await anonymous_client.get("/v1/fx/rates")).status_code == 401
    for method, path, body in (
        ("PUT", "/v1/staff/fx/rates/EUR/USD", {"rate": "2"}),
        ("POST", IMPORT, {}),
        ("PATCH", SETTINGS, {"spread_bps": 0}),
        ("GET", SETTINGS, None),
    ):
        response = await person.client.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
    again = await person.client.get("/v1/fx/rates")
    assert next(r for r in again.json()["data"] if r["quote"] == "USD")["rate"] == "1.0412"


async def test_settings_are_checked(app_client: AsyncClient) -> None:
    before = (await app_client.get(SETTINGS)).json()
    for body in (
        {"spread_bps": 5001},
        {"spread_bps": -1},
        {"spread_bps": None},
        {"ecb_url": "ftp://rates.example/x.xml"},
        {"other": 1},
    ):
        response = await app_client.patch(SETTINGS, json=body)
        assert response.status_code == 422, body
    assert (await app_client.get(SETTINGS)).json() == before
