"""When schedules pay: one-off, weekly, monthly (the 31st and the last day), COUNT, UNTIL and
end_at, and the rules refused."""

from __future__ import annotations

import pytest

from finhub.payments.scheduled.occurrences import InvalidRule, first_occurrence, upcoming
from tests.payments.scheduled.support import utc

START = utc(2031, 1, 1, 9, 30)  # a Wednesday


def test_a_one_off_pays_once_at_its_start() -> None:
    assert upcoming(START, None, None, START, 5) == [START]
    assert first_occurrence(START, None, utc(2030, 12, 31)) is None


def test_weekly_on_mondays_starts_at_the_first_monday() -> None:
    assert upcoming(START, "FREQ=WEEKLY;BYDAY=MO", None, START, 3) == [
        utc(2031, 1, 6, 9, 30),
        utc(2031, 1, 13, 9, 30),
        utc(2031, 1, 20, 9, 30),
    ]


def test_monthly_on_the_31st_follows_rfc_5545_and_minus_one_is_the_last_day() -> None:
    start = utc(2031, 1, 31, 8, 0)
    assert upcoming(start, "FREQ=MONTHLY;BYMONTHDAY=31", None, start, 3) == [
        utc(2031, 1, 31, 8, 0),
        utc(2031, 3, 31, 8, 0),  # February and April have no 31st
        utc(2031, 5, 31, 8, 0),
    ]
    assert upcoming(start, "FREQ=MONTHLY;BYMONTHDAY=-1", None, start, 4) == [
        utc(2031, 1, 31, 8, 0),
        utc(2031, 2, 28, 8, 0),
        utc(2031, 3, 31, 8, 0),
        utc(2031, 4, 30, 8, 0),
    ]
    leap = utc(2032, 1, 1, 0, 0)
    assert upcoming(leap, "FREQ=MONTHLY;BYMONTHDAY=1", None, leap, 2) == [
        utc(2032, 1, 1),
        utc(2032, 2, 1),
    ]


def test_count_until_and_end_at_bound_a_schedule() -> None:
    assert len(upcoming(START, "FREQ=DAILY;COUNT=3", None, START, 10)) == 3
    until = upcoming(START, "FREQ=DAILY;UNTIL=20310103T235959Z", None, START, 10)
    assert until[-1] == utc(2031, 1, 3, 9, 30)
    assert len(upcoming(START, "FREQ=WEEKLY", utc(2031, 1, 15, 9, 30), START, 10)) == 3


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=YEARLY",
        "FREQ=DAILY;BYHOUR=1,2,3",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;COUNT=2;UNTIL=20310103T000000Z",
        "FREQ=DAILY;UNTIL=20310103T000000",  # a floating UNTIL with a UTC start
        "DTSTART=20310101T000000Z;FREQ=DAILY",
        "nonsense",
    ],
)
def test_rules_outside_the_supported_subset_are_refused(rule: str) -> None:
    with pytest.raises(InvalidRule):
        upcoming(START, rule, None, START, 1)
