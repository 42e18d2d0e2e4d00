"""The "More" menu of the phone's tab bar: everything that has no tab of its own."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from finhub.web.i18n import lazy_gettext as _
from finhub.web.rendering import render
from finhub.web.security import web_router
from finhub.web.session import CurrentUser

router = web_router()

# (section, [(path, label, what it is for)]), in the order a person looks for them.
MENU = (
    (
        _("Move money"),
        (
            ("/request", _("Request money"), _("Ask someone to pay you, with a link or a QR code")),
            ("/top-up", _("Top up"), _("Add money by card or bank transfer")),
            ("/withdraw", _("Withdraw"), _("Send money to your bank account")),
            ("/exchange", _("Exchange"), _("Convert between your currencies")),
            ("/scheduled", _("Scheduled payments"), _("Payments that repeat or go out later")),
            ("/payees", _("Payees"), _("The bank accounts you withdraw to")),
        ),
    ),
    (
        _("You"),
        (
            ("/inbox", _("Inbox"), _("Messages and notifications")),
            ("/settings", _("Settings"), _("Profile, security, language and currency")),
            ("/help", _("Help"), _("Answers and contact with support")),
        ),
    ),
)


@router.get("/more")
async def more(request: Request, user: CurrentUser) -> Response:
    return render(request, "more/index.html", {"menu": MENU})
