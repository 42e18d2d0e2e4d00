"""Landing, sign-up, email verification, sign-in, password reset and the first-run tour."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from finhub.web.rendering import render
from finhub.web.security import web_router

router = web_router()


@router.get("/")
async def landing(request: Request) -> Response:
    return render(request, "auth/landing.html")
