"""The installable app: the manifest, the service worker at the site's root, and the offline
page it shows without network; and that the worker never keeps a page or an API answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from tests.web.conftest import VIEWPORTS, PageFactory, PersonFactory
from tests.web.shared_support import check_page, web_client

CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push([name, request.url]);
  }
  return urls;
}"""
OFFLINE_PAGE_TEXT = """async () => {
  const response = await caches.match("/offline");
  return response ? await response.text() : null;
}"""
OFFLINE_PAGE_LANGUAGE = """async () => {
  const response = await caches.match("/offline");
  return response ? response.headers.get("content-language") : null;
}"""


async def offline_page_in(page: Page, language: str, seconds: float = 10) -> None:
    """Wait until the worker keeps the offline page in `language` (it fetches it again when a
    page tells the person's language). `wait_for_function` would not wait for an async check:
    its promise alone counts as true."""
    deadline = asyncio.get_running_loop().time() + seconds
    while await page.evaluate(OFFLINE_PAGE_LANGUAGE) != language:
        assert asyncio.get_running_loop().time() < deadline, f"no offline page in {language}"
        await asyncio.sleep(0.1)


async def controlled(page: Page) -> None:
    """Wait until the service worker is active and controls the page."""
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await page.wait_for_function("navigator.serviceWorker.controller !== null")


# --- the manifest and the worker's script -------------------------------------------------------


async def test_the_manifest_describes_an_installable_app(anonymous_client: AsyncClient) -> None:
    response = await anonymous_client.get("/manifest.webmanifest")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["name"] == manifest["short_name"] == "finhub"
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/dashboard",
        "/",
        "standalone",
    )
    assert manifest["theme_color"] == "#1d4ed8"
    assert manifest["background_color"] == "#ffffff"
    assert [(icon["src"], icon["sizes"]) for icon in manifest["icons"]] == [
        ("/static/img/icon-192.png", "192x192"),
        ("/static/img/icon-512.png", "512x512"),
    ]
    for icon in manifest["icons"]:
        image = await anonymous_client.get(icon["src"])
        assert image.status_code == 200
        assert image.headers["content-type"] == icon["type"] == "image/png"
    home = await anonymous_client.get("/")
    assert '<link rel="manifest" href="/manifest.webmanifest">' in home.text


async def test_the_manifest_speaks_the_browsers_language(anonymous_client: AsyncClient) -> None:
    thai = await anonymous_client.get("/manifest.webmanifest", headers={"accept-language": "th"})
    assert thai.json()["lang"] == "th"
    assert thai.json()["description"].startswith("กระเป๋าเงิน")


async def test_the_worker_is_served_from_the_root_and_keeps_only_static_files(
    anonymous_client: AsyncClient,
) -> None:
    response = await anonymous_client.get("/sw.js")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["cache-control"] == "no-cache"
    first_line, source = response.text.split("\n", 1)
    config = json.loads(first_line.removeprefix("const CONFIG = ").removesuffix(";"))
    assert config["cache"].startswith("finhub-static-")
    assert config["offline"] == "/offline"
    assert config["languages"] == ["en", "zh-Hans", "th"]
    assert "/static/css/app.css?v=" in " ".join(config["precache"])
    for url in config["precache"]:
        assert url.startswith("/static/"), url
        assert (await anonymous_client.get(url)).status_code == 200, url
    assert 'addEventListener("activate"' in source
    assert "caches.delete" in source


# --- the offline page ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_offline_page(open_page: PageFactory, size: str) -> None:
    page = await open_page(viewport=VIEWPORTS[size])
    await page.goto("/offline")

    await expect(page.get_by_role("heading", level=1)).to_have_text("You're offline")
    await expect(page.get_by_role("button", name="Try again")).to_have_attribute(
        "href", "/dashboard"
    )
    await check_page(page, f"pwa-offline-{size}")


async def test_the_offline_page_carries_nothing_of_the_person(
    make_person: PersonFactory, app: Any
) -> None:
    person = await make_person(display_name="Ottoline Offline")
    async with web_client(app, person) as browser:
        page = await browser.get("/offline")

    assert page.status_code == 200
    assert "Ottoline" not in page.text
    assert person.email not in page.text
    assert "/sign-out" not in page.text
    assert 'name="csrf_token" value=""' in page.text


@pytest.mark.parametrize(
    ("ask", "language", "heading"),
    [
        ({"params": {"lang": "th"}}, "th", "คุณออฟไลน์อยู่"),
        ({"headers": {"accept-language": "zh-CN,zh;q=0.9"}}, "zh-Hans", "您已离线"),
    ],
)
async def test_the_offline_page_is_translated(
    anonymous_client: AsyncClient, ask: dict[str, Any], language: str, heading: str
) -> None:
    page = await anonymous_client.get("/offline", **ask)
    assert page.headers["content-language"] == language
    assert f'<html lang="{language}">' in page.text
    assert f"<h1>{heading}</h1>" in page.text


# --- the worker in Chromium ---------------------------------------------------------------------


async def test_without_network_a_page_shows_the_offline_page(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person()
    page = await open_page(person)
    await page.goto("/help")
    await controlled(page)

    await page.context.set_offline(True)
    await page.goto("/dashboard")
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're offline")
    assert urlsplit(page.url).path == "/dashboard"
    await page.goto("/help/tickets")
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're offline")

    await page.context.set_offline(False)
    await page.get_by_role("button", name="Try again").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My support tickets")


async def test_a_page_change_without_network_shows_the_offline_page(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person()
    page = await open_page(person)
    await page.goto("/help/tickets")
    await controlled(page)

    await page.context.set_offline(True)
    await page.locator("main").get_by_role("link", name="Help").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("You're offline")
    await page.context.set_offline(False)


async def test_the_worker_keeps_no_page_but_the_offline_page(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person(display_name="Cassius Cache", balances={"EUR": 123_45})
    page = await open_page(person)
    await page.goto("/help")
    await controlled(page)
    for path in ("/help", "/help/tickets", "/offline", "/exchange"):
        await page.goto(path)
    for url in ("/v1/wallets/me", "/manifest.webmanifest", "/sw.js"):
        status = await page.evaluate(f"fetch('{url}').then((r) => r.status)")
        assert status == 200, url

    cached = await page.evaluate(CACHED_URLS)
    assert cached
    names = {name for name, _ in cached}
    assert len(names) == 1
    assert names.pop().startswith("finhub-static-")
    for _, url in cached:
        parts = urlsplit(url)
        assert parts.path == "/offline" or parts.path.startswith("/static/"), url
        assert parts.path != "/offline" or not parts.query, url
    offline = await page.evaluate(OFFLINE_PAGE_TEXT)
    assert offline is not None
    assert "Cassius" not in offline
    assert person.email not in offline
    assert "123.45" not in offline


async def test_the_offline_page_follows_the_persons_language(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person(locale="th")
    page = await open_page(person)
    await page.goto("/help")
    await controlled(page)
    await offline_page_in(page, "th")

    await page.context.set_offline(True)
    await page.goto("/dashboard")
    await expect(page.get_by_role("heading", level=1)).to_have_text("คุณออฟไลน์อยู่")
    assert await page.get_attribute("html", "lang") == "th"
    await page.context.set_offline(False)
