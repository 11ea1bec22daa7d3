"""Time-aware ranking: the time windows a query's temporal expressions point at, and how close a note's
event time is to them.

Relative expressions ("yesterday", "two weeks ago", "last Saturday", "last month") are resolved against a
reference time (`as_of`: the moment the question is asked, now by default); absolute ones ("in May",
"March 3rd", "2023-05-20", "in 2022") name their own period, in the most recent year not after `as_of` when
the year is left out. Dates are UTC calendar days. A query with no such expression gets no time signal.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re

__all__ = ["Window", "proximity", "windows_of"]

DAY = 86_400.0
Window = tuple[float, float]
"""[start, end) in epoch seconds."""

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m and m != "May"})
_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3,
            "couple of": 2, "few": 3}  # fmt: skip
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
_NUM = r"(\d{1,3}|a couple of|couple of|a few|few|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAYNUM = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d{2})"

_AGO = re.compile(rf"\b{_NUM}\s+(day|week|month|year)s?\s+(?:ago|back|before now)\b", re.I)
_LAST = re.compile(r"\b(?:last|past|previous)\s+(week|weekend|month|year)\b", re.I)
_THIS = re.compile(r"\bthis\s+(week|weekend|month|year)\b", re.I)
_LAST_WEEKDAY = re.compile(r"\b(?:last|this past|past)\s+(" + "|".join(_WEEKDAYS) + r")\b", re.I)
_DAYS = re.compile(r"\b(today|tonight|yesterday|the day before yesterday)\b", re.I)
_ISO = re.compile(r"\b" + _YEAR + r"[-/.](\d{1,2})[-/.](\d{1,2})\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+{_DAYNUM}\b(?:,?\s+{_YEAR})?", re.I)
_DAY_MONTH = re.compile(rf"\b{_DAYNUM}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?", re.I)
_IN_MONTH = re.compile(rf"\b(?:in|during|since|of|early|late|mid)\s+{_MONTH}(?:\s+{_YEAR})?\b", re.I)
_MORE_MONTHS = re.compile(rf"\s*(?:,|and|or|to|through|-)\s*{_MONTH}(?:\s+{_YEAR})?", re.I)  # "in March and April"
_IN_YEAR = re.compile(rf"\b(?:in|during|of)\s+{_YEAR}\b", re.I)


def _day(t: dt.datetime) -> dt.datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _ts(t: dt.datetime) -> float:
    return t.timestamp()


def _month_window(year: int, month: int) -> Window:
    return _ts(_safe_date(year, month)), _ts(_safe_date(year + (month == 12), month % 12 + 1))


def _year_window(year: int) -> Window:
    return _ts(_safe_date(year, 1)), _ts(_safe_date(year + 1, 1))


def _safe_date(year: int, month: int, day: int = 1) -> dt.datetime:
    """The date, or the nearest one datetime can hold: an `as_of` in year 1 or 9999 makes "last year" or "this
    month" name a period that starts or ends beyond datetime's range (years 1-9999)."""
    if year < dt.MINYEAR:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    if year > dt.MAXYEAR:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def _date_window(year: int, month: int, day: int) -> Window | None:
    try:
        start = dt.datetime(year, month, day, tzinfo=dt.UTC)
    except ValueError:
        return None
    return _ts(start), _ts(start) + DAY


def _recent_year(now: dt.datetime, month: int, day: int = 1) -> int:
    """The year of the latest month/day that is not after `now`."""
    return now.year if (month, day) <= (now.month, now.day) else now.year - 1


def windows_of(query: str, as_of: float) -> list[Window]:
    """The windows the query's temporal expressions name, relative to `as_of` (possibly none)."""
    now = dt.datetime.fromtimestamp(as_of, dt.UTC)
    today = _day(now)
    out: list[Window] = []
    for m in _DAYS.finditer(query):
        back = {"today": 0, "tonight": 0, "yesterday": 1}.get(m.group(1).lower(), 2)
        start = _ts(today) - back * DAY
        out.append((start, start + DAY))
    for m in _AGO.finditer(query):
        raw = m.group(1).lower()
        n = int(raw) if raw.isdigit() else _NUMBERS[raw]
        span = _UNITS[m.group(2).lower()] * DAY
        center = _ts(today) - n * span + DAY / 2  # the middle of that day
        half = max(DAY, span / 2) if span > DAY else DAY / 2
        out.append((center - half, center + half))
    week_start = today - dt.timedelta(days=today.weekday())  # Monday
    for regex, offset in ((_LAST, -1), (_THIS, 0)):
        for m in regex.finditer(query):
            unit = m.group(1).lower()
            if unit in ("week", "weekend"):
                # In epoch seconds: the week before 0001-01-01 is beyond datetime's range, not beyond a float's.
                start_s = _ts(week_start) + (7 * offset + (5 if unit == "weekend" else 0)) * DAY
                out.append((start_s, start_s + (2 if unit == "weekend" else 7) * DAY))
            elif unit == "month":
                year, month = (now.year, now.month) if offset == 0 else divmod(now.year * 12 + now.month - 2, 12)
                out.append(_month_window(year, month if offset == 0 else month + 1))
            else:
                year = now.year + offset
                out.append(_year_window(year))
    for m in _LAST_WEEKDAY.finditer(query):
        back = (today.weekday() - _WEEKDAYS[m.group(1).lower()] - 1) % 7 + 1  # strictly before today
        start = _ts(today) - back * DAY
        out.append((start, start + DAY))
    for m in _ISO.finditer(query):
        if (w := _date_window(int(m.group(1)), int(m.group(2)), int(m.group(3)))) is not None:
            out.append(w)
    for regex, order in ((_MONTH_DAY, (1, 2, 3)), (_DAY_MONTH, (2, 1, 3))):
        for m in regex.finditer(query):
            month, day = _MONTHS[m.group(order[0]).lower()], int(m.group(order[1]))
            year = int(m.group(order[2])) if m.group(order[2]) else _recent_year(now, month, day)
            if (w := _date_window(year, month, day)) is not None:
                out.append(w)
    if not out:  # "in May" only when no day in May was named ("on May 3rd in 2023" names the day)
        for m in _IN_MONTH.finditer(query):
            named = [m]
            while (more := _MORE_MONTHS.match(query, named[-1].end())) is not None:
                named.append(more)
            for each in named:
                month = _MONTHS[each.group(1).lower()]
                out.append(_month_window(int(each.group(2)) if each.group(2) else _recent_year(now, month), month))
        for m in _IN_YEAR.finditer(query):
            out.append(_year_window(int(m.group(1))))
    return list(dict.fromkeys(out))


def proximity(t: float, windows: list[Window]) -> float:
    """1 inside a window, decaying with the distance to it (on the scale of the window, at least a day)."""
    best = 0.0
    for start, end in windows:
        if start <= t < end:
            return 1.0
        distance = start - t if t < start else t - end
        best = max(best, math.exp(-distance / max(end - start, DAY)))
    return best
