"""When a schedule pays: RFC 5545 recurrence rules (python-dateutil) evaluated in UTC.

A schedule without a rule pays once at `start_at`. A rule is one RRULE value such as
`FREQ=WEEKLY;BYDAY=MO` or `FREQ=MONTHLY;BYMONTHDAY=-1`, evaluated from `start_at`; only DAILY,
WEEKLY and MONTHLY frequencies, with COUNT or UNTIL allowed, and no time-of-day parts (a payment
runs at `start_at`'s time of day). As RFC 5545 says, `BYMONTHDAY=31` skips months without a
31st; `BYMONTHDAY=-1` is the last day of every month. Everything is UTC, so there is no
daylight-saving shift. Occurrences after `end_at` are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dateutil.rrule import rrule, rrulestr

from finhub.errors import Unprocessable

ALLOWED_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY"})
ALLOWED_PARTS = frozenset(
    {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}
)


class InvalidRule(Unprocessable):
    code = "invalid_rule"
    title = "The recurrence rule is not valid"


def whole_second(moment: datetime) -> datetime:
    """Occurrences fall on whole seconds (iCalendar has no finer unit; dateutil drops it)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def parse_rule(rule: str, start_at: datetime) -> rrule:
    """The rule as a dateutil `rrule` starting at `start_at`; 422 `invalid_rule` otherwise."""
    text = rule.strip().upper().removeprefix("RRULE:")
    parts = dict(part.partition("=")[::2] for part in text.split(";") if part)
    unknown = sorted(set(parts) - ALLOWED_PARTS)
    if unknown:
        raise InvalidRule(f"Rule parts not allowed here: {', '.join(unknown)}.", field="rule")
    if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
        raise InvalidRule("FREQ must be DAILY, WEEKLY or MONTHLY.", field="rule")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidRule("A rule has COUNT or UNTIL, not both.", field="rule")
    try:
        parsed = rrulestr(text, dtstart=whole_second(start_at))
    except (ValueError, TypeError) as error:
        raise InvalidRule(f"Not an RFC 5545 rule: {error}.", field="rule") from None
    assert isinstance(parsed, rrule)
    return parsed


def first_occurrence(
    start_at: datetime, rule: str | None, end_at: datetime | None
) -> datetime | None:
    """The first time the schedule pays (at or after `start_at`), or None."""
    start_at = whole_second(start_at)
    if rule is None:
        return _within(start_at, end_at)
    return _within(parse_rule(rule, start_at).after(start_at, inc=True), end_at)


def next_occurrence(
    start_at: datetime, rule: str | None, end_at: datetime | None, after: datetime
) -> datetime | None:
    """The first occurrence strictly after `after`, or None when the schedule is over."""
    if rule is None:
        return None
    return _within(parse_rule(rule, start_at).after(after, inc=False), end_at)


def upcoming(
    start_at: datetime, rule: str | None, end_at: datetime | None, since: datetime, count: int
) -> list[datetime]:
    """Up to `count` occurrences at or after `since` (what a person is shown)."""
    found: list[datetime] = []
    moment = first_occurrence(start_at, rule, end_at)
    while moment is not None and len(found) < count:
        if moment >= since:
            found.append(moment)
        moment = next_occurrence(start_at, rule, end_at, moment)
    return found


def _within(moment: datetime | None, end_at: datetime | None) -> datetime | None:
    if moment is None or (end_at is not None and moment > end_at):
        return None
    return moment
