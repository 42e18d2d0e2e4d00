"""Errors as RFC 9457 problem details with a stable machine-readable `code`.

Every rule a request can break raises a `FinhubError` subclass (or one built here); the app turns
it into an `application/problem+json` response. A broken business rule is a 4xx, never a 500.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://finhub.dev/problems/"


class FinhubError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            problem["detail"] = self.detail
        if instance:
            problem["instance"] = instance
        problem.update(self.extra)
        return problem


class NotFound(FinhubError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(FinhubError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unprocessable(FinhubError):
    status = 422
    code = "unprocessable"
    title = "Unprocessable request"


class Unauthorized(FinhubError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(FinhubError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class TooManyAttempts(FinhubError):
    """Sent with a `Retry-After` header (seconds) by the app."""

    status = 429
    code = "too_many_attempts"
    title = "Too many attempts"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"Too many attempts; try again in {retry_after} seconds.",
            retry_after=retry_after,
        )
        self.retry_after = retry_after
