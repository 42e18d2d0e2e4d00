"""Which messages the web app shows, grouped into catalogue domains (one per page group).

A page group's domain holds the messages of `pages/<group>.py` and `templates/<group>/`;
`common` holds those of the layout (`templates/*.html`) and the shared modules (`web/*.py`).
`tools/i18n.py` writes the catalogues from this, and a test checks every message is
translated in every language.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from babel.messages.extract import extract_from_file

WEB_DIR = Path(__file__).parent
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "N_": None,
}
Message = str | tuple[str, str]  # a message, or a (singular, plural) pair


def domain_of(path: Path) -> str:
    relative = path.relative_to(WEB_DIR)
    parts = relative.parts
    if parts[0] == "pages" and path.stem != "__init__":
        return path.stem
    if parts[0] == "templates" and len(parts) > 2:
        return parts[1]
    return "common"


def source_files() -> list[Path]:
    files = list(WEB_DIR.glob("*.py"))
    files += list((WEB_DIR / "pages").glob("*.py"))
    files += list((WEB_DIR / "templates").rglob("*.html"))
    return sorted(files)


def extract() -> dict[str, dict[Message, list[str]]]:
    """domain → message → where it is used (`file:line`)."""
    domains: dict[str, dict[Message, list[str]]] = defaultdict(dict)
    for path in source_files():
        method = "jinja2" if path.suffix == ".html" else "python"
        options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
        where = str(path.relative_to(WEB_DIR))
        for line, message, _comments, _context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            key: Message = message if isinstance(message, str) else (message[0], message[1])
            if not key:
                continue
            domains[domain_of(path)].setdefault(key, []).append(f"{where}:{line}")
    return dict(domains)
