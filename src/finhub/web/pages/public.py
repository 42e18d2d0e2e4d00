"""Pages anyone may use, signed in or not: the language switch."""

from __future__ import annotations

from fastapi import Form, Request
from fastapi.responses import Response

from finhub.web.client import Api
from finhub.web.forms import safe_next
from finhub.web.i18n import LOCALES
from finhub.web.rendering import redirect
from finhub.web.security import web_router
from finhub.web.session import LANGUAGE_COOKIE

router = web_router()
ONE_YEAR = 365 * 24 * 3600


@router.post("/language")
async def change_language(
    request: Request, language: str = Form(...), next: str = Form("/")
) -> Response:
    """Saves the choice in a cookie and, for a signed-in person, on their profile."""
    if language not in LOCALES:
        language = "en"
    response = redirect(request, safe_next(next) or "/")
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=ONE_YEAR,
        samesite="lax",
        httponly=True,
        secure=request.app.state.container.settings.cookie_secure,
    )
    api = Api(request)
    if api.session_token:
        await api.call("PATCH", "/v1/me", body={"locale": language})
    return response
