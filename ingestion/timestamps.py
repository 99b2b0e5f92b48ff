"""Fast ISO-8601 rendering of epoch seconds, with the harmless variants of SPEC §6:
non-UTC offsets (±HH:MM, ±HHMM, ±HH), no zone (UTC), fractions, a space instead of `T`."""
from __future__ import annotations

import datetime as dt
import random

from lakehouse.config import Variants

EPOCH = dt.date(1970, 1, 1)
# Offsets in minutes; several push a late-evening UTC time past midnight local time.
OFFSETS = (330, -480, 540, -300, 60, -180, 345, -600, 600, 120, -420, 480)


class TimestampRenderer:
    def __init__(self, rng: random.Random, variants: Variants, offset_rate: float):
        self._rng = rng
        self._offset_rate = offset_rate
        self._dates: dict[int, str] = {}
        self._space, self._frac = variants.space_separator, variants.fraction_seconds

    def date_str(self, day: int) -> str:
        d = self._dates.get(day)
        if d is None:
            d = self._dates[day] = (EPOCH + dt.timedelta(days=day)).isoformat()
        return d

    def render(self, t: int) -> str:
        rng = self._rng
        offset, zone = 0, "Z"
        r = rng.random()
        if r < self._offset_rate:
            offset = OFFSETS[int(rng.random() * len(OFFSETS))]
            sign = "+" if offset >= 0 else "-"
            hh, mm = divmod(abs(offset), 60)
            style = rng.random()
            if style < 0.7:
                zone = f"{sign}{hh:02d}:{mm:02d}"
            elif style < 0.9 or mm:
                zone = f"{sign}{hh:02d}{mm:02d}"
            else:
                zone = f"{sign}{hh:02d}"
        elif r < self._offset_rate + 0.03:
            zone = "" if r < self._offset_rate + 0.015 else "+00:00"   # no zone means UTC
        day, sod = divmod(t + offset * 60, 86_400)
        date = self._dates.get(day) or self.date_str(day)
        # One draw picks the separator and fraction variants (mutually exclusive).
        r = rng.random()
        if r < self._space:
            return f"{date} {_CLOCK[sod]}{zone}"
        if r < self._space + self._frac:
            return f"{date}T{_CLOCK[sod]}{_FRACTIONS[int(r * 1000) % 4]}{zone}"
        return f"{date}T{_CLOCK[sod]}{zone}"


# "HH:MM:SS" for every second of a day, and fractions that keep the instant unchanged
# (the nine-digit one is truncated to microseconds by the parser).
_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_FRACTIONS = (".000", ".000000", ".000000000", ".0")
