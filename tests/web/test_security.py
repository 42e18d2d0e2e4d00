"""Security settings in the browser: every page at phone and desktop size, the authenticator
app set-up with its recovery codes, the password change, API keys behind step-up, devices, the
payment PIN and a passkey made by a virtual authenticator."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from httpx import AsyncClient
from playwright.async_api import Dialog, Page, expect

from finhub.config import Settings
from finhub.identity import sessions
from finhub.identity.passwords import hash_password
from finhub.kit.clock import OffsetClock
from finhub.kit.db import Database
from finhub.web.pages.security import device_name
from tests.factories import LONG_SESSIONS
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    PageFactory,
    PersonFactory,
    WebPerson,
    assert_accessible,
)
from tests.web.shared_support import (
    PIN,
    answer_step_up,
    api,
    api_client,
    check_page,
    csrf_of,
    make_step_up_stale,
    set_pin,
    web_client,
)

PAGES = {
    "overview": ("/settings/security", "Security"),
    "password": ("/settings/security/password", "Change password"),
    "two-step": ("/settings/security/two-step", "Two-step verification"),
    "passkeys": ("/settings/security/passkeys", "Passkeys"),
    "devices": ("/settings/security/devices", "Devices"),
    "pin": ("/settings/security/pin", "Payment PIN"),
    "api-keys": ("/settings/security/api-keys", "API keys"),
    "events": ("/settings/security/events", "Security events"),
}
PASSWORD = "correct horse battery staple"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def accept_dialogs(page: Page) -> None:
    """Confirm every "are you sure?" the page asks."""

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def second_session(db: Database, clock: OffsetClock, person: WebPerson) -> str:
    """The person also signed in on a phone; its token."""
    async with db.transaction() as conn:
        other = await sessions.start_session(
            conn,
            LONG_SESSIONS,
            now=clock.now(),
            aal=1,
            user_id=person.user_id,
            ip="203.0.113.7",
            user_agent=PHONE_UA,
        )
    return other.token


async def start_authenticator(page: Page) -> str:
    """Starts setting up an authenticator app; the secret the page shows for it."""
    await page.goto("/settings/security/two-step")
    await page.get_by_role("button", name="Set up an authenticator app").click()
    return (await page.locator("#totp-secret").inner_text()).replace(" ", "")


async def turn_on_authenticator(page: Page, code: str) -> None:
    await page.get_by_label("6-digit code").fill(code)
    await page.get_by_role("button", name="Turn on two-step verification").click()


async def give_password(db: Database, person: WebPerson) -> str:
    """The person signs in with PASSWORD from now on; the hash stored for it."""
    hashed = await hash_password(PASSWORD)
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET password_hash = %s WHERE id = %s", (hashed, person.user_id)
        )
    return hashed


async def change_password(page: Page, current: str, new: str) -> None:
    await page.goto("/settings/security/password")
    await page.get_by_label("Current password").fill(current)
    await page.locator("#f-new_password").fill(new)
    await page.get_by_label("New password again").fill(new)
    await page.get_by_role("button", name="Change password").click()


async def person_with_history(
    make_person: PersonFactory, app: Any, db: Database, clock: OffsetClock
) -> WebPerson:
    """Someone with a PIN, an API key, a second device and some security events."""
    person = await make_person(display_name="Grace Hopper")
    await set_pin(app, person)
    await api(
        app,
        person,
        "POST",
        "/v1/api-keys",
        json={"name": "Bookkeeping export", "mode": "live", "scopes": ["wallets:read"]},
    )
    await second_session(db, clock, person)
    return person


# --- every page, phone and desktop --------------------------------------------------------------


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
async def test_security_page(
    name: str,
    size: str,
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    person = await person_with_history(make_person, app, db, clock)
    path, heading = PAGES[name]
    page = await open_page(person, VIEWPORTS[size])
    await page.goto(path)
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    content = page.locator("main")
    if name == "overview":
        await expect(content).to_contain_text("Signed in on 2 devices")
        await expect(content).to_contain_text("1 active key")
        await expect(content).to_contain_text("API key created")
    elif name == "api-keys":
        await expect(content).to_contain_text("Bookkeeping export")
        await expect(content).to_contain_text("fh_live_")
    elif name == "devices":
        await expect(content).to_contain_text("This device")
        await expect(content).to_contain_text("Safari on iPhone")
    elif name == "pin":
        await expect(content).to_contain_text("Your payment PIN is set.")
    elif name == "events":
        await expect(page.locator("tbody tr").first).to_contain_text("API key created")
        await expect(content).to_contain_text("Payment PIN set")
    await check_page(page, f"security-{name}-{size}")


# --- two-step verification ----------------------------------------------------------------------


async def test_turning_on_the_authenticator_app_shows_the_recovery_codes_once(
    make_person: PersonFactory, open_page: PageFactory, app: Any, clock: OffsetClock
) -> None:
    person = await make_person()
    page = await open_page(person, PHONE)
    secret = await start_authenticator(page)

    await expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    qr = page.get_by_role("img", name="QR code to add finhub to your authenticator app")
    assert (await qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert await qr.evaluate("img => img.naturalWidth > 100")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert secret not in page.url
    await check_page(page, "security-totp-setup-phone")

    await turn_on_authenticator(page, pyotp.TOTP(secret).at(clock.now()))

    await expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    await expect(page.locator("main")).to_contain_text("shown only this once")
    codes = await page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    await check_page(page, "security-recovery-codes-phone")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Download").click()
    saved = await (await download.value).path()
    assert saved.read_text().split() == [code.strip() for code in codes]
    factors = await api(app, person, "GET", "/v1/me/factors")
    assert factors["totp_enabled"] is True
    assert factors["recovery_codes_remaining"] == 10

    await page.get_by_role("button", name="I've saved them").click()
    await expect(page.locator("main")).to_contain_text("10 unused recovery codes left.")
    assert codes[0].strip() not in await page.content()
    await page.goto("/settings/security/two-step")
    assert codes[0].strip() not in await page.content()


async def test_a_wrong_authenticator_code_is_refused_and_the_app_stays_off(
    make_person: PersonFactory, open_page: PageFactory, app: Any, clock: OffsetClock
) -> None:
    person = await make_person()
    page = await open_page(person, DESKTOP)
    secret = await start_authenticator(page)
    wrong = f"{(int(pyotp.TOTP(secret).at(clock.now())) + 1) % 1_000_000:06d}"
    await turn_on_authenticator(page, wrong)

    await expect(page.locator("#e-code")).to_have_text(
        "That code is not right. Try the current code."
    )
    await expect(page.get_by_label("6-digit code")).to_have_attribute("aria-invalid", "true")
    factors = await api(app, person, "GET", "/v1/me/factors")
    assert factors["totp_enabled"] is False


async def test_new_recovery_codes_and_turning_the_app_off_with_one(
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    person = await make_person()
    started = await api(app, person, "POST", "/v1/me/factors/totp")
    code = pyotp.TOTP(started["secret"]).at(clock.now())
    await api(app, person, "POST", "/v1/me/factors/totp/confirm", json={"code": code})
    page = await open_page(person, DESKTOP)
    accept_dialogs(page)
    await page.goto("/settings/security/two-step")
    await expect(page.locator("main")).to_contain_text("10 unused recovery codes left.")
    await page.get_by_role("button", name="Make new recovery codes").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    codes = [c.strip() for c in await page.locator("#recovery-codes li").all_inner_texts()]
    assert len(set(codes)) == 10
    await check_page(page, "security-new-recovery-codes-desktop")

    await make_step_up_stale(db, person)
    await page.goto("/settings/security/two-step")
    await page.get_by_role("button", name="Turn off two-step verification").click()
    await expect(page.locator("#form-error")).to_have_text("Confirm it's you to continue.")
    assert (await api(app, person, "GET", "/v1/me/factors"))["totp_enabled"] is True
    await answer_step_up(page, codes[0], "recovery_code")
    await page.get_by_role("button", name="Turn off two-step verification").click()

    await expect(page.locator(".flash")).to_have_text("Two-step verification is now turned off.")
    await expect(page.get_by_role("button", name="Set up an authenticator app")).to_be_visible()
    assert (await api(app, person, "GET", "/v1/me/factors"))["totp_enabled"] is False


# --- password -----------------------------------------------------------------------------------


async def test_a_wrong_current_password_is_shown_on_its_field(
    make_person: PersonFactory, open_page: PageFactory, db: Database
) -> None:
    person = await make_person()
    old_hash = await give_password(db, person)
    page = await open_page(person, PHONE)
    await change_password(page, "not my password at all", "a brand new long passphrase")

    await expect(page.locator("#e-current_password")).to_have_text("That password is not right.")
    await expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    await check_page(page, "security-password-error-phone")
    async with db.connection() as conn:
        row = await (
            await conn.execute("SELECT password_hash FROM users WHERE id = %s", (person.user_id,))
        ).fetchone()
    assert row["password_hash"] == old_hash


async def test_changing_the_password_signs_out_the_other_devices(
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    person = await make_person()
    await give_password(db, person)
    phone_token = await second_session(db, clock, person)
    page = await open_page(person, DESKTOP)
    await change_password(page, PASSWORD, "quiet lantern river orchard")

    await expect(page.locator(".flash")).to_contain_text("Your password was changed.")
    async with api_client(app, phone_token) as phone:
        assert (await phone.get("/v1/me")).status_code == 401
    assert (await api(app, person, "GET", "/v1/me"))["id"] == person.user_id


async def test_a_new_password_is_kept_exactly_as_typed(
    make_person: PersonFactory, app: Any, db: Database, anonymous_client: AsyncClient
) -> None:
    person = await make_person()
    await give_password(db, person)
    padded = "  spaces around my passphrase  "
    async with web_client(app, person) as web:
        page = await web.get("/settings/security/password")
        changed = await web.post(
            "/settings/security/password",
            data={
                "csrf_token": csrf_of(page),
                "current_password": PASSWORD,
                "new_password": padded,
                "new_password_again": padded,
            },
        )
    assert changed.status_code == 303
    signed_in = await anonymous_client.post(
        "/v1/auth/sign-in", json={"email": person.email, "password": padded}
    )
    assert signed_in.status_code == 200, signed_in.text


# --- API keys -----------------------------------------------------------------------------------


async def test_an_api_key_made_after_step_up_is_shown_once_and_works(
    make_person: PersonFactory, open_page: PageFactory, app: Any, db: Database
) -> None:
    person = await make_person()
    await set_pin(app, person)
    await make_step_up_stale(db, person)
    page = await open_page(person, DESKTOP)
    await page.goto("/settings/security/api-keys")
    await page.locator("#f-name").fill("Read my profile")
    await page.get_by_label("See your profile, devices and security events").check()
    await page.get_by_role("button", name="Create key").click()

    await expect(page.locator("#form-error")).to_have_text("Confirm it's you to continue.")
    await answer_step_up(page)
    await check_page(page, "security-api-key-step-up-desktop")
    await page.get_by_role("button", name="Create key").click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text("Read my profile")
    secret = await page.get_by_label("API key", exact=True).input_value()
    assert secret.startswith("fh_live_")
    assert secret not in page.url
    await check_page(page, "security-api-key-secret-desktop")
    async with api_client(app, secret) as program:
        me = await program.get("/v1/me")
    assert me.status_code == 200
    assert me.json()["id"] == person.user_id

    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret

    await page.get_by_role("button", name="Done").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    await expect(page.locator("main")).to_contain_text("Read my profile")
    await expect(page.locator("main")).to_contain_text(secret[-4:])
    assert secret not in await page.content()
    await page.reload()
    assert secret not in await page.content()


async def test_api_key_form_errors_land_on_their_fields(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person()
    page = await open_page(person, PHONE)
    await page.goto("/settings/security/api-keys")
    await page.locator("#f-name").fill("Nightly sync")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#e-scopes")).to_have_text("Choose at least one permission.")

    await page.get_by_label("See balances and activity").check()
    await page.locator("#f-allowed_ips").fill("not-an-address")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#e-allowed_ips")).to_be_visible()
    await assert_accessible(page)

    await page.locator("#f-allowed_ips").fill("203.0.113.0/24")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_label("API key", exact=True)).to_have_value(re.compile("^fh_live_"))
    keys = await api(app, person, "GET", "/v1/api-keys")
    assert [key["allowed_ips"] for key in keys["data"]] == [["203.0.113.0/24"]]


async def test_revoking_and_rolling_an_api_key(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person()
    issued = await api(
        app,
        person,
        "POST",
        "/v1/api-keys",
        json={"name": "Old script", "mode": "live", "scopes": ["profile:read"]},
    )
    page = await open_page(person, DESKTOP)
    accept_dialogs(page)
    await page.goto("/settings/security/api-keys")
    await page.get_by_role("button", name="Roll").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Roll “Old script”")
    await assert_accessible(page)
    await page.get_by_role("button", name="Roll key").click()
    new_secret = await page.get_by_label("API key", exact=True).input_value()
    assert new_secret != issued["secret"]
    async with api_client(app, issued["secret"]) as old:
        assert (await old.get("/v1/me")).status_code == 401
    async with api_client(app, new_secret) as new:
        assert (await new.get("/v1/me")).status_code == 200

    await page.get_by_role("button", name="Done").click()
    await page.get_by_role("button", name="Revoke").click()
    await expect(page.locator(".flash")).to_have_text("The API key was revoked.")
    await expect(page.locator("main")).to_contain_text("Revoked")
    async with api_client(app, new_secret) as new:
        assert (await new.get("/v1/me")).status_code == 401


# --- devices ------------------------------------------------------------------------------------


async def test_signing_out_another_device(
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    db: Database,
    clock: OffsetClock,
) -> None:
    person = await make_person()
    phone_token = await second_session(db, clock, person)
    async with db.transaction() as conn:
        tablet = await sessions.start_session(
            conn, LONG_SESSIONS, now=clock.now(), aal=1, user_id=person.user_id
        )
    page = await open_page(person, PHONE)
    accept_dialogs(page)
    await page.goto("/settings/security/devices")
    await expect(page.locator("main article")).to_have_count(3)
    phone = page.locator("article", has_text="Safari on iPhone")
    await expect(phone).to_contain_text("203.0.113.7")
    await phone.get_by_role("button", name="Sign out this device").click()

    await expect(page.locator(".flash")).to_have_text("That device was signed out.")
    await expect(page.locator("main article")).to_have_count(2)
    async with api_client(app, phone_token) as other:
        assert (await other.get("/v1/me")).status_code == 401

    await page.get_by_role("button", name="Sign out all other devices").click()
    await expect(page.locator(".flash")).to_have_text("Your other devices were signed out.")
    await expect(page.locator("main article")).to_have_count(1)
    await expect(page.locator("main article")).to_contain_text("This device")
    async with api_client(app, tablet.token) as other:
        assert (await other.get("/v1/me")).status_code == 401
    assert (await api(app, person, "GET", "/v1/me"))["id"] == person.user_id


def test_devices_are_named_by_browser_and_system() -> None:
    assert device_name(PHONE_UA) == "Safari on iPhone"
    assert device_name("python-httpx/0.28") == "python-httpx/0.28"
    assert device_name(None) == "Unknown device"


# --- payment PIN --------------------------------------------------------------------------------


async def test_setting_a_payment_pin(
    make_person: PersonFactory, open_page: PageFactory, app: Any
) -> None:
    person = await make_person()
    page = await open_page(person, PHONE)
    await page.goto("/settings/security/pin")
    await page.locator("#f-pin").fill("123456")
    await page.get_by_label("New PIN again").fill("123456")
    await page.get_by_role("button", name="Set PIN").click()
    await expect(page.locator("#e-pin")).to_have_text("Choose a PIN that is harder to guess.")
    assert (await api(app, person, "GET", "/v1/me/factors"))["pin_set"] is False

    await page.locator("#f-pin").fill(PIN)
    await page.get_by_label("New PIN again").fill(PIN)
    await page.get_by_role("button", name="Set PIN").click()
    await expect(page.locator(".flash")).to_have_text("Your payment PIN is saved.")
    await expect(page.locator("main")).to_contain_text("Your payment PIN is set.")
    assert (await api(app, person, "GET", "/v1/me/factors"))["pin_set"] is True


async def test_changing_the_pin_needs_the_current_one(make_person: PersonFactory, app: Any) -> None:
    person = await make_person()
    await set_pin(app, person)
    new_pin = {"pin": "591846", "pin_again": "591846"}
    async with web_client(app, person) as web:
        page = await web.get("/settings/security/pin")
        assert 'id="f-current_pin"' in page.text
        wrong = await web.post(
            "/settings/security/pin",
            data={"csrf_token": csrf_of(page), "current_pin": "111222", **new_pin},
        )
        assert wrong.status_code == 422
        assert 'id="e-current_pin"' in wrong.text
        right = await web.post(
            "/settings/security/pin",
            data={"csrf_token": csrf_of(page), "current_pin": PIN, **new_pin},
        )
    assert right.status_code == 303
    await api(app, person, "POST", "/v1/auth/step-up", json={"method": "pin", "pin": "591846"})


async def test_removing_the_pin_asks_to_confirm_it_is_you(
    make_person: PersonFactory, open_page: PageFactory, app: Any, db: Database
) -> None:
    person = await make_person()
    await set_pin(app, person)
    await make_step_up_stale(db, person)
    page = await open_page(person, DESKTOP)
    accept_dialogs(page)
    await page.goto("/settings/security/pin")
    await page.get_by_role("button", name="Remove PIN").click()
    await expect(page.locator("#f-step_up_code")).to_be_visible()
    await answer_step_up(page, "000000")
    await page.get_by_role("button", name="Remove PIN").click()
    await expect(page.locator("#e-step_up_code")).to_have_text("That PIN is not right.")
    assert (await api(app, person, "GET", "/v1/me/factors"))["pin_set"] is True

    await answer_step_up(page)
    await page.get_by_role("button", name="Remove PIN").click()
    await expect(page.locator(".flash")).to_have_text("Your payment PIN was removed.")
    assert (await api(app, person, "GET", "/v1/me/factors"))["pin_set"] is False


# --- passkeys -----------------------------------------------------------------------------------


async def test_registering_a_passkey_with_a_virtual_authenticator(
    make_person: PersonFactory,
    open_page: PageFactory,
    app: Any,
    live_server: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # WebAuthn needs a domain (not an IP address) as the relying party: serve as localhost.
    origin = live_server.replace("127.0.0.1", "localhost")
    monkeypatch.setattr(settings, "public_url", origin)
    person = await make_person()
    page = await open_page(person, DESKTOP)
    await page.context.add_cookies(
        [{"name": "fh_session", "value": person.token, "url": origin, "httpOnly": True}]
    )
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    accept_dialogs(page)
    await page.goto(f"{origin}/settings/security/passkeys")
    await expect(page.locator("main")).to_contain_text("You have no passkeys yet.")
    await page.locator("#f-name").fill("Work laptop")
    await page.get_by_role("button", name="Add a passkey").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Create your passkey")
    await check_page(page, "security-passkey-create-desktop")
    await page.get_by_role("button", name="Create passkey").click()

    await expect(page.locator(".flash")).to_have_text("Your passkey was added.")
    await expect(page.get_by_role("heading", name="Work laptop")).to_be_visible()
    listed = await api(app, person, "GET", "/v1/me/passkeys")
    assert [passkey["name"] for passkey in listed["data"]] == ["Work laptop"]

    await page.locator("input[id^=rename-]").first.fill("Office laptop")
    await page.get_by_role("button", name="Rename").click()
    await expect(page.locator(".flash")).to_have_text("Your passkey was renamed.")
    await expect(page.get_by_role("heading", name="Office laptop")).to_be_visible()
    await page.get_by_role("button", name="Remove").click()
    await expect(page.locator(".flash")).to_have_text("Your passkey was removed.")
    assert (await api(app, person, "GET", "/v1/me/passkeys"))["data"] == []


# --- security events and secrets over plain HTTP ------------------------------------------------


async def test_security_events_are_paged_newest_first(make_person: PersonFactory, app: Any) -> None:
    person = await make_person()
    for number in range(25):
        await api(app, person, "PATCH", "/v1/me", json={"display_name": f"Name {number}"})
    async with web_client(app, person) as web:
        first = await web.get("/settings/security/events")
        assert first.status_code == 200
        assert first.text.count("Profile changed") == 20
        older = re.search(r'href="(/settings/security/events\?starting_after=[^"]+)"', first.text)
        assert older, "no link to older events"
        second = await web.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert second.text.count("Profile changed") == 5
    assert "Newest events" in second.text


async def test_new_secrets_are_never_kept_by_the_browser(
    make_person: PersonFactory, app: Any
) -> None:
    person = await make_person()
    async with web_client(app, person) as web:
        form = await web.get("/settings/security/two-step")
        started = await web.post(
            "/settings/security/two-step/start", data={"csrf_token": csrf_of(form)}
        )
        assert started.status_code == 200
        assert started.headers["cache-control"] == "no-store"
        assert "data:image/png;base64," in started.text
        keys = await web.get("/settings/security/api-keys")
        created = await web.post(
            "/settings/security/api-keys",
            data={
                "csrf_token": csrf_of(keys),
                "name": "CI",
                "mode": "test",
                "scopes": ["wallets:read", "payments:read"],
            },
        )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    assert 'value="fh_test_' in created.text


async def test_the_security_pages_need_a_signed_in_person(anonymous_client: AsyncClient) -> None:
    response = await anonymous_client.get("/settings/security/api-keys")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/settings/security/api-keys"
