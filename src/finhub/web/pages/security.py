"""Security settings under /settings/security: the password, two-step verification with its
recovery codes, passkeys, signed-in devices, the payment PIN, API keys and the security events.

Secrets the API shows once (a new authenticator secret, recovery codes, an API key) are only
ever in the answer to the POST that made them: never in a URL, never behind a redirect, and every
page is sent with `Cache-Control: no-store`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Path, Query, Request
from fastapi.responses import Response

from finhub.identity.scopes import SCOPES
from finhub.web.client import Api
from finhub.web.forms import (
    FormError,
    form_exact,
    form_text,
    headed,
    key_after,
    new_idempotency_key,
)
from finhub.web.i18n import gettext, lazy_gettext
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser
from finhub.web.step_up import Refusal, act, render_form

router = web_router(prefix="/settings/security")

ApiId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_]{1,64}$")]
Cursor = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{1,64}$")]
HERE = "/settings/security"
EVENTS_PER_PAGE = 20
PIN_PATTERN = re.compile(r"^[0-9]{6}$")

# What each API key scope lets a key do, in words a person reads (the API's own text is English).
SCOPE_LABELS = {
    "profile:read": lazy_gettext("See your profile, devices and security events"),
    "profile:write": lazy_gettext("Change your profile"),
    "notifications:read": lazy_gettext("Read your inbox"),
    "organizations:read": lazy_gettext("See your organisations and their members"),
    "organizations:write": lazy_gettext("Change your organisations and their members"),
    "audit:read": lazy_gettext("Read the audit events you may see"),
    "wallets:read": lazy_gettext("See balances and activity"),
    "wallets:write": lazy_gettext("Open balances in new currencies"),
    "payments:read": lazy_gettext("See payments, payees and payment requests"),
    "payments:write": lazy_gettext("Make payments and payment requests"),
    "webhooks:write": lazy_gettext("Manage webhooks"),
}
# How long a rolled key's old secret keeps working, in seconds.
GRACE_PERIODS = {
    0: lazy_gettext("Stop the old key now"),
    3600: lazy_gettext("Keep the old key for 1 hour"),
    86400: lazy_gettext("Keep the old key for 1 day"),
    7 * 86400: lazy_gettext("Keep the old key for 7 days"),
}
EVENT_LABELS = {
    "auth.sign_in": lazy_gettext("Signed in"),
    "auth.sign_in_failed": lazy_gettext("Failed sign-in attempt"),
    "auth.sign_out": lazy_gettext("Signed out"),
    "auth.sign_up": lazy_gettext("Account opened"),
    "auth.sign_up_existing": lazy_gettext("Someone tried to sign up with your email"),
    "auth.locked_out": lazy_gettext("Sign-in paused after wrong passwords"),
    "auth.password_changed": lazy_gettext("Password changed"),
    "auth.password_change_failed": lazy_gettext("Wrong current password in a password change"),
    "auth.password_reset": lazy_gettext("Password reset"),
    "auth.password_reset_requested": lazy_gettext("Password reset requested"),
    "auth.email_verified": lazy_gettext("Email address verified"),
    "auth.verify_email": lazy_gettext("Email address verified"),
    "auth.email_changed": lazy_gettext("Email address changed"),
    "user.email_changed": lazy_gettext("Email address changed"),
    "auth.email_change": lazy_gettext("Email change requested"),
    "user.email_change_requested": lazy_gettext("Email change requested"),
    "auth.step_up": lazy_gettext("Identity confirmed"),
    "auth.step_up_failed": lazy_gettext("Failed identity check"),
    "auth.second_factor_failed": lazy_gettext("Wrong two-step verification code"),
    "auth.session_revoked": lazy_gettext("A device was signed out"),
    "auth.other_sessions_revoked": lazy_gettext("Other devices were signed out"),
    "security.new_sign_in": lazy_gettext("Sign-in from a new device"),
    "factor.totp_enabled": lazy_gettext("Two-step verification turned on"),
    "factor.totp_disabled": lazy_gettext("Two-step verification turned off"),
    "factor.recovery_codes_regenerated": lazy_gettext("New recovery codes made"),
    "factor.recovery_code_used": lazy_gettext("Recovery code used"),
    "factor.passkey_added": lazy_gettext("Passkey added"),
    "factor.passkey_removed": lazy_gettext("Passkey removed"),
    "factor.passkey_renamed": lazy_gettext("Passkey renamed"),
    "factor.passkey_counter_regressed": lazy_gettext("Passkey refused: it may be a copy"),
    "factor.pin_set": lazy_gettext("Payment PIN set"),
    "factor.pin_changed": lazy_gettext("Payment PIN changed"),
    "factor.pin_removed": lazy_gettext("Payment PIN removed"),
    "api_key.created": lazy_gettext("API key created"),
    "api_key.rolled": lazy_gettext("API key rolled"),
    "api_key.revoked": lazy_gettext("API key revoked"),
    "api_key.rejected": lazy_gettext("API key refused"),
    "user.profile_updated": lazy_gettext("Profile changed"),
    "user.consents_updated": lazy_gettext("Privacy choices changed"),
    "member.role_changed": lazy_gettext("Your role in an organisation changed"),
    "invitation.accepted": lazy_gettext("Organisation invitation accepted"),
}
OTHER_EVENT = lazy_gettext("Account activity")
# The general message of `invalid_credentials` (errors.MESSAGES) is about signing in.
PASSWORD_MESSAGES = {"invalid_credentials": lazy_gettext("That password is not right.")}
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


# --- overview ----------------------------------------------------------------------------------


@router.get("")
async def overview(request: Request, user: CurrentUser) -> Response:
    api = Api(request)
    factors = await api.get("/v1/me/factors")
    passkeys = await api.get("/v1/me/passkeys", {"limit": 100})
    devices = await api.get("/v1/me/sessions", {"limit": 100})
    keys = await api.get("/v1/api-keys", {"limit": 100})
    events = await api.get("/v1/me/security-events", {"limit": 5})
    context = {
        "factors": factors,
        "passkey_count": len(passkeys["data"]),
        "device_count": len(devices["data"]),
        "active_key_count": sum(1 for key in keys["data"] if key["status"] == "active"),
        "events": [describe_event(event) for event in events["data"]],
    }
    return render(request, "security/overview.html", context)


# --- password ----------------------------------------------------------------------------------


@router.get("/password")
async def password_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "security/password.html", {"errors": {}})


@router.post("/password")
async def change_password(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    current, new = form_exact(form, "current_password"), form_exact(form, "new_password")
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = gettext("Enter your current password.")
    if new != form_exact(form, "new_password_again"):
        errors["new_password_again"] = gettext("The new passwords don't match.")
    if not errors:
        api = Api(request)
        body = {"current_password": current, "new_password": new}
        outcome = await act(
            api, form, lambda: api.post("/v1/me/password", body), PASSWORD_FIELDS, PASSWORD_MESSAGES
        )
        if not isinstance(outcome, Refusal):
            flash = N_("Your password was changed. Your other devices were signed out.")
            return redirect(request, HERE, flash=flash)
        errors = outcome.errors
    return render(request, "security/password.html", {"errors": headed(errors)}, status=422)


PASSWORD_FIELDS = {
    "invalid_credentials": "current_password",
    "password_required": "current_password",
    "password_too_short": "new_password",
    "password_too_long": "new_password",
    "password_too_common": "new_password",
    "password_contains_personal_info": "new_password",
}


# --- two-step verification ---------------------------------------------------------------------


@router.get("/two-step")
async def two_step_page(request: Request, user: CurrentUser) -> Response:
    return await _two_step(request)


async def _two_step(request: Request, refusal: Refusal | None = None, form: str = "") -> Response:
    factors = await Api(request).get("/v1/me/factors")
    return render_form(request, "security/two_step.html", {"factors": factors}, refusal, form)


@router.post("/two-step/start")
async def start_totp(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    api = Api(request)
    started = await act(api, form, lambda: api.post("/v1/me/factors/totp"))
    if isinstance(started, Refusal):
        return await _two_step(request, started, "start")
    return _totp_setup(request, started)


def _totp_setup(
    request: Request, started: dict[str, Any] | None, refusal: Refusal | None = None
) -> Response:
    """The QR code and secret (only in the answer that made them), and the confirm form."""
    return render_form(request, "security/totp_setup.html", {"setup": started}, refusal, "confirm")


@router.post("/two-step/confirm")
async def confirm_totp(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    code = form_text(form, "code").replace(" ", "")
    if not code:
        return _totp_setup(request, None, Refusal({"code": gettext("Enter the 6-digit code.")}))
    api = Api(request)
    confirmed = await act(
        api,
        form,
        lambda: api.post("/v1/me/factors/totp/confirm", {"code": code}),
        {"invalid_second_factor": "code", "code_already_used": "code"},
    )
    if isinstance(confirmed, Refusal):
        return _totp_setup(request, None, confirmed)
    return _recovery_codes(request, confirmed.get("recovery_codes") or [], first_time=True)


def _recovery_codes(request: Request, codes: list[str], *, first_time: bool) -> Response:
    context = {"codes": codes, "first_time": first_time}
    return render(request, "security/recovery_codes.html", context)


@router.post("/two-step/disable")
async def disable_totp(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    api = Api(request)
    outcome = await act(api, form, lambda: api.delete("/v1/me/factors/totp"))
    if isinstance(outcome, Refusal):
        return await _two_step(request, outcome, "disable")
    return redirect(
        request, f"{HERE}/two-step", flash=N_("Two-step verification is now turned off.")
    )


@router.post("/two-step/recovery-codes")
async def new_recovery_codes(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    api = Api(request)
    made = await act(api, form, lambda: api.post("/v1/me/factors/recovery-codes"))
    if isinstance(made, Refusal):
        return await _two_step(request, made, "codes")
    return _recovery_codes(request, made.get("codes") or [], first_time=False)


# --- passkeys ----------------------------------------------------------------------------------


@router.get("/passkeys")
async def passkeys_page(request: Request, user: CurrentUser) -> Response:
    return await _passkeys(request)


async def _passkeys(
    request: Request,
    refusal: Refusal | None = None,
    form: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    """The passkey list; `form` is the one refused: "add" or a passkey id."""
    listed = await Api(request).get("/v1/me/passkeys", {"limit": 100})
    context = {"passkeys": listed["data"], "values": values or {}}
    return render_form(request, "security/passkeys.html", context, refusal, form)


@router.post("/passkeys/new")
async def passkey_options(request: Request, user: CurrentUser) -> Response:
    """Options for the browser to create a passkey with (step-up first when asked)."""
    form = await request.form()
    name = form_text(form, "name") or gettext("Passkey")
    api = Api(request)
    options = await act(api, form, lambda: api.post("/v1/me/passkeys/registration-options"))
    if isinstance(options, Refusal):
        return await _passkeys(request, options, "add", values={"name": name})
    context = {"name": name[:100], "options": options["public_key"], "errors": {}}
    return render(request, "security/passkey_create.html", context)


@router.post("/passkeys")
async def register_passkey(request: Request, user: CurrentUser) -> Response:
    """Keeps the passkey the browser created (`security.js` fills in `credential`)."""
    form = await request.form()
    name = form_text(form, "name")[:100] or gettext("Passkey")
    try:
        credential = orjson.loads(form_text(form, "credential"))
    except orjson.JSONDecodeError:
        credential = None
    if not isinstance(credential, dict):
        message = gettext("Your browser didn't create a passkey. Try again.")
        return await _passkeys(request, Refusal({"": message}), "add")
    api = Api(request)
    body = {"credential": credential, "name": name}
    made = await act(api, form, lambda: api.post("/v1/me/passkeys", body))
    if isinstance(made, Refusal):
        return await _passkeys(request, made, "add")
    return redirect(request, f"{HERE}/passkeys", flash=N_("Your passkey was added."))


@router.post("/passkeys/{passkey_id}/rename")
async def rename_passkey(request: Request, user: CurrentUser, passkey_id: ApiId) -> Response:
    form = await request.form()
    name = form_text(form, "name")
    if not name:
        errors = headed({"name": gettext("Enter a name.")})
        return await _passkeys(request, Refusal(errors), passkey_id)
    api = Api(request)
    path = f"/v1/me/passkeys/{passkey_id}"
    renamed = await act(api, form, lambda: api.patch(path, {"name": name}))
    if isinstance(renamed, Refusal):
        return await _passkeys(request, renamed, passkey_id)
    return redirect(request, f"{HERE}/passkeys", flash=N_("Your passkey was renamed."))


@router.post("/passkeys/{passkey_id}/delete")
async def delete_passkey(request: Request, user: CurrentUser, passkey_id: ApiId) -> Response:
    form = await request.form()
    api = Api(request)
    removed = await act(api, form, lambda: api.delete(f"/v1/me/passkeys/{passkey_id}"))
    if isinstance(removed, Refusal):
        return await _passkeys(request, removed, passkey_id)
    return redirect(request, f"{HERE}/passkeys", flash=N_("Your passkey was removed."))


# --- devices (sessions) ------------------------------------------------------------------------


@router.get("/devices")
async def devices_page(request: Request, user: CurrentUser) -> Response:
    return await _devices(request)


async def _devices(request: Request, refusal: Refusal | None = None) -> Response:
    listed = await Api(request).get("/v1/me/sessions", {"limit": 100})
    devices = [{**item, "device": device_name(item.get("user_agent"))} for item in listed["data"]]
    devices.sort(key=lambda item: not item["current"])  # this device first
    return render_form(request, "security/devices.html", {"devices": devices}, refusal)


@router.post("/devices/{session_id}/sign-out")
async def sign_out_device(request: Request, user: CurrentUser, session_id: ApiId) -> Response:
    form = await request.form()
    api = Api(request)
    ended = await act(api, form, lambda: api.delete(f"/v1/me/sessions/{session_id}"))
    if isinstance(ended, Refusal):
        return await _devices(request, ended)
    return redirect(request, f"{HERE}/devices", flash=N_("That device was signed out."))


@router.post("/devices/sign-out-others")
async def sign_out_other_devices(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    api = Api(request)
    ended = await act(api, form, lambda: api.post("/v1/me/sessions/revoke-others"))
    if isinstance(ended, Refusal):
        return await _devices(request, ended)
    return redirect(request, f"{HERE}/devices", flash=N_("Your other devices were signed out."))


def device_name(user_agent: str | None) -> str:
    """ "Chrome on Android" from a user agent, or the agent itself when it is no browser."""
    if not user_agent:
        return gettext("Unknown device")
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if browser and system:
        return gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or user_agent[:60]


# --- payment PIN -------------------------------------------------------------------------------


@router.get("/pin")
async def pin_page(request: Request, user: CurrentUser) -> Response:
    return await _pin(request)


async def _pin(request: Request, refusal: Refusal | None = None, form: str = "") -> Response:
    factors = await Api(request).get("/v1/me/factors")
    return render_form(request, "security/pin.html", {"factors": factors}, refusal, form)


PIN_FIELDS = {
    "invalid_pin_format": "pin",
    "pin_too_weak": "pin",
    "invalid_pin": "current_pin",
    "current_pin_required": "current_pin",
    "password_required": "password",
    "invalid_credentials": "password",
}


@router.post("/pin")
async def set_pin(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    try:
        body = _pin_body(form)
    except FormError as error:
        return await _pin(request, Refusal(error.errors), "set")
    api = Api(request)
    outcome = await act(
        api, form, lambda: api.put("/v1/me/pin", body), PIN_FIELDS, PASSWORD_MESSAGES
    )
    if isinstance(outcome, Refusal):
        return await _pin(request, outcome, "set")
    return redirect(request, f"{HERE}/pin", flash=N_("Your payment PIN is saved."))


def _pin_body(form: Mapping[str, Any]) -> dict[str, str]:
    pin = form_text(form, "pin")
    errors: dict[str, str] = {}
    if not PIN_PATTERN.match(pin):
        errors["pin"] = gettext("Enter 6 digits.")
    elif pin != form_text(form, "pin_again"):
        errors["pin_again"] = gettext("The PINs don't match.")
    if errors:
        raise FormError(headed(errors))
    body = {"pin": pin}
    if form_text(form, "current_pin"):
        body["current_pin"] = form_text(form, "current_pin")
    if form_exact(form, "password"):
        body["password"] = form_exact(form, "password")
    return body


@router.post("/pin/remove")
async def remove_pin(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    api = Api(request)
    outcome = await act(api, form, lambda: api.delete("/v1/me/pin"))
    if isinstance(outcome, Refusal):
        return await _pin(request, outcome, "remove")
    return redirect(request, f"{HERE}/pin", flash=N_("Your payment PIN was removed."))


# --- API keys ----------------------------------------------------------------------------------


@router.get("/api-keys")
async def api_keys_page(request: Request, user: CurrentUser) -> Response:
    return await _api_keys(request)


async def _api_keys(
    request: Request,
    refusal: Refusal | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
) -> Response:
    """The key list and the form that makes one; `form` is the one refused: "create" or a key's
    id."""
    listed = await Api(request).get("/v1/api-keys", {"limit": 100})
    context = {
        "keys": listed["data"],
        "scopes": _scope_choices(),
        "values": values or {"mode": "live", "scopes": []},
        "idempotency_key": (values or {}).get("idempotency_key") or new_idempotency_key(),
        "today": date.today().isoformat(),
    }
    return render_form(request, "security/api_keys.html", context, refusal, form)


def _scope_choices() -> list[tuple[str, str]]:
    return [(scope, str(SCOPE_LABELS.get(scope, scope))) for scope in SCOPES]


API_KEY_FIELDS = {
    "unknown_scope": "scopes",
    "invalid_ip_range": "allowed_ips",
    "invalid_expiry": "expires_at",
}


@router.post("/api-keys")
async def create_api_key(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    idempotency_key = form_text(form, "idempotency_key") or new_idempotency_key()
    values: dict[str, Any] = {
        "name": form_text(form, "name"),
        "mode": form_text(form, "mode") or "live",
        "scopes": [s for s in form.getlist("scopes") if isinstance(s, str)],
        "expires_at": form_text(form, "expires_at"),
        "allowed_ips": form_text(form, "allowed_ips"),
        "idempotency_key": idempotency_key,
    }
    try:
        body = _api_key_body(values)
    except FormError as error:
        return await _api_keys(request, Refusal(error.errors), "create", values)
    api = Api(request)
    issued = await act(
        api,
        form,
        lambda: api.post("/v1/api-keys", body, idempotency_key=idempotency_key),
        API_KEY_FIELDS,
    )
    if isinstance(issued, Refusal):
        values["idempotency_key"] = key_after(issued.problem, idempotency_key)
        return await _api_keys(request, issued, "create", values)
    return render(request, "security/api_key_secret.html", {"key": issued, "rolled": False})


def _api_key_body(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = gettext("Give the key a name.")
    if not values["scopes"]:
        errors["scopes"] = gettext("Choose at least one permission.")
    body: dict[str, Any] = {
        "name": values["name"],
        "mode": values["mode"] if values["mode"] in ("live", "test") else "live",
        "scopes": values["scopes"],
    }
    ips = [part for part in re.split(r"[\s,]+", values["allowed_ips"]) if part]
    if ips:
        body["allowed_ips"] = ips
    if values["expires_at"]:
        try:
            last_day = date.fromisoformat(values["expires_at"])
        except ValueError:
            errors["expires_at"] = gettext("Choose a date in the future.")
        else:
            # The key works through the whole of the chosen day (UTC).
            end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)
            body["expires_at"] = end.isoformat()
    if errors:
        raise FormError(headed(errors))
    return body


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, user: CurrentUser, key_id: ApiId) -> Response:
    form = await request.form()
    api = Api(request)
    revoked = await act(api, form, lambda: api.post(f"/v1/api-keys/{key_id}/revoke"))
    if isinstance(revoked, Refusal):
        return await _api_keys(request, revoked, key_id)
    return redirect(request, f"{HERE}/api-keys", flash=N_("The API key was revoked."))


@router.get("/api-keys/{key_id}/roll")
async def roll_page(request: Request, user: CurrentUser, key_id: ApiId) -> Response:
    key = await Api(request).get(f"/v1/api-keys/{key_id}")
    return _roll_form(request, key, {"grace": "0", "idempotency_key": new_idempotency_key()})


def _roll_form(
    request: Request, key: dict[str, Any], values: dict[str, str], refusal: Refusal | None = None
) -> Response:
    context = {
        "key": key,
        "values": values,
        "grace_periods": [(str(seconds), str(label)) for seconds, label in GRACE_PERIODS.items()],
    }
    return render_form(request, "security/api_key_roll.html", context, refusal, "roll")


@router.post("/api-keys/{key_id}/roll")
async def roll_api_key(request: Request, user: CurrentUser, key_id: ApiId) -> Response:
    form = await request.form()
    values = {
        "grace": form_text(form, "grace") or "0",
        "idempotency_key": form_text(form, "idempotency_key") or new_idempotency_key(),
    }
    grace = int(values["grace"]) if values["grace"] in map(str, GRACE_PERIODS) else 0
    api = Api(request)
    rolled = await act(
        api,
        form,
        lambda: api.post(
            f"/v1/api-keys/{key_id}/roll",
            {"expire_old_in_seconds": grace},
            idempotency_key=values["idempotency_key"],
        ),
        {"invalid_grace_period": "grace"},
    )
    if isinstance(rolled, Refusal):
        values["idempotency_key"] = key_after(rolled.problem, values["idempotency_key"])
        key = await api.get(f"/v1/api-keys/{key_id}")
        return _roll_form(request, key, values, rolled)
    return render(request, "security/api_key_secret.html", {"key": rolled, "rolled": True})


# --- security events ---------------------------------------------------------------------------


@router.get("/events")
async def events_page(
    request: Request, user: CurrentUser, starting_after: Cursor = None
) -> Response:
    params = {"limit": EVENTS_PER_PAGE, "starting_after": starting_after}
    listed = await Api(request).get("/v1/me/security-events", params)
    context = {
        "events": [describe_event(event) for event in listed["data"]],
        "next_cursor": listed.get("next_starting_after") if listed.get("has_more") else None,
        "paged": starting_after is not None,
    }
    return render(request, "security/events.html", context)


def describe_event(event: dict[str, Any]) -> dict[str, Any]:
    label = EVENT_LABELS.get(event["action"])
    return {
        **event,
        "label": str(label if label is not None else OTHER_EVENT),
        "known": label is not None,
        "device": device_name(event.get("user_agent")) if event.get("user_agent") else "",
        "failed": event.get("outcome") not in (None, "success"),
    }
