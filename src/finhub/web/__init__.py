"""The web app: server-rendered pages (Jinja2 + HTMX) served by `finhub serve` itself.

Each module in `finhub.web.pages` holds one group of pages and exposes a `router` built with
`web_router()`; `install` includes them all. Templates live in `templates/<group>/`, scripts in
`static/js/<group>.js` (every file there is loaded by the layout and binds to its pages'
`data-*` attributes), and messages in `locale/<language>/LC_MESSAGES/<group>.po`.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from finhub.config import Settings
from finhub.web import pages
from finhub.web.client import ApiProblem
from finhub.web.errors import message_for
from finhub.web.rendering import STATIC_DIR, render
from finhub.web.security import CsrfRejected, SecurityHeadersMiddleware
from finhub.web.session import SignInRequired, next_path


def install(app: FastAPI, settings: Settings) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware, cookie_secure=settings.cookie_secure)
    _install_error_pages(app)
    for module in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
        page_module = importlib.import_module(f"{pages.__name__}.{module.name}")
        router = getattr(page_module, "router", None)
        if router is not None:
            app.include_router(router)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, error: SignInRequired) -> Response:
        target = "/sign-in" if error.next_path in ("", "/") else f"/sign-in?next={error.next_path}"
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return Response(status_code=303, headers={"location": target})

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, error: CsrfRejected) -> Response:
        from finhub.web.i18n import gettext

        message = gettext("This page has expired. Reload it and try again.")
        return render(request, "error.html", {"message": message}, status=403)

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, problem: ApiProblem) -> Response:
        if problem.status == 401:
            return await sign_in_required(request, SignInRequired(next_path(request)))
        status = problem.status if problem.status >= 400 else 500
        return render(request, "error.html", {"message": message_for(problem)}, status=status)
