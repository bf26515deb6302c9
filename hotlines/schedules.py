"""Outbound schedules (lịch gọi ra) as values: parsing, validation and "is it open at …?".

A schedule is weekly windows in Vietnam's time (Asia/Ho_Chi_Minh, UTC+7 all year) plus holiday
dates. A window has weekdays (0 = Monday … 6 = Sunday), a start and an end ("HH:MM", end
exclusive, "24:00" = the end of the day); it never crosses midnight (22:00–02:00 is two windows).
Windows may overlap: the schedule is open when any window is. A holiday closes the whole day.

The SIP server decides from the same rows with the same arithmetic (the `sip_outbound_schedule`
view, sip/schema.py): minutes since local midnight, `start <= minute < end`, so 16:59:59 is inside
a window ending 17:00 and 17:00:00 is not. The dashboard's dial check uses `OpenHours` below.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _

TIME_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MINUTES_PER_DAY = 1440
DAYS = range(7)
MAX_WINDOWS = 50
MAX_HOLIDAYS = 400
# The moments a schedule is asked about (the dial check's `at`): Vietnam has kept UTC+7 since
# 1975, and next_open looks up to 370 days ahead, which near datetime's limits (years 1 and
# 9999) overflowed into a 500. LATEST is exclusive.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=TIME_ZONE)
LATEST = dt.datetime(3000, 1, 1, tzinfo=TIME_ZONE)
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def parse_time(text: str, *, end: bool = False) -> int:
    """ "HH:MM" → minutes since midnight; "24:00" only as an end."""
    if end and text == "24:00":
        return MINUTES_PER_DAY
    match = _TIME_RE.match(text or "")
    if not match:
        raise ValidationError(_("“%(value)s” is not a time as HH:MM (00:00 to 23:59).") % {"value": text})
    return int(match.group(1)) * 60 + int(match.group(2))


def validate_moment(at: dt.datetime) -> None:
    """A moment to ask a schedule about (aware): from EARLIEST up to LATEST, or a ValidationError."""
    if not EARLIEST <= at < LATEST:
        raise ValidationError(
            _("Choose a moment from the year %(first)d to %(last)d.")
            % {"first": EARLIEST.year, "last": LATEST.year - 1},
            code="out_of_range",
        )


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def days_mask(days: Iterable[int]) -> int:
    return sum(1 << day for day in set(days))


def mask_days(mask: int) -> list[int]:
    return [day for day in DAYS if mask >> day & 1]


@dataclass(frozen=True)
class Window:
    days: tuple[int, ...]
    start: int  # minutes since midnight
    end: int  # exclusive; 1440 = midnight at the end of the day

    @property
    def mask(self) -> int:
        return days_mask(self.days)

    def as_dict(self) -> dict:
        return {"days": list(self.days), "start": format_minute(self.start), "end": format_minute(self.end)}


def parse_windows(raw) -> list[Window]:
    """The API's / form's `[{days, start, end}]` → windows, or a ValidationError saying which
    window is wrong and why."""
    if not isinstance(raw, list):
        raise ValidationError(_("A list of windows is expected."))
    if len(raw) > MAX_WINDOWS:
        raise ValidationError(_("At most %(count)d windows.") % {"count": MAX_WINDOWS})
    windows: list[Window] = []
    errors: list[str] = []
    for index, item in enumerate(raw, start=1):
        try:
            windows.append(parse_window(item))
        except ValidationError as exc:
            errors.extend(_("Window %(n)d: %(error)s") % {"n": index, "error": m} for m in exc.messages)
    if errors:
        raise ValidationError(errors)
    return windows


def parse_window(item) -> Window:
    """One `{days, start, end}` → a window, or a ValidationError saying why not."""
    if not isinstance(item, dict) or set(item) - {"days", "start", "end"}:
        raise ValidationError(_("A window is {days, start, end}."))
    days = item.get("days")
    if (
        not isinstance(days, list)
        or not days
        or any(not isinstance(d, int) or isinstance(d, bool) or d not in DAYS for d in days)
    ):
        raise ValidationError(_("Days are a non-empty list of 0 (Monday) to 6 (Sunday)."))
    if len(set(days)) != len(days):
        raise ValidationError(_("A day is listed twice."))
    start = parse_time(str(item.get("start", "")))
    end = parse_time(str(item.get("end", "")), end=True)
    if end <= start:
        raise ValidationError(
            _(
                "The end (%(end)s) must be after the start (%(start)s); "
                "a window cannot cross midnight, use two."
            )
            % {"start": format_minute(start), "end": format_minute(end)}
        )
    return Window(days=tuple(sorted(days)), start=start, end=end)


def parse_holidays(raw) -> list[dt.date]:
    if not isinstance(raw, list):
        raise ValidationError(_("A list of dates (YYYY-MM-DD) is expected."))
    if len(raw) > MAX_HOLIDAYS:
        raise ValidationError(_("At most %(count)d holidays.") % {"count": MAX_HOLIDAYS})
    dates = []
    for value in raw:
        try:
            dates.append(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))
        except ValueError:
            raise ValidationError(_("“%(value)s” is not a date as YYYY-MM-DD.") % {"value": value}) from None
    if len(set(dates)) != len(dates):
        raise ValidationError(_("A date is listed twice."))
    return sorted(dates)


@dataclass(frozen=True)
class OpenHours:
    """A schedule's windows and holidays, asked about moments."""

    windows: tuple[Window, ...]
    holidays: frozenset[dt.date]

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(TIME_ZONE)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        return any(day in w.days and w.start <= minute < w.end for w in self.windows)

    def next_open(self, at: dt.datetime) -> dt.datetime | None:
        """When it next opens after `at` (`at` itself when open); None: never (no window, or
        only windows on days that are all holidays for more than a year)."""
        if self.is_open(at):
            return at
        local = at.astimezone(TIME_ZONE)
        minute = local.hour * 60 + local.minute
        for offset in range(370):
            date = local.date() + dt.timedelta(days=offset)
            if date in self.holidays:
                continue
            starts = [
                w.start for w in self.windows if date.weekday() in w.days and (offset > 0 or w.start > minute)
            ]
            if starts:
                start = min(starts)
                return dt.datetime.combine(date, dt.time(start // 60, start % 60), tzinfo=TIME_ZONE)
        return None

    def closes_at(self, at: dt.datetime) -> dt.datetime | None:
        """When an open schedule next closes (None when closed now)."""
        if not self.is_open(at):
            return None
        local = at.astimezone(TIME_ZONE)
        minute = local.hour * 60 + local.minute
        end = max(w.end for w in self.windows if local.weekday() in w.days and w.start <= minute < w.end)
        # Windows that touch or overlap carry on (e.g. 08:00–12:00 and 12:00–17:00).
        extended = True
        while extended and end < MINUTES_PER_DAY:
            extended = False
            for w in self.windows:
                if local.weekday() in w.days and w.start <= end < w.end:
                    end, extended = w.end, True
        return dt.datetime.combine(local.date(), dt.time(0), tzinfo=TIME_ZONE) + dt.timedelta(minutes=end)


def describe_window(window: Window) -> str:
    """ "Monday–Friday 08:00–17:00" (runs of days joined, in the current language)."""
    runs: list[list[int]] = []
    for day in window.days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    days = ", ".join(
        str(WEEKDAYS[run[0]]) if len(run) == 1 else f"{WEEKDAYS[run[0]]}–{WEEKDAYS[run[-1]]}" for run in runs
    )
    return f"{days} {format_minute(window.start)}–{format_minute(window.end)}"
