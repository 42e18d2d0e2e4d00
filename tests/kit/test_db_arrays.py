"""Array literals read back by PostgreSQL exactly as they were given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finhub.kit.db import Database
from finhub.kit.db.arrays import int_array, text_array, timestamp_array

AWKWARD = [
    "",
    "plain",
    "NULL",
    "null",
    " spaced ",
    "a,b",
    "{braces}",
    '"quoted"',
    "back\\slash",
    "\\",
    '\\"',
    "new\nline\ttab",
    "ünïcødé ✓ 中文",
    '{"json": ["a", 1]}',
]


async def read_back(db: Database, literal: str, cast: str) -> list[object]:
    async with db.connection() as conn:
        cursor = await conn.execute(f"SELECT %s::{cast} AS value", (literal,))
        row = await cursor.fetchone()
    assert row is not None
    return list(row["value"])


async def test_awkward_text_reads_back_unchanged(db: Database) -> None:
    values: list[str | None] = [*AWKWARD, None]
    assert await read_back(db, text_array(values), "text[]") == values


async def test_empty_arrays(db: Database) -> None:
    assert await read_back(db, text_array([]), "text[]") == []
    assert await read_back(db, int_array([]), "numeric[]") == []


async def test_integers_are_exact_up_to_128_bits(db: Database) -> None:
    values = [1, 0, -5, 2**63 - 1, 2**64 + 1, 2**128 - 1]
    assert [int(v) for v in await read_back(db, int_array(values), "numeric[]")] == values  # type: ignore[call-overload]
    assert await read_back(db, int_array([1, 2**62]), "bigint[]") == [1, 2**62]


async def test_timestamps_keep_their_instant(db: Database) -> None:
    moment = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    values = [moment, None, moment.astimezone(timezone(timedelta(hours=-9, minutes=-30)))]
    assert await read_back(db, timestamp_array(values), "timestamptz[]") == [moment, None, moment]


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.none() | TEXT, max_size=8))
async def test_any_text_reads_back_unchanged(db: Database, values: list[str | None]) -> None:
    assert await read_back(db, text_array(values), "text[]") == values


def test_the_fast_path_never_splits_an_element() -> None:
    """Elements are joined on NUL when nothing needs escaping; an element holding NUL itself
    (PostgreSQL would refuse it) must still stay one element, not become two."""
    assert text_array(["a", "b"]) == '{"a","b"}'
    assert text_array(["a\x00b"]) == '{"a\x00b"}'
    assert text_array(["x", "a\x00b"]) == '{"x","a\x00b"}'
    assert text_array([None, None]) == "{NULL,NULL}"
