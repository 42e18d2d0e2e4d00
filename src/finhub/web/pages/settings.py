"""Settings under /settings: the profile (name, email, phone), the language pages are shown in
and the home currency totals are shown in. Security has its own pages (`security.py`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from finhub.kit.money import iso_currencies
from finhub.web.client import Api, ApiProblem
from finhub.web.i18n import LANGUAGE_NAMES, LOCALES, currency_name, gettext
from finhub.web.pages.security import Refusal, StepUpFields, act, step_up_context, text
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import LANGUAGE_COOKIE, CurrentUser

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
    *,
    errors: dict[str, str] | None = None,
    error_for: str = "",
    step_up: StepUpFields | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The settings page; `error_for` names the form the errors (and step-up) belong to."""
    context = {
        "profile": profile,
        "currencies": currency_choices(),
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LOCALES],
        "errors": errors or {},
        "error_for": error_for,
        "step_up": step_up or StepUpFields(),
        "values": values or {},
    }
    return render(request, "settings/index.html", context, status=422 if errors else 200)


def currency_choices() -> list[tuple[str, str]]:
    """Every currency finhub supports (ISO 4217 with minor units), named in the page's
    language and ordered by code."""
    return [(code, f"{code} · {currency_name(code)}") for code in sorted(iso_currencies())]


@router.post("/profile")
async def save_profile(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    name = text(form, "display_name")
    if not name:
        errors = {"display_name": gettext("Enter your name."), "": gettext("Enter your name.")}
        return await _page(request, user.profile, errors=errors, error_for="profile")
    api = Api(request)
    saved = await act(api, form, lambda: api.patch("/v1/me", {"display_name": name}))
    if isinstance(saved, Refusal):
        values = {"display_name": name}
        return await _page(
            request, user.profile, errors=saved.errors, error_for="profile", values=values
        )
    return redirect(request, HERE, flash=N_("Your profile was saved."))


@router.post("/phone")
async def change_phone(request: Request, user: CurrentUser) -> Response:
    """A new phone number (or none, when the field is left empty); needs step-up."""
    form = await request.form()
    phone = re.sub(r"[\s().-]", "", text(form, "phone"))
    values = {"phone": text(form, "phone")}
    if phone and not PHONE_PATTERN.match(phone):
        message = gettext("Enter the number with its country code, like +66812345678.")
        errors = {"phone": message, "": message}
        return await _page(request, user.profile, errors=errors, error_for="phone", values=values)
    api = Api(request)
    saved = await act(api, form, lambda: api.patch("/v1/me", {"phone": phone or None}))
    if isinstance(saved, Refusal):
        return await _page(
            request,
            user.profile,
            errors=saved.errors,
            error_for="phone",
            step_up=step_up_context("phone", saved),
            values=values,
        )
    flash = N_("Your phone number was saved.") if phone else N_("Your phone number was removed.")
    return redirect(request, HERE, flash=flash)


@router.post("/email")
async def change_email(request: Request, user: CurrentUser) -> Response:
    """Mails a confirmation link to the new address; the switch happens when it is opened."""
    form = await request.form()
    new_email = text(form, "new_email")
    values = {"new_email": new_email}
    if not new_email:
        message = gettext("Enter your new email address.")
        errors = {"new_email": message, "": message}
        return await _page(request, user.profile, errors=errors, error_for="email", values=values)
    api = Api(request)
    sent = await act(api, form, lambda: api.post("/v1/me/email", {"new_email": new_email}))
    if isinstance(sent, Refusal):
        return await _page(
            request,
            user.profile,
            errors=sent.errors,
            error_for="email",
            step_up=step_up_context("email", sent),
            values=values,
        )
    flash = N_("Check your new mailbox: your email changes when you open the link we sent.")
    return redirect(request, HERE, flash=flash)


@router.post("/language")
async def change_language(request: Request, user: CurrentUser) -> Response:
    """Saves the language on the profile (every page follows it) and in the language cookie,
    for the pages shown before signing in."""
    form = await request.form()
    language = text(form, "locale")
    if language not in LOCALES:
        message = gettext("Choose one of the options.")
        errors = {"locale": message, "": message}
        return await _page(request, user.profile, errors=errors, error_for="language")
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
    currency = text(form, "home_currency")
    api = Api(request)
    try:
        await api.patch("/v1/me", {"home_currency": currency})
    except ApiProblem as problem:
        if problem.status == 401 or problem.status >= 500:
            raise
        message = gettext("Choose a supported currency.")
        errors = {"home_currency": message, "": message}
        return await _page(request, user.profile, errors=errors, error_for="currency")
    # A closed wallet keeps its currency; the profile's is what new wallets start with.
    await api.call("PATCH", "/v1/wallets/me", body={"home_currency": currency})
    return redirect(request, HERE, flash=N_("Home currency saved."))
