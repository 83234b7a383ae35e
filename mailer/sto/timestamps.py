"""ISO 8601 instants parsed from raw CSV bytes, many at a time.

A history file holds tens of millions of timestamps; parsing them one by one
with :mod:`datetime` costs most of the run.  Here every field is located by
its start and stop offset in a byte buffer and the digits are read by fixed
position, all in numpy.  Accepted: ``YYYY-MM-DD[T ]HH:MM[:SS[.fff…]]``
followed by ``Z`` or an offset ``±HH:MM``, ``±HHMM`` or ``±HH``.  A time with
no offset is rejected: it would silently be read in the wrong zone.
"""

from __future__ import annotations

import numpy as np

#: Status codes returned next to the parsed seconds.
OK, EMPTY, INVALID = 0, 1, 2

_DIGIT_POSITIONS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15])
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm).

    >>> days_from_civil(np.array([1970, 2000, 2024]), np.array([1, 3, 2]), np.array([1, 1, 29])).tolist()
    [0, 11017, 19782]
    """
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def byte_words(buf: np.ndarray) -> np.ndarray:
    """``buf`` as overlapping little-endian ``uint64`` words: element ``i`` holds bytes ``i`` to ``i + 7``.

    Gathering one word fetches eight bytes at once, which is what makes
    reading fixed positions out of millions of fields cheap.
    """
    padded = np.concatenate([buf, np.zeros(8, np.uint8)])
    return np.ndarray(shape=(buf.shape[0],), dtype="<u8", buffer=padded, strides=(1,))


def parse_instants(
    buf: np.ndarray, start: np.ndarray, stop: np.ndarray, words: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the Unix epoch (UTC) of the ISO 8601 fields ``buf[start:stop]``.

    ``buf`` is a ``uint8`` array, ``start``/``stop`` index it field by field;
    ``words`` may pass ``byte_words(buf)`` when it is already at hand.
    Returns ``(seconds, status)`` where ``status`` is :data:`OK`,
    :data:`EMPTY` or :data:`INVALID`; ``seconds`` is 0 unless OK.  Fractions
    of a second are dropped.

    >>> text = b"2024-03-31T01:30:00Z,2024-03-31T02:30:00+01:00,,2024-03-31 01:30,2024-03-31T07:00+0530"
    >>> buf = np.frombuffer(text, np.uint8)
    >>> bounds = [(0, 20), (21, 46), (47, 47), (48, 64), (65, 86)]
    >>> seconds, status = parse_instants(buf, *np.array(bounds).T)
    >>> seconds.astype("datetime64[s]").tolist()[:2], status.tolist()
    ([datetime.datetime(2024, 3, 31, 1, 30), datetime.datetime(2024, 3, 31, 1, 30)], [0, 0, 1, 2, 0])
    """
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    n = start.shape[0]
    length = stop - start
    seconds = np.zeros(n, dtype=np.int64)
    status = np.full(n, INVALID, dtype=np.int8)
    status[length == 0] = EMPTY
    if n == 0 or buf.shape[0] == 0:
        return seconds, status
    words = byte_words(buf) if words is None else words
    last = words.shape[0] - 1

    def word(at: np.ndarray) -> np.ndarray:
        return words[np.clip(at, 0, last)]

    # The first 24 and the last 8 bytes of every field, three words and one word.  Bytes
    # past a field's end belong to the next field: every use below checks the length first.
    head = np.stack([word(start + 8 * k) for k in range(3)], axis=1).view(np.uint8).reshape(n, 24)
    tail = word(stop - 8).view(np.uint8).reshape(n, 8)

    def from_end(back: int) -> np.ndarray:  # the byte ``back`` places before the field's end
        return tail[:, 8 - back].astype(np.int16)

    ok = length >= 17
    digits = head[:, _DIGIT_POSITIONS].astype(np.int16) - 48
    ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    ok &= (head[:, 4] == ord("-")) & (head[:, 7] == ord("-")) & (head[:, 13] == ord(":"))
    sep = head[:, 10]
    ok &= (sep == ord("T")) | (sep == ord("t")) | (sep == ord(" "))
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    hour = digits[:, 8] * 10 + digits[:, 9]
    minute = digits[:, 10] * 10 + digits[:, 11]

    # Seconds are optional; ``pos`` is where the fraction or the offset begins.
    has_seconds = (length >= 19) & (head[:, 16] == ord(":"))
    s1, s2 = head[:, 17].astype(np.int16) - 48, head[:, 18].astype(np.int16) - 48
    ok &= ~has_seconds | ((s1 >= 0) & (s1 <= 9) & (s2 >= 0) & (s2 <= 9))
    second = np.where(has_seconds, s1 * 10 + s2, 0)
    pos = np.where(has_seconds, 19, 16)

    # The offset is read from the end of the field.
    endc = from_end(1)
    zulu = (endc == ord("Z")) | (endc == ord("z"))
    sign6, colon3 = from_end(6), from_end(3)
    long_form = ~zulu & ((sign6 == ord("+")) | (sign6 == ord("-"))) & (colon3 == ord(":"))
    sign5 = from_end(5)
    compact = ~zulu & ~long_form & ((sign5 == ord("+")) | (sign5 == ord("-")))
    short = ~zulu & ~long_form & ~compact & ((colon3 == ord("+")) | (colon3 == ord("-")))
    ok &= zulu | long_form | compact | short
    tail_size = np.select([zulu, long_form, compact, short], [1, 6, 5, 3], 0)
    sign = np.select([long_form, compact, short], [sign6, sign5, colon3], ord("+"))
    oh1 = np.select([long_form, compact, short], [from_end(5), from_end(4), from_end(2)], 48) - 48
    oh2 = np.select([long_form, compact, short], [from_end(4), from_end(3), from_end(1)], 48) - 48
    om1 = np.where(long_form | compact, from_end(2), 48) - 48
    om2 = np.where(long_form | compact, from_end(1), 48) - 48
    off_digits = np.stack([oh1, oh2, om1, om2], axis=1)
    ok &= ((off_digits >= 0) & (off_digits <= 9)).all(axis=1)
    off_hours = oh1 * 10 + oh2
    off_minutes = om1 * 10 + om2
    ok &= (off_hours <= 23) & (off_minutes <= 59)
    offset = (off_hours.astype(np.int64) * 3600 + off_minutes * 60) * np.where(sign == ord("-"), -1, 1)

    # Between the time and the offset: nothing, or "." and 1-9 digits.
    middle = length - tail_size - pos
    has_fraction = middle > 0
    ok &= (middle == 0) | ((middle >= 2) & (middle <= 10))
    if has_fraction.any():  # rare: read the fraction byte by byte
        rows = np.flatnonzero(has_fraction & ok)
        at = np.minimum(start[rows, None] + pos[rows, None] + np.arange(10), buf.shape[0] - 1)
        frac = buf[at].astype(np.int16)
        in_frac = np.arange(1, 10) < middle[rows][:, None]
        good = (frac[:, 0] == ord(".")) & (((frac[:, 1:] >= 48) & (frac[:, 1:] <= 57)) | ~in_frac).all(axis=1)
        ok[rows] &= good

    month_ok = (month >= 1) & (month <= 12)
    ok &= month_ok
    dim = _DAYS_IN_MONTH[np.where(month_ok, month, 0)]
    dim = np.where((month == 2) & ~_is_leap(year), 28, dim)
    ok &= (day >= 1) & (day <= dim) & (hour <= 23) & (minute <= 59) & (second <= 59)

    days = days_from_civil(year.astype(np.int64), month.astype(np.int64), day.astype(np.int64))
    value = days * 86400 + hour.astype(np.int64) * 3600 + minute * 60 + second - offset
    seconds[ok] = value[ok]
    status[ok] = OK
    return seconds, status
