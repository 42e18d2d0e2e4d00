"""Password rules and hashing (finhub.identity.passwords) and the response cookies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from finhub.config import Settings
from finhub.identity import passwords
from finhub.identity.errors import (
    PasswordContainsPersonalInfo,
    PasswordTooCommon,
    PasswordTooLong,
    PasswordTooShort,
)
from finhub.identity.service import SignedIn, sign_in_response
from finhub.identity.sessions import NewSession


def test_the_blocklist_ships_with_the_app() -> None:
    blocklist = passwords.blocklist()
    assert len(blocklist) >= 10_000
    assert "1qaz2wsx3edc" in blocklist
    assert all(len(entry) >= passwords.MIN_LENGTH for entry in list(blocklist)[:1000])


@pytest.mark.parametrize(
    "password", ["1qaz2wsx3edc", "QWERTY123456", "iloveyou1234", "aaaaaaaaaaaaaaaa", "abababababab"]
)
def test_common_breached_and_trivial_passwords_are_refused(password: str) -> None:
    with pytest.raises(PasswordTooCommon):
        passwords.check_new_password(password)


def test_length_is_counted_in_characters_after_normalisation() -> None:
    with pytest.raises(PasswordTooShort):
        passwords.check_new_password("elevenchars")
    with pytest.raises(PasswordTooLong):
        passwords.check_new_password("w" * 60 + "x" * 69)
    # 12 characters that take 36 bytes in UTF-8 count as 12.
    assert passwords.check_new_password("日本語のパスワードです。") == "日本語のパスワードです。"
    # The ligature "ﬁ" (U+FB01) becomes "fi": 12 characters after NFKC.
    assert passwords.check_new_password("ﬁne tuned 9z") == "fine tuned 9z"


def test_spaces_emoji_and_no_composition_rules() -> None:
    for password in ("just lowercase words here", "🐢 slow and steady 🐢", "   spaced out   "):
        assert passwords.check_new_password(password) == password


def test_the_persons_email_and_name_are_refused() -> None:
    for password in ("ada.lovelace@example.com!", "lovelace forever 2024", "Byron family 1815"):
        with pytest.raises(PasswordContainsPersonalInfo):
            passwords.check_new_password(
                password, email="ada.lovelace@example.com", display_name="Ada Byron"
            )
    # Short name parts ("Ada") don't count: too likely to occur by chance.
    assert passwords.check_new_password("adamant about it", display_name="Ada Byron")


async def test_hashes_are_argon2id_and_verify_normalised_input() -> None:
    password_hash = await passwords.hash_password(passwords.normalise("ﬁne tuned 9z"))
    assert password_hash.startswith("$argon2id$")
    assert await passwords.verify_password(password_hash, "ﬁne tuned 9z")
    assert await passwords.verify_password(password_hash, "fine tuned 9z")
    assert not await passwords.verify_password(password_hash, "fine tuned 9Z")
    assert not await passwords.verify_password(None, "fine tuned 9z")
    assert not await passwords.verify_password("!unusable", "fine tuned 9z")


def test_hashes_with_other_parameters_need_a_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("x" * 12)
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.HASHER.hash("x" * 12))


@pytest.mark.parametrize("secure", [True, False])
def test_cookies_follow_the_secure_setting(secure: bool) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session = NewSession("ses_x", "fhs_token", "csrf", 1, now, now + timedelta(hours=12), now)
    signed_in = SignedIn("usr_x", session, "fhd_device", False, False, False)
    response = sign_in_response(signed_in, Settings(cookie_secure=secure))
    cookies = response.headers.getlist("set-cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        assert ("; secure" in cookie.lower()) is secure
        assert "httponly" in cookie.lower()
        assert "samesite=lax" in cookie.lower()
