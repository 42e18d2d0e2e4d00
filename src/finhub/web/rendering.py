"""Rendering pages: the Jinja2 environment, the page context every template gets, redirects and
one-time notices ("flash") that survive a redirect."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from finhub import __version__
from finhub.web import i18n
from finhub.web.security import csrf_token
from finhub.web.session import UNREAD, WEB_USER

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
FLASH_COOKIE = "fh_flash"


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Marks a message for translation where it is defined; it is translated when shown."""
    return message


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "svg", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters.update(
        money=i18n.format_money,
        datetime=i18n.format_datetime,
        date=i18n.format_date,
        currency_name=i18n.currency_name,
    )
    env.globals.update(static=static_url, SCRIPTS=page_scripts(), **i18n.template_globals())
    return env


VENDOR_SCRIPTS = (
    "vendor/chartjs-4.6.1/chart.umd.min.js",
    "vendor/qr-scanner-1.4.2/qr-scanner.umd.min.js",
    "vendor/simplewebauthn-browser-13.3.0/index.umd.min.js",
)


def page_scripts() -> list[str]:
    """Every script the layout loads: the vendored libraries, then app.js, then each page
    group's own file under static/js/."""
    own = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js") if p.name != "app.js")
    return [*VENDOR_SCRIPTS, "js/app.js", *(f"js/{name}" for name in own)]


@cache
def static_url(path: str) -> str:
    """`/static/<path>?v=<content hash>`: browsers may cache static files for good."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


ENV = _environment()


def page_context(request: Request) -> dict[str, Any]:
    return {
        "request": request,
        "user": request.scope.get(WEB_USER),
        "unread": request.scope.get(UNREAD, 0),
        "csrf_token": csrf_token(request),
        "locale": i18n.current_locale.get(),
        "flash": _read_flash(request),
        "path": request.url.path,
        "version": __version__,
    }


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A whole page, never cached by the browser; HTMX swaps the part it targets."""
    values = page_context(request)
    values.update(context or {})
    html = ENV.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["cache-control"] = "no-store"
    if values["flash"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, *, flash: str | None = None) -> Response:
    """See-other to `url`; from HTMX, an `HX-Location` so the swap stays a page change.
    `flash` is an English message marked with `N_`, shown translated on the next page."""
    if request.headers.get("hx-request") and not request.headers.get("hx-boosted"):
        response: Response = Response(status_code=204, headers={"HX-Location": url})
    else:
        response = Response(status_code=303, headers={"location": url})
    if flash:
        signer = URLSafeSerializer(request.app.state.container.secret_key, salt="flash")
        response.set_cookie(
            FLASH_COOKIE,
            signer.dumps(flash),
            httponly=True,
            samesite="lax",
            secure=request.app.state.container.settings.cookie_secure,
        )
    return response


def _read_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    signer = URLSafeSerializer(request.app.state.container.secret_key, salt="flash")
    try:
        message = signer.loads(raw)
    except BadSignature:
        return None
    return i18n.gettext(message) if isinstance(message, str) else None
