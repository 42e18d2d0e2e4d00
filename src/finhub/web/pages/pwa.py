"""The installable app: the web app manifest, the service worker and the page it shows offline.

The worker is served from the site's root (`/sw.js`) so its scope is the whole site. It keeps
only what can never be personal: the static files and the offline page, which is rendered
without the person (no name, no balances, no CSRF token). Pages and API answers always come
from the network. The server puts in front of the worker's script the cache's name, which
changes with every release of what it keeps, so an update replaces the old cache.
"""

from __future__ import annotations

import hashlib
from functools import cache

from fastapi import Query, Request
from fastapi.responses import Response

from finhub.kit.jsonutil import dumps
from finhub.web.i18n import LOCALE_DIR, LOCALES, current_locale, gettext
from finhub.web.rendering import STATIC_DIR, TEMPLATES_DIR, page_scripts, render, static_url
from finhub.web.security import web_router

router = web_router()

THEME_COLOR = "#1d4ed8"  # the layout's theme-color
BACKGROUND_COLOR = "#ffffff"
WORKER_SOURCE = STATIC_DIR / "sw.js"
OFFLINE_PATH = "/offline"
# Everything the offline page needs to look right with no network: the layout's styles,
# scripts and icons, at the versioned URLs the layout uses.
PRECACHED_STATIC = (
    "vendor/pico-2.1.1/pico.min.css",
    "css/app.css",
    "vendor/htmx-2.0.11/htmx.min.js",
    "img/icon-192.png",
    "img/icon-512.png",
)
ICONS = ("img/icon-192.png", "img/icon-512.png")


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    body = {
        "id": "/dashboard",
        "name": "finhub",
        "short_name": "finhub",
        "description": gettext("Your wallet for many currencies: send, request and exchange."),
        "lang": current_locale.get(),
        "dir": "ltr",
        "start_url": "/dashboard",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "categories": ["finance"],
        "icons": [
            {"src": "/static/" + path, "sizes": _size(path), "type": "image/png", "purpose": "any"}
            for path in ICONS
        ],
    }
    return Response(
        dumps(body),
        media_type="application/manifest+json",
        headers={"cache-control": "no-cache", "vary": "Cookie, Accept-Language"},
    )


def _size(path: str) -> str:
    pixels = path.rsplit("-", 1)[1].split(".")[0]
    return f"{pixels}x{pixels}"


@router.get("/sw.js")
async def service_worker() -> Response:
    # no-cache: the browser asks every time it checks for an update, so a new release is
    # picked up on the next visit.
    return Response(
        worker_script(),
        media_type="application/javascript",
        headers={"cache-control": "no-cache"},
    )


@cache
def worker_script() -> str:
    precache = sorted(
        {static_url(path) for path in (*PRECACHED_STATIC, *page_scripts())}
        | {"/static/" + path for path in ICONS}  # the manifest's unversioned icons
    )
    config = {
        "cache": "finhub-static-" + _release(precache),
        "precache": precache,
        "offline": OFFLINE_PATH,
        "languages": list(LOCALES),
    }
    return f"const CONFIG = {dumps(config).decode()};\n" + WORKER_SOURCE.read_text()


def _release(precache: list[str]) -> str:
    """A digest of everything the worker keeps: the static files (their URLs carry their
    content hashes), the offline page's templates and messages, and the worker itself."""
    digest = hashlib.sha256(WORKER_SOURCE.read_bytes())
    digest.update("\n".join(precache).encode())
    for template in ("layout.html", "pwa/offline.html"):
        digest.update((TEMPLATES_DIR / template).read_bytes())
    for catalogue in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        if catalogue.stem in ("common", "pwa"):
            digest.update(catalogue.read_bytes())
    return digest.hexdigest()[:16]


@router.get(OFFLINE_PATH)
async def offline(request: Request, lang: str | None = Query(None, max_length=16)) -> Response:
    """The page the worker shows for a navigation without network. It is stored on the
    device, so it carries nothing of the person: no session-bound CSRF token, no one-time
    notice, and the layout gets no signed-in user. `lang` asks for another language than the
    browser's (the worker keeps the offline page in the language the person last used)."""
    if lang in LOCALES:
        current_locale.set(lang)
    nobody = {"user": None, "unread": 0, "csrf_token": "", "flash": None}
    response = render(request, "pwa/offline.html", nobody)
    response.headers["content-language"] = current_locale.get()
    return response
