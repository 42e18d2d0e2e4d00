"""Every message of the web app is translated into every language, placeholders intact."""

from __future__ import annotations

import re

import pytest

from finhub.web.i18n import DEFAULT_LOCALE, LOCALES, catalogue
from finhub.web.messages import extract

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TRANSLATED = [language for language in LOCALES if language != DEFAULT_LOCALE]


def test_the_web_app_has_messages_in_every_page_group() -> None:
    domains = extract()
    assert "common" in domains
    assert sum(len(messages) for messages in domains.values()) > 50


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    merged = catalogue(language)
    missing: list[str] = []
    broken: list[str] = []
    for domain, messages in extract().items():
        for key, places in messages.items():
            msgid = key if isinstance(key, str) else key[0]
            entry = merged.get(msgid)
            strings = (
                []
                if entry is None
                else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
            )
            if not strings or not all(strings):
                missing.append(f"{domain}: {msgid!r} ({places[0]})")
                continue
            wanted = set(PLACEHOLDER.findall(msgid))
            if any(set(PLACEHOLDER.findall(s)) != wanted for s in strings):
                broken.append(f"{domain}: {msgid!r}")
    assert not missing, f"{len(missing)} untranslated in {language}:\n" + "\n".join(missing)
    assert not broken, f"placeholders differ in {language}:\n" + "\n".join(broken)
