"""Calendar months as 'YYYY-MM' strings: they sort, they read, they go in URLs and CSV as they are."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date
from functools import cache


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(month: str) -> tuple[int, int]:
    year, _, mon = month.partition("-")
    y, m = int(year), int(mon)
    if not (1 <= m <= 12 and 1 <= y <= 9999 and len(month) == 7):
        msg = f"not a month: {month!r} (expected YYYY-MM)"
        raise ValueError(msg)
    return y, m


def month_end(month: str) -> date:
    y, m = parse_month(month)
    return date(y, m, calendar.monthrange(y, m)[1])


def next_month(month: str) -> str:
    y, m = parse_month(month)
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def previous_month(month: str) -> str:
    y, m = parse_month(month)
    return f"{y - (m == 1):04d}-{(m - 2) % 12 + 1:02d}"


def months(first: str, last: str) -> Iterator[str]:
    """Every month from `first` to `last`, inclusive."""
    month = first
    while month <= last:
        yield month
        month = next_month(month)


def add_months(day: date, n: int) -> date:
    """The same day n months later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    y, m = divmod(day.month - 1 + n, 12)
    year, mon = day.year + y, m + 1
    return date(year, mon, min(day.day, calendar.monthrange(year, mon)[1]))


def index_of(day: date) -> int:
    """A month as a number (months since year 0), for loops that walk many months."""
    return day.year * 12 + day.month - 1


@cache
def name_of(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@cache
def end_of(index: int) -> date:
    return month_end(name_of(index))
