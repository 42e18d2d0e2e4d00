"""Languages of the web app: message catalogues, the request's locale and locale-aware formats.

Catalogues are Babel `.po` files under `locale/<language>/LC_MESSAGES/`, one file per page
group (`auth.po`, `dashboard.po`, …, `common.po` for the layout and shared messages). They are
compiled in memory when first needed, so nothing has to be built before `finhub serve`.
English is the source language and needs no catalogue. `tools/i18n.py` extracts the messages
into the catalogues; a test fails on any message left untranslated.
"""

from __future__ import annotations

import gettext as gettext_module
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, numbers
from babel import dates as babel_dates
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy

from finhub.kit.money import iso_currency

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LOCALE = "en"
# The app's language tags (as stored on the person's profile) and Babel's names for them.
BABEL_NAMES = {"en": "en", "zh-Hans": "zh_Hans", "th": "th"}
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文", "th": "ไทย"}
LOCALES = tuple(BABEL_NAMES)

current_locale: ContextVar[str] = ContextVar("finhub_web_locale", default=DEFAULT_LOCALE)


@cache
def catalogue(language: str) -> Catalog:
    """All of a language's `.po` files as one catalogue (fuzzy entries left out)."""
    merged = Catalog(locale=BABEL_NAMES[language])
    folder = LOCALE_DIR / BABEL_NAMES[language] / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale=BABEL_NAMES[language]):
                if message.id and message.string and not message.fuzzy:
                    merged.add(message.id, message.string)
    return merged


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    if language == DEFAULT_LOCALE:
        return gettext_module.NullTranslations()
    compiled = BytesIO()
    write_mo(compiled, catalogue(language))
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


def gettext(message: str) -> str:
    return translations(current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


def lazy_gettext(message: str) -> LazyProxy:
    """A message translated when it is shown (for module-level constants)."""
    return LazyProxy(gettext, message, enable_cache=False)


def negotiate(preferred: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The person's saved language, then the language cookie, then the browser's list."""
    for candidate in (preferred, cookie):
        if candidate in BABEL_NAMES:
            return candidate
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh-Hans"
            if tag.startswith("th"):
                return "th"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LOCALE


def babel_locale() -> Locale:
    return _parsed_locale(current_locale.get())


@cache
def _parsed_locale(language: str) -> Locale:
    return Locale.parse(BABEL_NAMES[language])


# --- formats ----------------------------------------------------------------------------------


def to_decimal(amount: int | str, currency: str) -> Decimal:
    """Minor units to a decimal amount in the currency's major unit."""
    asset = iso_currency(currency)
    scale = asset.scale if asset is not None else 2
    return Decimal(int(amount)).scaleb(-scale)


def format_money(amount: int | str | None, currency: str, *, sign: bool = False) -> str:
    """`12345, "EUR"` → `€123.45` (en), `€123.45` (zh-Hans), `€123.45` (th), per locale."""
    if amount is None:
        return ""
    value = to_decimal(amount, currency)
    text = numbers.format_currency(
        value, currency, locale=babel_locale(), currency_digits=True, decimal_quantization=True
    )
    if sign and value > 0:
        return "+" + text
    return text


def _as_datetime(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def format_datetime(value: datetime | str | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return babel_dates.format_datetime(_as_datetime(value), fmt, locale=babel_locale())


def format_date(value: date | datetime | str | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return babel_dates.format_date(value, fmt, locale=babel_locale())


def currency_name(code: str) -> str:
    return numbers.get_currency_name(code, locale=babel_locale())


def template_globals() -> dict[str, Any]:
    return {"LANGUAGE_NAMES": LANGUAGE_NAMES, "LOCALES": LOCALES}
