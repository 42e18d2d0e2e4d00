"""Settings under /settings: the profile (name, email, phone), the language pages are shown in
and the home currency totals are shown in. Security has its own pages (`security.py`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.kit.money import iso_currencies
from finhub.web.client import Api, ApiProblem
from finhub.web.forms import form_text
from finhub.web.i18n import LANGUAGE_NAMES, LOCALES, currency_name, gettext
from finhub.web.rendering import N_, redirect
from finhub.web.security import web_router
from finhub.web.session import LANGUAGE_COOKIE, CurrentUser
from finhub.web.step_up import Refusal, act, render_form, reraise_unexpected

router = web_router(prefix="/settings")

HERE = "/settings"
ONE_YEAR = 365 * 24 * 3600
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")


@router.get("")
async def settings_page(request: Request, user: CurrentUser) -> Response:
    return await _page(request, user.profile)


async def _page(
    request: Request,
    profile: dict[str, Any],
    refusal: Refusal | None = None,
    form: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    """The settings page; `form` names the form refused (its errors, and step-up)."""
    context = {
        "profile": profile,
        "currencies": currency_choices(),
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LOCALES],
        "values": values or {},
    }
    return render_form(request, "settings/index.html", context, refusal, form)


def _refused(field: str, message: str) -> Refusal:
    """A form refused for one field's sake (the message also heads the form)."""
    return Refusal({field: message, "": message})


def currency_choices() -> list[tuple[str, str]]:
    """Every currency finhub supports (ISO 4217 with minor units), named in the page's
    language and ordered by code."""
    return [(code, f"{code} · {currency_name(code)}") for code in sorted(iso_currencies())]


@router.post("/profile")
async def save_profile(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    name = form_text(form, "display_name")
    if not name:
        refused = _refused("display_name", gettext("Enter your name."))
        return await _page(request, user.profile, refused, "profile")
    api = Api(request)
    saved = await act(api, form, lambda: api.patch("/v1/me", {"display_name": name}))
    if isinstance(saved, Refusal):
        return await _page(request, user.profile, saved, "profile", {"display_name": name})
    return redirect(request, HERE, flash=N_("Your profile was saved."))


@router.post("/phone")
async def change_phone(request: Request, user: CurrentUser) -> Response:
    """A new phone number (or none, when the field is left empty); needs step-up."""
    form = await request.form()
    values = {"phone": form_text(form, "phone")}
    phone = re.sub(r"[\s().-]", "", values["phone"])
    if phone and not PHONE_PATTERN.match(phone):
        message = gettext("Enter the number with its country code, like +66812345678.")
        return await _page(request, user.profile, _refused("phone", message), "phone", values)
    api = Api(request)
    saved = await act(api, form, lambda: api.patch("/v1/me", {"phone": phone or None}))
    if isinstance(saved, Refusal):
        return await _page(request, user.profile, saved, "phone", values)
    flash = N_("Your phone number was saved.") if phone else N_("Your phone number was removed.")
    return redirect(request, HERE, flash=flash)


@router.post("/email")
async def change_email(request: Request, user: CurrentUser) -> Response:
    """Mails a confirmation link to the new address; the switch happens when it is opened."""
    form = await request.form()
    new_email = form_text(form, "new_email")
    values = {"new_email": new_email}
    if not new_email:
        message = gettext("Enter your new email address.")
        return await _page(request, user.profile, _refused("new_email", message), "email", values)
    api = Api(request)
    sent = await act(api, form, lambda: api.post("/v1/me/email", {"new_email": new_email}))
    if isinstance(sent, Refusal):
        return await _page(request, user.profile, sent, "email", values)
    flash = N_("Check your new mailbox: your email changes when you open the link we sent.")
    return redirect(request, HERE, flash=flash)


@router.post("/language")
async def change_language(request: Request, user: CurrentUser) -> Response:
    """Saves the language on the profile (every page follows it) and in the language cookie,
    for the pages shown before signing in."""
    form = await request.form()
    language = form_text(form, "locale")
    if language not in LOCALES:
        message = gettext("Choose one of the options.")
        return await _page(request, user.profile, _refused("locale", message), "language")
    await Api(request).patch("/v1/me", {"locale": language})
    response = redirect(request, HERE, flash=N_("Language saved."))
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=ONE_YEAR,
        samesite="lax",
        httponly=True,
        secure=request.app.state.container.settings.cookie_secure,
    )
    return response


@router.post("/currency")
async def change_currency(request: Request, user: CurrentUser) -> Response:
    """The home currency of the profile and of the wallet, whose total is shown in it."""
    form = await request.form()
    currency = form_text(form, "home_currency")
    api = Api(request)
    try:
        await api.patch("/v1/me", {"home_currency": currency})
    except ApiProblem as problem:
        reraise_unexpected(problem)
        message = gettext("Choose a supported currency.")
        return await _page(request, user.profile, _refused("home_currency", message), "currency")
    # A closed wallet keeps its currency; the profile's is what new wallets start with.
    await api.call("PATCH", "/v1/wallets/me", body={"home_currency": currency})
    return redirect(request, HERE, flash=N_("Home currency saved."))
