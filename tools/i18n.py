"""Update the web app's message catalogues from the code and templates.

    uv run tools/i18n.py          # add new messages (untranslated), drop unused ones
    uv run tools/i18n.py --check  # list untranslated messages; exit 1 if there are any
    uv run tools/i18n.py --domain send   # only the catalogues of one page group

Each page group has its own catalogue per language (`locale/<lang>/LC_MESSAGES/<group>.po`), so
page groups can be translated independently. Existing translations are kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from finhub.web.i18n import BABEL_NAMES, DEFAULT_LOCALE, LOCALE_DIR
from finhub.web.messages import extract


def update() -> int:
    missing = 0
    only = sys.argv[sys.argv.index("--domain") + 1] if "--domain" in sys.argv else None
    for domain, messages in sorted(extract().items()):
        if only is not None and domain != only:
            continue
        for language, babel_name in BABEL_NAMES.items():
            if language == DEFAULT_LOCALE:
                continue
            path = LOCALE_DIR / babel_name / "LC_MESSAGES" / f"{domain}.po"
            old = _read(path, babel_name)
            catalog = Catalog(
                locale=babel_name,
                project="finhub",
                domain=domain,
                creation_date=old.creation_date,  # unchanged catalogues stay byte for byte
            )
            for key, places in messages.items():
                known = old.get(key if isinstance(key, str) else key[0])
                string = (
                    known.string
                    if known is not None
                    else ("" if isinstance(key, str) else ("", ""))
                )
                catalog.add(
                    key,
                    string,
                    locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places],
                )
                if not (string if isinstance(string, str) else all(string)):
                    missing += 1
                    print(f"untranslated [{language}] {domain}: {key!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            if "--check" not in sys.argv:
                with path.open("wb") as file:
                    write_po(file, catalog, width=100, sort_output=True, omit_header=False)
    return 1 if missing and "--check" in sys.argv else 0


def _read(path: Path, babel_name: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=babel_name)
    with path.open("rb") as file:
        return read_po(file, locale=babel_name)


if __name__ == "__main__":
    sys.exit(update())
