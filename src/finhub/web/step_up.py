"""Step-up inside a form: when the API answers `step_up_required`, the page shows the form
again with a second-factor field (`partials/step_up.html`); the next submit runs the action
again, and when the API still asks, proves the factor (`POST /v1/auth/step-up`) and retries,
so the person never loses what they typed.

The API never keeps a `step_up_required` answer for idempotent replays, so the retry carries
the same idempotency key as the first try.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response

from finhub.web.client import Api, ApiProblem
from finhub.web.errors import field_errors, message_for
from finhub.web.rendering import render

T = TypeVar("T")
STEP_UP_REQUIRED = "step_up_required"
STEP_UP_METHODS = ("totp", "pin", "recovery_code")


class StepUpFailed(Exception):
    """The second factor the form carried was refused; `problem` says why."""

    def __init__(self, problem: ApiProblem) -> None:
        super().__init__(problem)
        self.problem = problem


def step_up_code(form: Mapping[str, Any]) -> str:
    """The step-up answer the form carries ("" when none)."""
    return str(form.get("step_up_code") or "").strip()


async def prove_from_form(api: Api, form: Mapping[str, Any]) -> None:
    """Presents the step-up answer the form carries, if any (a wrong one raises ApiProblem)."""
    code = step_up_code(form)
    if not code:
        return
    method = str(form.get("step_up_method") or "totp")
    if method not in STEP_UP_METHODS:
        method = "totp"
    body: dict[str, Any] = {"method": method}
    body["pin" if method == "pin" else "code"] = code
    await api.post("/v1/auth/step-up", body)


async def with_step_up(api: Api, form: Mapping[str, Any], action: Callable[[], Awaitable[T]]) -> T:
    """Runs `action`; when the API asks for step-up and the form carries an answer, proves it
    and runs the action once more. The action goes first so a code is only spent when needed
    (a used authenticator code can't be used twice).

    Raises the action's ApiProblem (`step_up_required` when the form had no answer), or
    StepUpFailed when the answer was refused."""
    try:
        return await action()
    except ApiProblem as problem:
        if problem.code != STEP_UP_REQUIRED or not step_up_code(form):
            raise
    try:
        await prove_from_form(api, form)
    except ApiProblem as problem:
        raise StepUpFailed(problem) from problem
    return await action()


# --- forms that show why they were refused (settings and security) ------------------------------


@dataclass
class Refusal:
    """The API refused an action: messages per field ("" = the whole form), whether the form
    should ask the person to confirm it's them (step-up), and the action's own problem (None
    when the refusal came from the step-up answer or from the page's own checks)."""

    errors: dict[str, str]
    step_up: bool = False
    problem: ApiProblem | None = None


@dataclass
class StepUpFields:
    """Which form on a page shows the step-up fields (only one may: their ids are fixed)."""

    form: str = ""
    errors: dict[str, str] = field(default_factory=dict)


async def act(
    api: Api,
    form: Mapping[str, Any],
    action: Callable[[], Awaitable[T]],
    fields: Mapping[str, str] | None = None,
    messages: Mapping[str, object] | None = None,
) -> T | Refusal:
    """Runs `action` with step-up (`with_step_up`); a refusal comes back as a Refusal, with the
    messages of `errors.MESSAGES` (or of `messages`, by problem code) on the fields `fields`
    maps problem codes to. Signed out or a server failure is raised: the app's error handling
    shows those pages."""
    try:
        return await with_step_up(api, form, action)
    except StepUpFailed as failed:
        reraise_unexpected(failed.problem)
        message = message_for(failed.problem)
        return Refusal({"step_up_code": message, "": message}, step_up=True)
    except ApiProblem as problem:
        reraise_unexpected(problem)
        if problem.code == STEP_UP_REQUIRED:
            return Refusal({"": message_for(problem)}, step_up=True, problem=problem)
        errors = field_errors(problem, dict(fields or {}))
        own = (messages or {}).get(problem.code)
        if own is not None:
            errors = dict.fromkeys(errors, str(own))
        return Refusal(errors, problem=problem)


def reraise_unexpected(problem: ApiProblem) -> None:
    """Signed out or a server failure is no refusal to show in the form: raised again, the
    app's error handling shows the sign-in or error page."""
    if problem.status == 401 or problem.status >= 500:
        raise problem


def step_up_context(form: str, refusal: Refusal | None) -> StepUpFields:
    if refusal is None or not refusal.step_up:
        return StepUpFields()
    return StepUpFields(form, refusal.errors)


def render_form(
    request: Request,
    template: str,
    context: dict[str, Any],
    refusal: Refusal | None = None,
    form: str = "",
) -> Response:
    """A page of forms, showing why the form named `form` was refused (if it was): `errors`,
    `error_for` (the form they belong to) and `step_up` (the step-up fields, in that form when
    the API asked for them). A refused form answers 422."""
    errors = refusal.errors if refusal is not None else {}
    shown = {"errors": errors, "error_for": form, "step_up": step_up_context(form, refusal)}
    return render(request, template, {**context, **shown}, status=422 if errors else 200)
