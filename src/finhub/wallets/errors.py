"""Wallet rule errors (problem+json codes)."""

from __future__ import annotations

from finhub.errors import Conflict, Forbidden, NotFound


class WalletNotFound(NotFound):
    code = "wallet_not_found"


class WalletNotAvailable(Forbidden):
    code = "wallet_not_available"
    title = "A verified email address is needed first"


class WalletClosed(Conflict):
    code = "wallet_closed"
    title = "The wallet is closed"
