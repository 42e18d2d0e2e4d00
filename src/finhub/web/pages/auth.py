"""Landing, sign-up, email verification, sign-in (password, second factor, passkey), sign-out,
password reset and the first-run tour.

Every step is a call of the API's `/v1/auth` endpoints; these pages only carry the answers to
the browser. The session and device cookies the API sets are relayed as they are. Between the
password and the second factor, the API's sign-in challenge is kept in a short-lived HttpOnly,
SameSite=Strict cookie signed with the server's key, so it is never in a URL or in a page.
Answers about an address mirror the API's: they never tell whether it has an account.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.datastructures import FormData

from finhub.identity.consents import PRIVACY_VERSION, TERMS_VERSION
from finhub.identity.sessions import SESSION_COOKIE
from finhub.web.client import Api, ApiProblem, ApiResult, cookie_value, relay_cookies
from finhub.web.errors import field_errors, message_for
from finhub.web.forms import form_exact, form_text, safe_next
from finhub.web.i18n import gettext, ngettext
from finhub.web.rendering import N_, redirect, render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser

router = web_router()

CHALLENGE_COOKIE = "fh_challenge"
CHALLENGE_MAX_AGE = 5 * 60  # the API's sign-in challenge lives five minutes
CHALLENGE_PATH = "/sign-in"
# Set when an address is confirmed in this browser: the next sign-in opens the tour.
WELCOME_COOKIE = "fh_welcome"
WELCOME_MAX_AGE = 30 * 24 * 3600
# Set when the tour was finished or skipped in this browser: it isn't offered again here.
TOURED_COOKIE = "fh_toured"
TOURED_MAX_AGE = 365 * 24 * 3600
# The address just signed up with, to show on the "check your email" page and prefill resend.
SIGN_UP_EMAIL_COOKIE = "fh_sign_up_email"
SIGN_UP_EMAIL_MAX_AGE = 60 * 60
HOME = "/dashboard"
PASSWORD_CODES = (
    "password_too_short",
    "password_too_long",
    "password_too_common",
    "password_contains_personal_info",
)
WELCOME_STEPS = ("wallet", "add-money", "two-step", "send")


# --- small helpers ----------------------------------------------------------------------------


def _cookie_secure(request: Request) -> bool:
    return bool(request.app.state.container.settings.cookie_secure)


def _set_private_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
    )


def _challenge_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.container.secret_key, salt="sign-in-challenge")


def _read_challenge(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(CHALLENGE_COOKIE)
    if not raw:
        return None
    try:
        challenge = _challenge_serializer(request).loads(raw, max_age=CHALLENGE_MAX_AGE)
    except BadData:
        return None
    return challenge if isinstance(challenge, dict) and challenge.get("token") else None


def _too_many_attempts(problem: ApiProblem) -> str:
    seconds = problem.problem.get("retry_after")
    if not isinstance(seconds, int) or seconds <= 0:
        return message_for(problem)
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many attempts, so this is paused for now. Try again in %(num)d minute.",
        "Too many attempts, so this is paused for now. Try again in %(num)d minutes.",
        minutes,
    ) % {"num": minutes}


def _problem_errors(problem: ApiProblem, fields: dict[str, str] | None = None) -> dict[str, str]:
    if problem.code == "too_many_attempts":
        return {"": _too_many_attempts(problem)}
    return field_errors(problem, fields)


async def _signed_in(api: Api) -> bool:
    """Whether the browser's session cookie is a live session (checked by the API)."""
    if not api.session_token:
        return False
    return (await api.call("GET", "/v1/me")).status == 200


# --- landing ----------------------------------------------------------------------------------


@router.get("/")
async def landing(request: Request) -> Response:
    if await _signed_in(Api(request)):
        return redirect(request, HOME)
    return render(request, "auth/landing.html")


# --- sign-up and email verification -----------------------------------------------------------


def _sign_up_page(
    request: Request, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "terms_version": TERMS_VERSION,
        "privacy_version": PRIVACY_VERSION,
    }
    return render(request, "auth/sign_up.html", context, status=status)


@router.get("/sign-up")
async def sign_up_form(request: Request) -> Response:
    if await _signed_in(Api(request)):
        return redirect(request, HOME)
    return _sign_up_page(request, {}, {})


def _sign_up_body(form: FormData) -> dict[str, Any]:
    return {
        "email": form_text(form, "email"),
        "display_name": form_text(form, "display_name") or None,
        "password": form_exact(form, "password"),
        # The versions shown on the form: if the documents changed since, the API refuses
        # with `consent_version_mismatch` rather than recording consent to unseen text.
        "accept_terms_version": form_text(form, "terms_version") or TERMS_VERSION,
        "accept_privacy_version": form_text(form, "privacy_version") or PRIVACY_VERSION,
        "marketing_opt_in": form.get("marketing_opt_in") == "yes",
    }


def _missing_consents(form: FormData) -> dict[str, str]:
    errors: dict[str, str] = {}
    if form.get("accept_terms") != "yes":
        errors["accept_terms"] = gettext("Accept the terms of service to open an account.")
    if form.get("accept_privacy") != "yes":
        errors["accept_privacy"] = gettext("Accept the privacy policy to open an account.")
    return errors


@router.post("/sign-up")
async def sign_up(request: Request) -> Response:
    form = await request.form()
    body = _sign_up_body(form)
    values = {**body, "accept_terms": form.get("accept_terms") == "yes"}
    values["accept_privacy"] = form.get("accept_privacy") == "yes"
    errors = _missing_consents(form)
    if errors:
        return _sign_up_page(request, values, errors, status=422)
    try:
        await Api(request).post("/v1/auth/sign-up", body)
    except ApiProblem as problem:
        fields = dict.fromkeys(PASSWORD_CODES, "password")
        return _sign_up_page(request, values, _problem_errors(problem, fields), status=422)
    response = redirect(request, "/sign-up/check-email")
    _set_private_cookie(
        request, response, SIGN_UP_EMAIL_COOKIE, quote(body["email"]), SIGN_UP_EMAIL_MAX_AGE
    )
    return response


def _sign_up_email(request: Request) -> str:
    return unquote(request.cookies.get(SIGN_UP_EMAIL_COOKIE, ""))


@router.get("/sign-up/check-email")
async def check_email(request: Request) -> Response:
    email = _sign_up_email(request)
    return render(request, "auth/check_email.html", {"email": email, "errors": {}})


@router.get("/verify-email")
async def verify_email_form(request: Request, token: str = "") -> Response:
    """Shows a button that posts the token: link scanners and prefetchers that open the link
    don't use it up."""
    state = "confirm" if token else "missing"
    context = {"state": state, "token": token, "errors": {}, "email": ""}
    return render(request, "auth/verify_email.html", context)


@router.post("/verify-email")
async def verify_email(request: Request) -> Response:
    form = await request.form()
    token = form_text(form, "token")
    api = Api(request)
    try:
        await api.post("/v1/auth/verify-email", {"token": token})
    except ApiProblem as problem:
        failed = {"state": "failed", "token": "", "errors": {}, "message": message_for(problem)}
        return render(request, "auth/verify_email.html", failed, status=422)
    signed_in = await _signed_in(api)
    context: dict[str, Any] = {"state": "verified", "token": "", "errors": {}}
    context["signed_in"] = signed_in
    response = render(request, "auth/verify_email.html", context)
    if not signed_in:
        _set_private_cookie(request, response, WELCOME_COOKIE, "1", WELCOME_MAX_AGE)
    return response


@router.post("/verify-email/resend")
async def resend_verification(request: Request) -> Response:
    form = await request.form()
    email = form_text(form, "email")
    try:
        await Api(request).post("/v1/auth/verify-email/resend", {"email": email})
    except ApiProblem as problem:
        context = {"email": email, "errors": _problem_errors(problem)}
        return render(request, "auth/check_email.html", context, status=422)
    response = redirect(
        request,
        "/sign-up/check-email",
        flash=N_("If that address is waiting to be confirmed, a new link is on its way."),
    )
    _set_private_cookie(
        request, response, SIGN_UP_EMAIL_COOKIE, quote(email), SIGN_UP_EMAIL_MAX_AGE
    )
    return response


# --- sign-in ----------------------------------------------------------------------------------


def _sign_in_page(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    **extra: Any,
) -> Response:
    context = {"values": values, "errors": errors, **extra}
    return render(request, "auth/sign_in.html", context, status=status)


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "") -> Response:
    next_path = safe_next(next) or ""
    if await _signed_in(Api(request)):
        return redirect(request, next_path or HOME)
    return _sign_in_page(request, {"next": next_path}, {})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    email = form_text(form, "email")
    next_path = safe_next(form_text(form, "next")) or ""
    values = {"email": email, "next": next_path}
    api = Api(request)
    body = {"email": email, "password": form_exact(form, "password")}
    result = await api.call("POST", "/v1/auth/sign-in", body=body)
    if not result.ok:
        problem = ApiProblem(result)
        unverified = problem.code == "email_not_verified"
        return _sign_in_page(
            request, values, _problem_errors(problem), status=422, unverified=unverified
        )
    answer = result.json() or {}
    if answer.get("object") == "sign_in_challenge":
        return _start_second_factor(request, answer, next_path)
    return await _signed_in_response(request, api, result, next_path)


def _start_second_factor(request: Request, answer: dict[str, Any], next_path: str) -> Response:
    target = "/sign-in/second-factor" + (f"?next={quote(next_path)}" if next_path else "")
    response = redirect(request, target)
    challenge = {"token": answer["challenge_token"], "methods": list(answer.get("methods") or [])}
    _set_private_cookie(
        request,
        response,
        CHALLENGE_COOKIE,
        _challenge_serializer(request).dumps(challenge),
        CHALLENGE_MAX_AGE,
        path=CHALLENGE_PATH,
    )
    return response


async def _destination(request: Request, api: Api, token: str | None, next_path: str) -> str:
    """Where a fresh session goes: the page asked for, else the tour for someone new (just
    confirmed their address here, or nothing has happened in their wallet yet and they haven't
    seen the tour in this browser), else the dashboard."""
    if next_path:
        return next_path
    if request.cookies.get(WELCOME_COOKIE):
        return "/welcome"
    if request.cookies.get(TOURED_COOKIE) or token is None:
        return HOME
    activity = await api.call("GET", "/v1/wallets/me/activity", params={"limit": 1}, token=token)
    if activity.ok and not (activity.json() or {}).get("data"):
        return "/welcome"
    return HOME


async def _signed_in_response(
    request: Request, api: Api, result: ApiResult, next_path: str, *, as_json: bool = False
) -> Response:
    """The browser takes the API's session and device cookies and moves on."""
    target = await _destination(request, api, cookie_value(result, SESSION_COOKIE), next_path)
    response: Response = (
        JSONResponse({"redirect": target}) if as_json else redirect(request, target)
    )
    relay_cookies(result, response)
    _forget_challenge(request, response)
    return response


# --- the second factor ------------------------------------------------------------------------


def _second_factor_page(
    request: Request,
    challenge: dict[str, Any],
    next_path: str,
    errors: dict[str, str],
    status: int = 200,
    method: str = "totp",
) -> Response:
    context = {
        "methods": challenge.get("methods") or [],
        "next": next_path,
        "errors": errors,
        "method": method,
    }
    return render(request, "auth/second_factor.html", context, status=status)


def _start_again(request: Request, next_path: str) -> Response:
    target = "/sign-in" + (f"?next={quote(next_path)}" if next_path else "")
    return redirect(
        request, target, flash=N_("This sign-in attempt has ended. Enter your password again.")
    )


@router.get("/sign-in/second-factor")
async def second_factor_form(request: Request, next: str = "") -> Response:
    next_path = safe_next(next) or ""
    challenge = _read_challenge(request)
    if challenge is None:
        return _start_again(request, next_path)
    return _second_factor_page(request, challenge, next_path, {})


@router.post("/sign-in/second-factor")
async def second_factor(request: Request) -> Response:
    form = await request.form()
    next_path = safe_next(form_text(form, "next")) or ""
    challenge = _read_challenge(request)
    if challenge is None:
        return _start_again(request, next_path)
    method = "recovery_code" if form_text(form, "method") == "recovery_code" else "totp"
    field = "recovery_code" if method == "recovery_code" else "code"
    body = {"challenge_token": challenge["token"], "method": method, "code": form_text(form, field)}
    api = Api(request)
    result = await api.call("POST", "/v1/auth/sign-in/second-factor", body=body)
    if result.ok:
        return await _signed_in_response(request, api, result, next_path)
    problem = ApiProblem(result)
    if problem.code == "invalid_token":
        return _start_again(request, next_path)
    if problem.code == "too_many_attempts":
        return _locked_out(request, problem, next_path)
    errors = _problem_errors(problem, _second_factor_fields(field))
    if problem.code == "validation_error":
        errors = {field: gettext("Enter the code."), "": errors.get("", "")}
    return _second_factor_page(request, challenge, next_path, errors, 422, method)


def _locked_out(request: Request, problem: ApiProblem, next_path: str) -> Response:
    """A lockout retires the sign-in attempt: back to the password, with the wait shown."""
    errors = _problem_errors(problem)
    response = _sign_in_page(request, {"next": next_path}, errors, status=422)
    _forget_challenge(request, response)
    return response


def _forget_challenge(request: Request, response: Response) -> None:
    response.delete_cookie(
        CHALLENGE_COOKIE, path=CHALLENGE_PATH, httponly=True, secure=_cookie_secure(request)
    )


def _second_factor_fields(field: str) -> dict[str, str]:
    codes = ("invalid_second_factor", "code_already_used", "factor_not_enrolled")
    return dict.fromkeys(codes, field)


# --- passkeys (JSON for static/js/auth.js) ----------------------------------------------------


def _json_problem(problem: ApiProblem) -> Response:
    message = (
        _too_many_attempts(problem) if problem.code == "too_many_attempts" else message_for(problem)
    )
    status = problem.status if problem.status >= 400 else 400
    return JSONResponse({"error": message, "code": problem.code}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@router.post("/sign-in/passkey/options")
async def passkey_options(request: Request) -> Response:
    result = await Api(request).call("POST", "/v1/auth/passkeys/sign-in-options")
    if not result.ok:
        return _json_problem(ApiProblem(result))
    return JSONResponse(result.json())


@router.post("/sign-in/passkey")
async def passkey_sign_in(request: Request) -> Response:
    body = await _json_body(request)
    next_path = safe_next(str(body.get("next") or "")) or ""
    api = Api(request)
    payload = {"credential": body.get("credential")}
    result = await api.call("POST", "/v1/auth/passkeys/sign-in", body=payload)
    if not result.ok:
        return _json_problem(ApiProblem(result))
    return await _signed_in_response(request, api, result, next_path, as_json=True)


def _expired_challenge() -> Response:
    message = gettext("This sign-in attempt has ended. Enter your password again.")
    return JSONResponse({"error": message, "code": "invalid_token"}, status_code=400)


@router.post("/sign-in/second-factor/passkey/options")
async def second_factor_passkey_options(request: Request) -> Response:
    challenge = _read_challenge(request)
    if challenge is None:
        return _expired_challenge()
    body = {"challenge_token": challenge["token"]}
    path = "/v1/auth/sign-in/second-factor/passkey-options"
    result = await Api(request).call("POST", path, body=body)
    if not result.ok:
        return _json_problem(ApiProblem(result))
    return JSONResponse(result.json())


@router.post("/sign-in/second-factor/passkey")
async def second_factor_passkey(request: Request) -> Response:
    challenge = _read_challenge(request)
    if challenge is None:
        return _expired_challenge()
    body = await _json_body(request)
    next_path = safe_next(str(body.get("next") or "")) or ""
    payload = {
        "challenge_token": challenge["token"],
        "method": "passkey",
        "credential": body.get("credential"),
    }
    api = Api(request)
    result = await api.call("POST", "/v1/auth/sign-in/second-factor", body=payload)
    if not result.ok:
        return _json_problem(ApiProblem(result))
    return await _signed_in_response(request, api, result, next_path, as_json=True)


# --- sign-out ---------------------------------------------------------------------------------


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    api = Api(request)
    result = await api.call("POST", "/v1/auth/sign-out") if api.session_token else None
    response = redirect(request, "/", flash=N_("You're signed out."))
    if result is not None:
        relay_cookies(result, response)
    # Whatever the API said (the session may have ended already), this browser forgets it.
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_cookie_secure(request)
    )
    return response


# --- password reset ---------------------------------------------------------------------------


@router.get("/forgot-password")
async def forgot_password_form(request: Request) -> Response:
    return render(request, "auth/forgot_password.html", {"values": {}, "errors": {}})


@router.post("/forgot-password")
async def forgot_password(request: Request) -> Response:
    form = await request.form()
    email = form_text(form, "email")
    try:
        await Api(request).post("/v1/auth/password-reset", {"email": email})
    except ApiProblem as problem:
        context = {"values": {"email": email}, "errors": _problem_errors(problem)}
        return render(request, "auth/forgot_password.html", context, status=422)
    return redirect(request, "/forgot-password/sent")


@router.get("/forgot-password/sent")
async def forgot_password_sent(request: Request) -> Response:
    return render(request, "auth/forgot_password_sent.html")


@router.get("/reset-password")
async def reset_password_form(request: Request, token: str = "") -> Response:
    if not token:
        # Mails about a sign-up with a taken address link here without a token.
        return redirect(request, "/forgot-password")
    return render(request, "auth/reset_password.html", {"token": token, "errors": {}})


@router.post("/reset-password")
async def reset_password(request: Request) -> Response:
    form = await request.form()
    token = form_text(form, "token")
    body = {"token": token, "new_password": form_exact(form, "new_password")}
    try:
        await Api(request).post("/v1/auth/password-reset/confirm", body)
    except ApiProblem as problem:
        fields = dict.fromkeys(PASSWORD_CODES, "new_password")
        errors = _problem_errors(problem, fields)
        context = {"token": token, "errors": errors, "expired": problem.code == "invalid_token"}
        return render(request, "auth/reset_password.html", context, status=422)
    response = redirect(
        request, "/sign-in", flash=N_("Your password is changed. Sign in with the new one.")
    )
    # The reset ended every session of the account, this browser's included.
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_cookie_secure(request)
    )
    return response


# --- the first-run tour -----------------------------------------------------------------------


@router.get("/welcome")
async def welcome(request: Request, user: CurrentUser, step: str = "1") -> Response:
    # isdecimal, not isdigit: int() refuses "²"; and a few digits at most.
    number = int(step) if step.isdecimal() and len(step) <= 2 else 1
    number = min(max(number, 1), len(WELCOME_STEPS))
    context = {
        "step": number,
        "steps": len(WELCOME_STEPS),
        "topic": WELCOME_STEPS[number - 1],
        "two_step_on": bool(user.second_factor_methods),
    }
    response = render(request, "auth/welcome.html", context)
    if WELCOME_COOKIE in request.cookies:
        # Offered once after confirming the address; finishing or skipping it is remembered.
        response.delete_cookie(WELCOME_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/welcome/done")
async def welcome_done(request: Request, user: CurrentUser) -> Response:
    response = redirect(request, HOME)
    response.set_cookie(
        TOURED_COOKIE,
        "1",
        max_age=TOURED_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(request),
    )
    return response
