"""Errors of people's accounts, each with the stable `code` the API answers with."""

from __future__ import annotations

from finhub.errors import Forbidden, NotFound, Unauthorized, Unprocessable


class PasswordTooShort(Unprocessable):
    code = "password_too_short"
    title = "The password is too short"


class PasswordTooLong(Unprocessable):
    code = "password_too_long"
    title = "The password is too long"


class PasswordTooCommon(Unprocessable):
    code = "password_too_common"
    title = "The password is too common"


class PasswordContainsPersonalInfo(Unprocessable):
    code = "password_contains_personal_info"
    title = "The password contains your email address or name"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Invalid email or password"


class WrongCurrentPassword(Forbidden):
    code = "invalid_credentials"
    title = "The current password is wrong"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    title = "The email address is not verified yet"


class AccountDisabled(Forbidden):
    code = "account_disabled"
    title = "The account is disabled"


class ConsentVersionMismatch(Unprocessable):
    code = "consent_version_mismatch"
    title = "Not the current version of the document"


class UnsupportedCurrency(Unprocessable):
    code = "unsupported_currency"
    title = "Not an ISO 4217 currency"


class SessionNotFound(NotFound):
    code = "not_found"
    title = "No such session"
