"""Who is using the web app: the signed-in person (from the session cookie, checked by the API
on every page) and the language pages are shown in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from finhub.identity.sessions import SESSION_COOKIE
from finhub.web import i18n
from finhub.web.client import Api

LANGUAGE_COOKIE = "fh_lang"
# Kept in the request's own scope, not `request.state`, which the ASGI server may share with
# the app's lifespan state (and so with every other request).
WEB_USER = "finhub.web_user"
UNREAD = "finhub.unread"


class SignInRequired(Exception):
    """The page needs a signed-in person; the handler sends the browser to sign in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass
class WebUser:
    id: str
    email: str
    display_name: str
    locale: str
    home_currency: str
    email_verified: bool
    second_factor_methods: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)


async def choose_locale(request: Request) -> None:
    """The language of an anonymous page: the language cookie, else the browser's."""
    i18n.current_locale.set(
        i18n.negotiate(
            None, request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
    )


async def current_user(request: Request) -> WebUser:
    known: WebUser | None = request.scope.get(WEB_USER)
    if known is not None:
        return known
    if SESSION_COOKIE not in request.cookies:
        raise SignInRequired(next_path(request))
    api = Api(request)
    result = await api.call("GET", "/v1/me")
    if result.status != 200:
        raise SignInRequired(next_path(request))
    profile = result.json()
    user = WebUser(
        id=profile["id"],
        email=profile["email"],
        display_name=profile.get("display_name") or "",
        locale=profile.get("locale") or i18n.DEFAULT_LOCALE,
        home_currency=profile.get("home_currency") or "EUR",
        email_verified=bool(profile.get("email_verified")),
        second_factor_methods=list(profile.get("second_factor_methods") or []),
        profile=profile,
    )
    request.scope[WEB_USER] = user
    i18n.current_locale.set(user.locale)
    unread = await api.call("GET", "/v1/me/notifications/unread-count")
    if unread.ok:
        request.scope[UNREAD] = (unread.json() or {}).get("unread", 0)
    return user


def next_path(request: Request) -> str:
    """The page to come back to after signing in: always a path on this site."""
    path = request.url.path
    return quote(path, safe="/") if path.startswith("/") and not path.startswith("//") else "/"


CurrentUser = Annotated[WebUser, Depends(current_user)]
