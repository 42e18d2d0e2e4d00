"""The web app's foundation: security headers, CSRF, languages, and a page in Chromium."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.web.conftest import PHONE, PageFactory, PersonFactory, assert_accessible, shoot


async def test_pages_carry_a_strict_content_security_policy(anonymous_client: AsyncClient) -> None:
    response = await anonymous_client.get("/")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "max-age=" in response.headers["strict-transport-security"]
    assert response.headers["cache-control"] == "no-store"
    csrf_cookie = next(h for h in response.headers.get_list("set-cookie") if "fh_csrf=" in h)
    assert "HttpOnly" in csrf_cookie
    assert "SameSite=Strict" in csrf_cookie


async def test_a_form_post_without_its_csrf_token_is_refused(anonymous_client: AsyncClient) -> None:
    await anonymous_client.get("/")
    response = await anonymous_client.post("/language", data={"language": "th"})
    assert response.status_code == 403
    assert "fh_lang" not in response.headers.get("set-cookie", "")


async def test_the_language_switch_changes_the_page_language(
    anonymous_client: AsyncClient,
) -> None:
    page = await anonymous_client.get("/")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = await anonymous_client.post(
        "/language", data={"language": "th", "next": "/", "csrf_token": token}
    )
    assert response.status_code == 303
    thai = await anonymous_client.get("/")
    assert '<html lang="th">' in thai.text


async def test_the_landing_page_renders_in_chromium(open_page: PageFactory, app: Any) -> None:
    page = await open_page(viewport=PHONE)
    await page.goto("/")
    assert await page.title()
    await assert_accessible(page)
    await shoot(page, "foundation-landing-phone")


async def test_the_dark_palette_keeps_its_contrast(
    open_page: PageFactory, make_person: PersonFactory
) -> None:
    person = await make_person(display_name="Nyx Night", balances={"EUR": 120_00})
    for path, viewer in (("/", None), ("/dashboard", person), ("/send", person)):
        page = await open_page(person=viewer, viewport=PHONE)
        await page.emulate_media(color_scheme="dark")
        await page.goto(path)
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background != "rgb(255, 255, 255)"  # the dark palette is in use
        await assert_accessible(page)
        await shoot(page, f"foundation-dark-{path.strip('/') or 'landing'}-phone")
