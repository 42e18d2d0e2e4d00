"""PostgreSQL array literals for set-based statements over thousands of rows.

psycopg encodes a list parameter element by element in Python (about 0.4 µs each); a batch of
a thousand transfers passes some 45,000 elements, and it does so while holding its accounts'
row locks. Joining the elements into one array literal is done in C by `str.join` and costs a
few percent of that; PostgreSQL parses it with `array_in`. Pass the result as a text
parameter and cast it in the SQL: `%s::text[]`, `%s::numeric[]`, `%s::timestamptz[]`.

Every text element is quoted, so no value can break out of its element, whatever it holds
(commas, braces, quotes, backslashes, spaces, the word NULL). PostgreSQL text can't hold NUL,
and the API refuses it before it gets here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

_SEPARATOR = "\x00"  # can't occur in PostgreSQL text, so it marks where the elements meet


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text_array(values: Iterable[str | None]) -> str:
    """`{"a","b",NULL}`: a literal for `text[]` (None is SQL NULL)."""
    items = list(values)
    nulls = items.count(None)
    if nulls == len(items):
        return "{" + ",".join(["NULL"] * nulls) + "}"
    if not nulls:
        # The common case (ids, codes): nothing to escape, so quote them all in one pass.
        plain = _SEPARATOR.join(cast(list[str], items))
        if '"' not in plain and "\\" not in plain and plain.count(_SEPARATOR) == len(items) - 1:
            return '{"' + plain.replace(_SEPARATOR, '","') + '"}'
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in items) + "}"


def int_array(values: Iterable[int]) -> str:
    """`{1,2,3}`: a literal for `bigint[]` or `numeric[]`, exact at any size."""
    return "{" + ",".join(map(str, values)) + "}"


def timestamp_array(values: Iterable[datetime | None]) -> str:
    """A literal for `timestamptz[]`: ISO 8601 with the offset (None is SQL NULL)."""
    return "{" + ",".join("NULL" if v is None else _quoted(v.isoformat()) for v in values) + "}"
