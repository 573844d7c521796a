"""Turning the timestamps found in log lines into timezone-aware UTC datetimes, cheaply.

Docker's ``--timestamps`` prefix (RFC 3339, nanoseconds) gives date and order; pino pretty
gives only the UTC time of day. ``LineClock`` caches per second so that a line costs a string
compare and one ``datetime.replace`` in the common case.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

UTC = timezone.utc
_HALF_DAY = timedelta(hours=12)
_ONE_DAY = timedelta(days=1)


def _micro(frac: str) -> int:
    if not frac:
        return 0
    if len(frac) >= 6:
        return int(frac[:6])
    return int(frac) * 10 ** (6 - len(frac))


def parse_rfc3339(ts: str) -> datetime | None:
    """``2026-11-27T18:30:00.123456789Z`` (any number of fraction digits, ``Z`` or ``+HH:MM``)
    -> aware UTC datetime (microseconds), or None when it is not such a timestamp."""
    try:
        base = datetime(
            int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), int(ts[11:13]), int(ts[14:16]), int(ts[17:19]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    rest = ts[19:]
    frac = ""
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        frac = rest[1:end]
        rest = rest[end:]
    if rest in ("Z", "z", "+00:00", "-00:00", ""):
        return base.replace(microsecond=_micro(frac))
    if len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        try:
            offset = timedelta(hours=int(rest[1:3]), minutes=int(rest[4:6]))
        except ValueError:
            return None
        shift = offset if rest[0] == "+" else -offset
        return base.replace(microsecond=_micro(frac)) - shift
    return None


class LineClock:
    """Per-file timestamp helper with small caches (one parser instance per file)."""

    __slots__ = ("key", "parts", "sec", "sec_hms", "_sec_epoch", "_tod_cache", "_epochs")

    def __init__(self) -> None:
        self.key = ""  # the last docker second seen, "YYYY-MM-DDTHH:MM:SS" (UTC)
        self.parts = (1970, 1, 1, 0, 0, 0)  # its fields, for a cheap datetime(...) call
        self.sec: datetime | None = None
        self.sec_hms = ""
        self._sec_epoch = 0.0
        self._tod_cache: dict[tuple[int, str], datetime] = {}
        self._epochs: dict[str, float] = {}

    def set_second(self, key: str) -> bool:
        """Make ``key`` ("YYYY-MM-DDTHH:MM:SS", UTC) the current second; False when invalid."""
        last = self.sec
        tail = key[17:]
        # a later second of the current minute (most keys): its seconds added, not the whole key read
        if (last is not None and len(tail) == 2 and key[:17] == self.key[:17] and tail.isdigit() and tail.isascii()
                and tail < "60"):
            second = int(tail)
            step = second - last.second
            self.key, self.sec = key, last + timedelta(seconds=step)
            self.parts = (*self.parts[:5], second)
            self._sec_epoch += step  # (whole seconds: exact)
            self.sec_hms = key[11:19]
            return True
        sec = parse_rfc3339(key + "Z")
        if sec is None:
            return False
        self.key, self.sec = key, sec
        self.parts = (sec.year, sec.month, sec.day, sec.hour, sec.minute, sec.second)
        self._sec_epoch = sec.timestamp()
        self.sec_hms = key[11:19]
        return True

    def epoch_of(self, key: str, frac: str) -> float:
        """Epoch seconds of a docker second ``key`` plus its fraction digits (window checks)."""
        base = self._epochs.get(key)
        if base is None:
            sec = parse_rfc3339(key + "Z")
            base = sec.timestamp() if sec is not None else 0.0
            if len(self._epochs) > 4096:
                self._epochs.clear()
            self._epochs[key] = base
        return base + _micro(frac) / 1e6

    def docker(self, ts: str) -> tuple[datetime, float] | None:
        """A docker timestamp -> (UTC datetime, epoch seconds as float for window checks)."""
        if ts.endswith("Z") and len(ts) >= 20:
            key = ts[:19]
            if key != self.key and not self.set_second(key):
                return None
            micro = _micro(ts[20:-1]) if ts[19] == "." else 0
            year, month, day, hour, minute, second = self.parts
            when = datetime(year, month, day, hour, minute, second, micro, UTC)
            return when, self._sec_epoch + micro / 1e6
        parsed = parse_rfc3339(ts)
        if parsed is None:
            return None
        # an offset stamp: make its UTC second current so that with_time_of_day() works
        self.set_second(parsed.strftime("%Y-%m-%dT%H:%M:%S"))
        return parsed, parsed.timestamp()

    def with_time_of_day(self, docker_time: datetime, tod: str) -> datetime:
        """Combine pino's ``HH:MM:SS.mmm`` (UTC) with the docker timestamp's date.

        The two are milliseconds apart; across midnight the pino time (23:59:59.990) may fall
        on the day before the docker line (00:00:00.2): pick the day that puts them closest.
        ``docker_time`` must come from the latest ``docker()`` call (its second is cached)."""
        micro = int(tod[9:12]) * 1000
        hms = tod[:8]
        if hms == self.sec_hms:
            year, month, day, hour, minute, second = self.parts
            return datetime(year, month, day, hour, minute, second, micro, UTC)
        day = docker_time.toordinal()
        cached = self._tod_cache.get((day, hms))
        if cached is None:
            try:
                cached = datetime(
                    docker_time.year, docker_time.month, docker_time.day,
                    int(hms[0:2]), int(hms[3:5]), int(hms[6:8]), tzinfo=UTC,
                )
            except ValueError:
                return docker_time
            diff = cached - docker_time
            if diff > _HALF_DAY:
                cached -= _ONE_DAY
            elif diff < -_HALF_DAY:
                cached += _ONE_DAY
            if len(self._tod_cache) > 4096:
                self._tod_cache.clear()
            self._tod_cache[(day, hms)] = cached
        return cached + timedelta(microseconds=micro)


def from_epoch_ms(value: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
