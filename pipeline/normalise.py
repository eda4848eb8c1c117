"""Pure per-value parsers of SPEC §2.3: text, phone, date-time, money, unit identity.

Each parser takes a cell exactly as the reader got it (str, int, float, bool, date, datetime or
None) and returns the clean value or raises `ValueProblem` with the reason code. They are
idempotent on their own output, which the property tests check.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

Cell = Any


class ValueProblem(ValueError):
    """A cell that cannot be used; `reason` is a SPEC §5.2 reading code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_number(value: Cell) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text(value: Cell) -> str:
    """NFKC, trimmed of all white space (U+3000 included). Numbers lose a spurious `.0`."""
    if value.__class__ is str:
        # ASCII is already NFKC: skip the normaliser on the common case.
        return (value if value.isascii() else unicodedata.normalize("NFKC", value)).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


def is_blank(value: Cell) -> bool:
    """Empty or only white space. str.strip() removes every Unicode white space NFKC could
    produce (U+3000 included), so no normalising is needed to decide."""
    return value is None or (value.__class__ is str and not value.strip())


# A mainland mobile (SPEC §2.3: `^1[3-9]\d{9}$`, \d as ASCII digits: Python's \d also takes other
# scripts' digits, which no phone system dials). The one definition of the rule:
# `phone`, the bulk short path and the columnar reader (`io/columnar.py`) all use these. As a
# number cell: LOWEST_MOBILE <= n < MOBILE_END.
MOBILE = "1[3-9][0-9]{9}"
LOWEST_MOBILE, MOBILE_END = 13_000_000_000, 20_000_000_000
_MOBILE = re.compile(MOBILE)
_PHONE_NOISE = re.compile(r"[\s\-.()\[\]]")


def quick_phone(value: Cell) -> str | None:
    """The short path of bulk reading: what `phone` returns for the two common cells, text that
    is already 11 clean digits and a number cell holding an 11-digit mobile; None for any other
    cell (then `phone` decides)."""
    kind = value.__class__
    if kind is str:
        return value if len(value) == 11 and value.isascii() and _MOBILE.fullmatch(value) else None
    if kind is float or kind is int:
        if LOWEST_MOBILE <= value < MOBILE_END and (kind is int or value.is_integer()):
            return str(int(value))
    return None


_ISO_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def quick_time(value: Cell) -> str | None:
    """The short path of bulk reading: the ISO text of what `datetime_value` returns for a
    date-time cell of whole seconds or a text `YYYY-MM-DD HH:MM:SS`; None for any other cell
    (then `datetime_value` decides)."""
    if value.__class__ is datetime:
        return value.isoformat() if not value.microsecond and value.tzinfo is None else None
    if value.__class__ is str and len(value) == 19 and _ISO_TEXT.fullmatch(value):
        try:
            datetime(int(value[:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]), int(value[14:16]),
                     int(value[17:]))
        except ValueError:
            return None
        return value[:10] + "T" + value[11:]
    return None


def phone(value: Cell) -> str:
    """A mainland mobile number as its 11 digits, or `INVALID_PHONE`.

    A number cell never goes through str(float) so no digit is lost: Excel stores phones typed
    as numbers as floats, which are exact up to 2**53.
    """
    if value.__class__ is str and len(value) == 11 and value.isascii() and _MOBILE.fullmatch(value):
        return value  # the common case, already clean
    if _is_number(value):
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ValueProblem("INVALID_PHONE")
        digits = str(int(value))
    elif isinstance(value, str):
        digits = unicodedata.normalize("NFKC", value).strip()
        if digits.startswith("'"):
            digits = digits[1:].strip()
        if digits.endswith(".0"):
            digits = digits[:-2]
        digits = _PHONE_NOISE.sub("", digits)
    else:
        raise ValueProblem("INVALID_PHONE")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix):]
            break
    if not _MOBILE.fullmatch(digits):
        raise ValueProblem("INVALID_PHONE")
    return digits


_EXCEL_EPOCH = datetime(1899, 12, 30)
_DATE_SEP = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_DATE_ZH = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日(?:\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def _round_second(value: datetime) -> datetime:
    try:
        if value.microsecond >= 500_000:
            value += timedelta(seconds=1)
    except OverflowError:  # the last half second of 9999-12-31 rounds past the calendar
        raise ValueProblem("INVALID_DATE") from None
    return value.replace(microsecond=0)


def datetime_value(value: Cell) -> datetime:
    """A naive local date-time rounded to the second, or `INVALID_DATE`."""
    if value.__class__ is datetime and not value.microsecond and value.tzinfo is None:
        return value  # the common case: an Excel date cell, already whole seconds
    if isinstance(value, datetime):
        return _round_second(value.replace(tzinfo=None))
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if _is_number(value):
        serial = float(value)
        # 1900 date system; below 1 is not a date, above 9999-12-31 is not either.
        if not math.isfinite(serial) or serial < 1 or serial >= 2958466:
            raise ValueProblem("INVALID_DATE")
        micro = round(serial * 86_400_000_000)
        return _round_second(_EXCEL_EPOCH + timedelta(microseconds=micro))
    if isinstance(value, str):
        raw = unicodedata.normalize("NFKC", value).strip()
        match = _DATE_SEP.fullmatch(raw)
        if match:
            y, _sep, mo, d, h, mi, s = match.groups()
        else:
            match = _DATE_ZH.fullmatch(raw)
            if not match:
                raise ValueProblem("INVALID_DATE")
            y, mo, d, h, mi, s = match.groups()
        try:
            return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
        except ValueError:
            raise ValueProblem("INVALID_DATE") from None
    raise ValueProblem("INVALID_DATE")


CENT = Decimal("0.01")
_MONEY_NOISE = re.compile(r"[\s,¥￥]|元$|^RMB|^CNY", re.IGNORECASE)
_MONEY = re.compile(r"-?\d+(\.\d+)?|-?\.\d+")


def money(value: Cell) -> Decimal:
    """An exact amount with two places (half up), or `INVALID_AMOUNT` if negative or unreadable."""
    if _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueProblem("INVALID_AMOUNT")
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    elif isinstance(value, str):
        raw = unicodedata.normalize("NFKC", value).strip()
        raw = _MONEY_NOISE.sub("", raw)
        raw = raw.removesuffix("元")
        if not _MONEY.fullmatch(raw):
            raise ValueProblem("INVALID_AMOUNT")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ValueProblem("INVALID_AMOUNT") from None
    else:
        raise ValueProblem("INVALID_AMOUNT")
    if amount < 0:
        raise ValueProblem("INVALID_AMOUNT")
    try:
        return round_money(amount)
    except ArithmeticError:  # more digits than any real amount (decimal's 28-digit context)
        raise ValueProblem("INVALID_AMOUNT") from None


_MINUS = "-\u2212"  # after NFKC a full-width minus is "-"; the minus sign U+2212 stays itself


def signed_money(value: Cell) -> Decimal:
    """An amount that may be negative (SPEC §7.1 `amount`): as `money`, but a leading minus
    (`-` or `−`, before any `¥`/`￥`) makes it negative, and a number cell keeps its sign. A
    negative amount rounds like its absolute value (−0.005 → −0.01). `¥-150`, `+150` and `--5`
    are `INVALID_AMOUNT`; minus zero is zero."""
    if _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueProblem("INVALID_AMOUNT")
        if value < 0:
            return -money(-value) + 0
        return money(value)
    if isinstance(value, str):
        raw = unicodedata.normalize("NFKC", value).strip()
        if raw[:1] in _MINUS:
            rest = raw[1:]
            if not rest.strip():
                raise ValueProblem("INVALID_AMOUNT")
            return -money(rest) + 0  # money() rejects a second sign: `--5` is invalid
        return money(raw)
    raise ValueProblem("INVALID_AMOUNT")


def round_money(amount: Decimal) -> Decimal:
    return (amount + 0).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_money(amount: Decimal) -> str:
    return str(round_money(amount))


def unit_key(name: str) -> str:
    """Unit identity: NFKC, all white space removed, case-folded."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def mask_phone(value: str) -> str:
    """`138****8000` for pages and emails."""
    if len(value) == 11 and value.isdigit():
        return value[:3] + "****" + value[7:]
    return value
