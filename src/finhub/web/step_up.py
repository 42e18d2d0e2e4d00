"""Step-up inside a form: when the API answers `step_up_required`, the page shows the form
again with a second-factor field (`partials/step_up.html`); the next submit proves the factor
(`POST /v1/auth/step-up`) and then retries the action, so the person never loses what they
typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finhub.web.client import Api

STEP_UP_METHODS = ("totp", "pin", "recovery_code")


async def prove_from_form(api: Api, form: Mapping[str, Any]) -> None:
    """Presents the step-up answer the form carries, if any (a wrong one raises ApiProblem)."""
    code = str(form.get("step_up_code") or "").strip()
    if not code:
        return
    method = str(form.get("step_up_method") or "totp")
    if method not in STEP_UP_METHODS:
        method = "totp"
    body: dict[str, Any] = {"method": method}
    body["pin" if method == "pin" else "code"] = code
    await api.post("/v1/auth/step-up", body)
