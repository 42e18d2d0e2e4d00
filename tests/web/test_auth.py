"""The public pages and signing in: landing, sign-up, email verification, sign-in with a
password, a second factor or a passkey, sign-out, password reset and the first-run tour."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from httpx import ASGITransport, AsyncClient
from playwright.async_api import Page, Route, expect

from finhub.config import Settings
from finhub.identity import passwords
from finhub.identity.consents import MARKETING_VERSION, PRIVACY_VERSION, TERMS_VERSION
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from tests.factories import create_user, session_token
from tests.identity.factors.authenticator import SoftAuthenticator
from tests.identity.factors.support import client_for, enable_totp
from tests.identity.people.support import link_token, mails_to, unique_email, unique_ip
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    assert_accessible,
    shoot,
)
from tests.web.shared_support import csrf_of

PASSWORD = "correct horse battery staple 42"
NEW_PASSWORD = "a quiet lake under purple sky"


# --- helpers ----------------------------------------------------------------------------------


async def person_with_password(
    db: Database, *, display_name: str = "Grace Hopper", password: str = PASSWORD
) -> tuple[str, str]:
    """(user id, email) of an active person who signs in with `password`."""
    email = unique_email("web")
    hashed = await passwords.hash_password(password)
    async with db.transaction() as conn:
        user_id = await create_user(
            conn, email=email, password_hash=hashed, display_name=display_name
        )
    return user_id, email


async def person_with_totp(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> tuple[str, str, list[str]]:
    """(email, TOTP secret, recovery codes) of a person with an authenticator app set up."""
    user_id, email = await person_with_password(db)
    async with db.transaction() as conn:
        token = await session_token(conn, user_id=user_id, aal=1, settings=settings, clock=clock)
    async with client_for(app, token) as client:
        secret, codes = await enable_totp(client, clock)
    return email, secret, codes


@asynccontextmanager
async def web_client(app: Any) -> AsyncIterator[AsyncClient]:
    """A browser-like client from an address of its own (throttles of one test stay there)."""
    transport = ASGITransport(app=app, client=(unique_ip(), 40000))
    async with AsyncClient(transport=transport, base_url="http://finhub.test") as client:
        yield client


async def csrf_for(client: AsyncClient, path: str = "/sign-in") -> str:
    """The CSRF token of the form on `path`, as the client sees the page."""
    return csrf_of(await client.get(path))


async def web_sign_in(
    client: AsyncClient, email: str, password: str = PASSWORD, next_path: str = ""
) -> Any:
    token = await csrf_for(client)
    return await client.post(
        "/sign-in",
        data={"email": email, "password": password, "next": next_path, "csrf_token": token},
    )


def local_link(url: str) -> str:
    """A mailed link (on the public URL) as a path on the server under test."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def mailed_link(db: Database, email: str, tag: str, path: str) -> str:
    return f"{path}?token={await link_token(db, email, tag, path)}"


async def follow_to_stand_in(page: Page, path: str) -> list[str]:
    """Answers POSTs to `path` with a stand-in page instead of following their redirect, and
    returns the list the redirect targets are collected in. Flows that end on the dashboard
    (another page group's page) are checked this way without depending on it."""
    targets: list[str] = []
    body = '<!doctype html><html lang="en"><title>Home</title><main><h1>Home</h1></main></html>'

    async def answer(route: Route) -> None:
        response = await route.fetch(max_redirects=0)  # cookies it sets reach the context
        targets.append(response.headers.get("location", ""))
        await route.fulfill(body=body, content_type="text/html")

    await page.route(f"**{path}", answer)
    return targets


async def cookie_names(page: Page) -> dict[str, dict[str, Any]]:
    return {cookie["name"]: dict(cookie) for cookie in await page.context.cookies()}


async def user_row(db: Database, email: str) -> dict[str, Any] | None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, status, display_name FROM users WHERE email_normalized = %s",
            (email.lower(),),
        )
        return await cursor.fetchone()


# --- every page at phone and desktop size -----------------------------------------------------

PAGES = [
    ("landing", "/", "Your money, in one place"),
    ("sign-up", "/sign-up", "Open an account"),
    ("check-email", "/sign-up/check-email", "Check your email"),
    ("verify-email", "/verify-email?token=not-a-real-token", "Confirm your email address"),
    ("sign-in", "/sign-in", "Sign in"),
    ("forgot-password", "/forgot-password", "Reset your password"),
    ("forgot-password-sent", "/forgot-password/sent", "Check your email"),
    ("reset-password", "/reset-password?token=not-a-real-token", "Choose a new password"),
]


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize(("name", "path", "heading"), PAGES, ids=[p[0] for p in PAGES])
async def test_public_pages_render_accessibly(
    open_page: PageFactory, size: str, name: str, path: str, heading: str
) -> None:
    page = await open_page(viewport=VIEWPORTS[size])
    await page.goto(path)
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await assert_accessible(page)
    await shoot(page, f"auth-{name}-{size}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["width"], "the page scrolls sideways"


async def test_the_landing_page_explains_finhub_and_invites_to_sign_up(
    open_page: PageFactory,
) -> None:
    page = await open_page(viewport=PHONE)
    await page.goto("/")
    main = page.locator("main")
    for topic in ("One wallet, many currencies", "Send, request, scan", "Exchange", "Security"):
        await expect(main.get_by_role("heading", name=topic)).to_be_visible()
    await main.get_by_role("button", name="Open a free account").first.click()
    await expect(page).to_have_url(re.compile(r"/sign-up$"))


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_the_welcome_tour(
    open_page: PageFactory, make_person: PersonFactory, size: str
) -> None:
    person = await make_person(display_name="Ada Lovelace")
    page = await open_page(person, viewport=VIEWPORTS[size])
    finished = await follow_to_stand_in(page, "/welcome/done")
    await page.goto("/welcome")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Welcome to finhub, Ada Lovelace"
    )
    await expect(page.get_by_text("Step 1 of 4")).to_be_visible()
    await expect(page.get_by_text("Euro")).to_be_visible()  # the home currency
    await assert_accessible(page)
    await shoot(page, f"auth-welcome-{size}")
    for title in ("Add money", "Turn on two-step verification", "Send and request money"):
        await page.get_by_role("button", name="Next").click()
        await expect(page.get_by_role("heading", level=2)).to_have_text(title)
    await expect(page.get_by_role("button", name="Skip the tour")).to_have_count(0)
    await assert_accessible(page)
    await page.get_by_role("button", name="Go to my wallet").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    assert finished == ["/dashboard"]
    assert "fh_toured" in await cookie_names(page)


async def test_the_tour_can_be_skipped(open_page: PageFactory, make_person: PersonFactory) -> None:
    person = await make_person()
    page = await open_page(person, viewport=PHONE)
    skipped = await follow_to_stand_in(page, "/welcome/done")
    await page.goto("/welcome")
    await page.get_by_role("button", name="Skip the tour").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    assert skipped == ["/dashboard"]
    assert "fh_toured" in await cookie_names(page)


@pytest.mark.parametrize(("language", "heading"), [("th", "เข้าสู่ระบบ"), ("zh-Hans", "登录")])
async def test_sign_in_speaks_the_visitors_language(app: Any, language: str, heading: str) -> None:
    async with web_client(app) as client:
        client.cookies.set("fh_lang", language)
        page = await client.get("/sign-in")
    assert f'<html lang="{language}">' in page.text
    assert f"<h1>{heading}</h1>" in page.text


@pytest.mark.parametrize(
    ("language", "heading"), [("th", "เปิดบัญชี"), ("zh-Hans", "开户")], ids=["th", "zh-Hans"]
)
async def test_sign_up_in_thai_and_chinese_fits_a_phone(
    open_page: PageFactory, live_server: str, language: str, heading: str
) -> None:
    page = await open_page(viewport=PHONE)
    await page.context.add_cookies([{"name": "fh_lang", "value": language, "url": live_server}])
    await page.goto("/sign-up")
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await assert_accessible(page)
    await shoot(page, f"auth-sign-up-{language}-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


# --- sign-up, verification and the first sign-in ----------------------------------------------


async def test_sign_up_verify_sign_in_and_welcome(open_page: PageFactory, db: Database) -> None:
    email = unique_email("journey")
    page = await open_page(viewport=PHONE)
    await page.goto("/sign-up")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Your name").fill("Katherine Johnson")
    await page.locator("#f-password").fill(PASSWORD)
    await page.get_by_label("I accept the terms of service").check()
    await page.get_by_label("I accept the privacy policy").check()
    await page.get_by_label("Send me news and offers").check()
    await page.get_by_role("button", name="Open my account").click()

    await expect(page).to_have_url(re.compile(r"/sign-up/check-email$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    await expect(page.locator("main")).to_contain_text(email)
    user = await user_row(db, email)
    assert user is not None
    assert user["status"] == "pending_verification"
    await _assert_consents(db, user["id"])

    link = await mailed_link(db, email, "auth.verify_email", "/verify-email")
    await page.goto(link)
    await page.get_by_role("button", name="Confirm my email address").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    await assert_accessible(page)
    await shoot(page, "auth-verify-email-verified-phone")
    user = await user_row(db, email)
    assert user is not None
    assert user["status"] == "active"

    await page.locator("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/sign-in$"))
    await page.get_by_label("Email address").fill(email)
    await page.locator("#f-password").fill(PASSWORD)
    await page.locator("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/welcome$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Welcome to finhub, Katherine Johnson"
    )
    cookies = await cookie_names(page)
    assert cookies["fh_session"]["httpOnly"]
    assert "fh_device" in cookies
    assert "fh_welcome" not in cookies  # the tour is offered once


async def _assert_consents(db: Database, user_id: str) -> None:
    async with db.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind, version, granted FROM consents WHERE user_id = %s ORDER BY kind",
            (user_id,),
        )
        rows = await cursor.fetchall()
    assert rows == [
        {"kind": "marketing", "version": MARKETING_VERSION, "granted": True},
        {"kind": "privacy", "version": PRIVACY_VERSION, "granted": True},
        {"kind": "terms", "version": TERMS_VERSION, "granted": True},
    ]


async def test_sign_up_shows_errors_next_to_the_fields(
    open_page: PageFactory, db: Database
) -> None:
    email = unique_email("weak")
    page = await open_page(viewport=DESKTOP)
    await page.goto("/sign-up")
    await page.get_by_label("Email address").fill(email)
    await page.locator("#f-password").fill("password1234")
    await page.get_by_role("button", name="Open my account").click()

    terms = page.get_by_label("I accept the terms of service")
    await expect(terms).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-accept_terms")).to_have_text(
        "Accept the terms of service to open an account."
    )
    await expect(page.locator("#e-accept_privacy")).to_be_visible()
    await expect(page.get_by_label("Email address")).to_have_value(email)

    await page.locator("#f-password").fill("password1234")
    await terms.check()
    await page.get_by_label("I accept the privacy policy").check()
    await page.get_by_role("button", name="Open my account").click()
    password = page.locator("#f-password")
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-password")).to_have_text(
        "This password is too common. Choose one that is hard to guess."
    )
    await assert_accessible(page)
    await shoot(page, "auth-sign-up-errors-desktop")
    assert await user_row(db, email) is None


async def test_a_password_with_the_name_in_it_is_refused(app: Any, db: Database) -> None:
    email = unique_email("named")
    async with web_client(app) as client:
        token = await csrf_for(client, "/sign-up")
        response = await client.post(
            "/sign-up",
            data={
                "email": email,
                "display_name": "Margaret Hamilton",
                "password": "margaret hamilton rocks",
                "accept_terms": "yes",
                "accept_privacy": "yes",
                "terms_version": TERMS_VERSION,
                "privacy_version": PRIVACY_VERSION,
                "csrf_token": token,
            },
        )
    assert response.status_code == 422
    assert "Don&#39;t use your name or email in your password." in response.text
    assert await user_row(db, email) is None


async def test_signing_up_with_a_taken_address_looks_the_same(app: Any, db: Database) -> None:
    _, email = await person_with_password(db)
    async with web_client(app) as client:
        token = await csrf_for(client, "/sign-up")
        response = await client.post(
            "/sign-up",
            data={
                "email": email,
                "password": NEW_PASSWORD,
                "accept_terms": "yes",
                "accept_privacy": "yes",
                "terms_version": TERMS_VERSION,
                "privacy_version": PRIVACY_VERSION,
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-up/check-email"
        assert email not in response.headers["location"]
        page = await client.get("/sign-up/check-email")
    assert "If " + email + " can be used for a new account" in page.text
    assert await mails_to(db, email, "auth.sign_up_existing")


async def test_outdated_terms_ask_for_a_reload(app: Any) -> None:
    async with web_client(app) as client:
        token = await csrf_for(client, "/sign-up")
        response = await client.post(
            "/sign-up",
            data={
                "email": unique_email("terms"),
                "password": PASSWORD,
                "accept_terms": "yes",
                "accept_privacy": "yes",
                "terms_version": "2001-01-01",
                "privacy_version": PRIVACY_VERSION,
                "csrf_token": token,
            },
        )
    assert response.status_code == 422
    assert "The terms changed while you were signing up. Reload the page." in response.text


async def test_opening_the_link_does_not_use_it_up(app: Any, db: Database) -> None:
    email = unique_email("prefetch")
    async with web_client(app) as client:
        token = await csrf_for(client, "/sign-up")
        await client.post(
            "/sign-up",
            data={
                "email": email,
                "password": PASSWORD,
                "accept_terms": "yes",
                "accept_privacy": "yes",
                "csrf_token": token,
            },
        )
        link = await mailed_link(db, email, "auth.verify_email", "/verify-email")
        shown = await client.get(link)
        assert shown.status_code == 200
        assert 'action="/verify-email"' in shown.text
        user = await user_row(db, email)
        assert user is not None
        assert user["status"] == "pending_verification"
        verified = await client.post(
            "/verify-email",
            data={"token": link.split("token=")[1], "csrf_token": csrf_of(shown)},
        )
    assert verified.status_code == 200
    assert "Email address confirmed" in verified.text
    assert "fh_welcome=1" in verified.headers["set-cookie"]
    user = await user_row(db, email)
    assert user is not None
    assert user["status"] == "active"


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_a_used_or_broken_link_explains_and_offers_a_new_one(
    open_page: PageFactory, size: str
) -> None:
    page = await open_page(viewport=VIEWPORTS[size])
    await page.goto("/verify-email?token=broken")
    await page.get_by_role("button", name="Confirm my email address").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link didn't work")
    await expect(page.get_by_role("alert")).to_contain_text("This link is not valid")
    await expect(page.get_by_role("button", name="Send a new link")).to_be_visible()
    await assert_accessible(page)
    await shoot(page, f"auth-verify-email-failed-{size}")


async def test_a_new_link_can_be_asked_for(open_page: PageFactory, db: Database) -> None:
    email = unique_email("lost")
    hashed = await passwords.hash_password(PASSWORD)
    async with db.transaction() as conn:
        await create_user(conn, email=email, password_hash=hashed, status="pending_verification")
    page = await open_page(viewport=PHONE)
    await page.goto("/verify-email")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Send a new link").click()
    await expect(page).to_have_url(re.compile(r"/sign-up/check-email$"))
    await expect(page.locator(".flash")).to_contain_text("a new link is on its way")
    await expect(page.locator("main")).to_contain_text(email)
    assert len(await mails_to(db, email, "auth.verify_email")) == 1


# --- signing in -------------------------------------------------------------------------------


async def test_a_wrong_password_shows_an_error_and_opens_no_session(
    open_page: PageFactory, db: Database
) -> None:
    _, email = await person_with_password(db)
    page = await open_page(viewport=PHONE)
    await page.goto("/sign-in")
    await page.get_by_label("Email address").fill(email)
    await page.locator("#f-password").fill("not the right password")
    await page.locator("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("alert").first).to_have_text(
        "That email and password don't match an account."
    )
    await expect(page.get_by_label("Email address")).to_have_value(email)
    await assert_accessible(page)
    await shoot(page, "auth-sign-in-wrong-password-phone")
    assert "fh_session" not in await cookie_names(page)


@pytest.mark.parametrize("size", VIEWPORTS)
async def test_sign_in_with_an_authenticator_app(
    open_page: PageFactory,
    app: Any,
    db: Database,
    settings: Settings,
    clock: OffsetClock,
    size: str,
) -> None:
    email, secret, _ = await person_with_totp(app, db, settings, clock)
    page = await open_page(viewport=VIEWPORTS[size])
    await page.goto("/sign-in?next=/welcome%3Fstep%3D3")
    await page.get_by_label("Email address").fill(email)
    await page.locator("#f-password").fill(PASSWORD)
    await page.locator("main").get_by_role("button", name="Sign in", exact=True).click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")
    assert "fht_" not in page.url
    assert "challenge" not in page.url
    cookies = await cookie_names(page)
    assert "fh_session" not in cookies
    challenge = cookies["fh_challenge"]
    assert challenge["httpOnly"]
    assert challenge["sameSite"] == "Strict"
    assert challenge["path"] == "/sign-in"
    await assert_accessible(page)
    await shoot(page, f"auth-second-factor-{size}")

    code = page.get_by_label("Code from your authenticator app")
    wrong = f"{(int(pyotp.TOTP(secret).at(clock.now())) + 1) % 1_000_000:06d}"
    await code.fill(wrong)
    await page.get_by_role("button", name="Verify and sign in").click()
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-code")).to_have_text(
        "That code is not right. Try the current code."
    )
    assert "fh_session" not in await cookie_names(page)

    await code.fill(pyotp.TOTP(secret).at(clock.now()))
    await page.get_by_role("button", name="Verify and sign in").click()
    await expect(page).to_have_url(re.compile(r"/welcome\?step=3$"))
    await expect(page.get_by_role("heading", level=2)).to_have_text("Turn on two-step verification")
    await expect(page.get_by_text("Two-step verification is on.")).to_be_visible()
    cookies = await cookie_names(page)
    assert "fh_session" in cookies
    assert "fh_challenge" not in cookies


async def test_sign_in_with_a_recovery_code(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    email, _, codes = await person_with_totp(app, db, settings, clock)
    async with web_client(app) as client:
        started = await web_sign_in(client, email, next_path="/activity")
        assert started.status_code == 303
        assert started.headers["location"] == "/sign-in/second-factor?next=/activity"
        token = await csrf_for(client, started.headers["location"])
        done = await client.post(
            "/sign-in/second-factor",
            data={
                "method": "recovery_code",
                "recovery_code": codes[0],
                "next": "/activity",
                "csrf_token": token,
            },
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/activity"
        assert client.cookies.get("fh_session")
        assert (await client.get("/sign-in")).headers["location"] == "/dashboard"


async def _second_step(client: AsyncClient, email: str) -> str:
    """Signs in with the password; the CSRF token of the second step's form."""
    started = await web_sign_in(client, email)
    assert started.headers["location"] == "/sign-in/second-factor"
    return await csrf_for(client, started.headers["location"])


async def test_a_second_factor_lockout_sends_back_to_the_password(
    app: Any, db: Database, settings: Settings, clock: OffsetClock
) -> None:
    email, secret, _ = await person_with_totp(app, db, settings, clock)
    current = int(pyotp.TOTP(secret).at(clock.now()))
    async with web_client(app) as client:
        token = await _second_step(client, email)
        for attempt in range(1, 6):
            wrong = f"{(current + 500 + attempt) % 1_000_000:06d}"
            refused = await client.post(
                "/sign-in/second-factor", data={"code": wrong, "csrf_token": token}
            )
            assert refused.status_code == 422
        ended = await client.post(
            "/sign-in/second-factor", data={"code": "123456", "csrf_token": token}
        )
        assert ended.status_code == 303
        assert ended.headers["location"] == "/sign-in"
        assert "This sign-in attempt has ended." in (await client.get("/sign-in")).text

        token = await _second_step(client, email)
        right = pyotp.TOTP(secret).at(clock.now())
        locked = await client.post(
            "/sign-in/second-factor", data={"code": right, "csrf_token": token}
        )
    assert locked.status_code == 422
    assert "<h1>Sign in</h1>" in locked.text
    assert "Too many attempts, so this is paused for now." in locked.text
    assert 'fh_challenge=""' in locked.headers["set-cookie"]
    assert "fh_session" not in client.cookies


async def test_the_second_step_without_a_challenge_starts_again(app: Any) -> None:
    async with web_client(app) as client:
        response = await client.get("/sign-in/second-factor")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"


async def test_a_lockout_is_explained(app: Any, db: Database) -> None:
    _, email = await person_with_password(db)
    async with web_client(app) as client:
        for _ in range(5):
            await web_sign_in(client, email, "wrong password, again and again")
        locked = await web_sign_in(client, email)
    assert locked.status_code == 422
    assert "Too many attempts, so this is paused for now. Try again in 1 minute." in locked.text
    assert "fh_session" not in client.cookies


async def test_an_unverified_address_is_offered_a_new_link(app: Any, db: Database) -> None:
    email = unique_email("pending")
    hashed = await passwords.hash_password(PASSWORD)
    async with db.transaction() as conn:
        await create_user(conn, email=email, password_hash=hashed, status="pending_verification")
    async with web_client(app) as client:
        response = await web_sign_in(client, email)
    assert response.status_code == 422
    assert "Verify your email address first" in response.text
    assert 'action="/verify-email/resend"' in response.text


async def test_sign_in_honours_a_local_next_and_ignores_others(app: Any, db: Database) -> None:
    _, email = await person_with_password(db)
    async with web_client(app) as client:
        form = await client.get("/sign-in", params={"next": "https://evil.example/steal"})
        assert "evil.example" not in form.text
        for hostile in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
            response = await web_sign_in(client, email, next_path=hostile)
            assert response.status_code == 303
            assert response.headers["location"] in ("/dashboard", "/welcome")
            client.cookies.delete("fh_session")
        local = await web_sign_in(client, email, next_path="/activity?kind=p2p")
    assert local.headers["location"] == "/activity?kind=p2p"


async def test_an_ended_session_in_the_browser_does_not_block_signing_in(
    app: Any, db: Database
) -> None:
    _, email = await person_with_password(db)
    async with web_client(app) as client:
        client.cookies.set("fh_session", "fhs_ended-long-ago")
        response = await web_sign_in(client, email, next_path="/activity")
    assert response.status_code == 303
    assert response.headers["location"] == "/activity"
    new_session = [c for c in response.headers.get_list("set-cookie") if "fh_session=" in c]
    assert new_session
    assert "fh_session=fhs_ended-long-ago" not in new_session[0]


async def test_a_sign_in_post_without_its_csrf_token_is_refused(app: Any, db: Database) -> None:
    _, email = await person_with_password(db)
    async with web_client(app) as client:
        await client.get("/sign-in")
        response = await client.post("/sign-in", data={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert "fh_session" not in response.headers.get("set-cookie", "")


async def test_sign_in_with_a_passkey(app: Any, db: Database, settings: Settings) -> None:
    user_id, _ = await person_with_password(db)
    device = SoftAuthenticator("http://finhub.test")
    async with db.transaction() as conn:
        token = await session_token(conn, user_id=user_id, aal=1, settings=settings)
    async with client_for(app, token) as owner:
        options = await owner.post("/v1/me/passkeys/registration-options")
        credential = device.create(options.json()["public_key"])
        registered = await owner.post("/v1/me/passkeys", json={"credential": credential})
        assert registered.status_code == 201, registered.text
    async with web_client(app) as client:
        headers = {"X-CSRF-Token": await csrf_for(client)}
        offered = await client.post("/sign-in/passkey/options", headers=headers, json={})
        assert offered.status_code == 200, offered.text
        assertion = device.get(offered.json()["public_key"])
        body = {"credential": assertion, "next": "/activity"}
        signed_in = await client.post("/sign-in/passkey", headers=headers, json=body)
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json() == {"redirect": "/activity"}
        assert client.cookies.get("fh_session")
        client.cookies.delete("fh_session")  # the CSRF token is bound to the session
        replayed = await client.post("/sign-in/passkey", headers=headers, json=body)
    assert replayed.status_code == 400
    assert replayed.json()["error"]


async def test_passkey_endpoints_need_the_csrf_token(app: Any) -> None:
    async with web_client(app) as client:
        await client.get("/sign-in")
        response = await client.post("/sign-in/passkey/options", json={})
    assert response.status_code == 403


# --- landing, sign-out ------------------------------------------------------------------------


async def test_a_signed_in_person_skips_the_landing_page(
    app: Any, make_person: PersonFactory
) -> None:
    person = await make_person()
    async with web_client(app) as client:
        client.cookies.set("fh_session", person.token)
        signed_in = await client.get("/")
        client.cookies.set("fh_session", "fhs_not-a-session")
        stale = await client.get("/")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/dashboard"
    assert stale.status_code == 200


async def test_sign_out_ends_the_session(
    open_page: PageFactory, app: Any, make_person: PersonFactory
) -> None:
    person = await make_person()
    page = await open_page(person, viewport=DESKTOP)
    await page.goto("/welcome")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.locator(".flash")).to_have_text("You're signed out.")
    assert "fh_session" not in await cookie_names(page)
    async with client_for(app, person.token) as client:
        assert (await client.get("/v1/me")).status_code == 401


# --- password reset ---------------------------------------------------------------------------


async def test_password_reset_end_to_end(open_page: PageFactory, app: Any, db: Database) -> None:
    _, email = await person_with_password(db, display_name="Dorothy Vaughan")
    page = await open_page(viewport=PHONE)
    await page.goto("/sign-in")
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Send reset link").click()
    await expect(page).to_have_url(re.compile(r"/forgot-password/sent$"))
    await expect(page.get_by_role("status")).to_contain_text("If the address has an account")

    await page.goto(await mailed_link(db, email, "auth.password_reset", "/reset-password"))
    new_password = page.locator("#f-new_password")
    await new_password.fill("dorothy vaughan 1910")
    await page.get_by_role("button", name="Save new password").click()
    await expect(new_password).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-new_password")).to_have_text(
        "Don't use your name or email in your password."
    )
    await shoot(page, "auth-reset-password-error-phone")

    await new_password.fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Save new password").click()
    await expect(page).to_have_url(re.compile(r"/sign-in$"))
    await expect(page.locator(".flash")).to_contain_text("Your password is changed.")
    await page.get_by_label("Email address").fill(email)
    await page.locator("#f-password").fill(NEW_PASSWORD)
    await page.locator("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/(welcome|dashboard)$"))
    assert "fh_session" in await cookie_names(page)

    async with web_client(app) as client:
        old = await web_sign_in(client, email, PASSWORD)
    assert old.status_code == 422


async def test_a_used_reset_link_asks_for_a_new_one(app: Any, db: Database) -> None:
    async with web_client(app) as client:
        token = await csrf_for(client, "/reset-password?token=used-or-made-up")
        response = await client.post(
            "/reset-password",
            data={"token": "used-or-made-up", "new_password": NEW_PASSWORD, "csrf_token": token},
        )
        bare = await client.get("/reset-password")
    assert response.status_code == 422
    assert "This link is not valid or has expired." in response.text
    assert 'href="/forgot-password"' in response.text
    assert bare.status_code == 303
    assert bare.headers["location"] == "/forgot-password"
