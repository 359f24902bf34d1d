"""Strict JSON in and out for the bus payloads, and a typed reader of JSON objects.

:func:`loads_strict` refuses what :func:`json.loads` lets through (``NaN``, ``Infinity``,
numbers out of float range, repeated keys, lone surrogates) and :class:`ObjectReader` reads
one object's fields with their JSON types, so every failure is a :class:`MessageError` that
names the field path (``samples[2].lat_deg``). :func:`dumps_compact` writes the compact,
ASCII-only form every payload travels in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, TypeVar

from mission_control.bus.memory import BusError

__all__ = [
    "MAX_INT",
    "MAX_MESSAGE_BYTES",
    "VERSION",
    "JsonObject",
    "MessageError",
    "ObjectReader",
    "dumps_compact",
    "json_type",
    "loads_strict",
    "read_document",
    "time_text",
    "valid_unicode",
    "version_error",
]

VERSION: Final = 1
"""The schema version every payload carries as ``"v"``."""
MAX_MESSAGE_BYTES: Final = 1024 * 1024
"""Largest payload of the messages other than incidents (encoders refuse to write more)."""
MAX_INT: Final = 2**63 - 1
"""The largest integer a reader accepts where no smaller bound is given."""

_TIME_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)

JsonObject = dict[str, Any]
E = TypeVar("E", bound=Enum)


class MessageError(BusError, ValueError):
    """A topic part or a payload is malformed.

    Attributes:
        field: what is wrong: a field path (``samples[2].lat_deg``), ``"payload"`` for the
            bytes as a whole, or the topic part (``"site"``, ``"drone_id"``...).
        reason: why.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


# -- bytes to JSON and back ---------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _refuse_constant(name: str) -> None:
    raise _Refused(f"holds {name}, which JSON does not have")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"holds a number out of range ({text[:40]})")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"repeats the key {key[:40]!r}")
            seen.add(key)
    return obj


def valid_unicode(text: str) -> bool:
    """Whether ``text`` can be stored: no lone surrogates (which JSON's ``\\ud800`` makes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not valid_unicode(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads_strict(payload: bytes | bytearray, *, limit: int) -> object:
    """The JSON value of ``payload`` (at most ``limit`` bytes of UTF-8).

    Raises:
        MessageError: on ``"payload"``: too large, not UTF-8, not JSON, ``NaN`` or
            ``Infinity``, a number out of float range, a repeated key, a lone surrogate, or
            nested too deeply.
    """
    if len(payload) > limit:
        raise MessageError("payload", f"is {len(payload)} bytes, over the limit of {limit}")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError("payload", f"is not UTF-8 text (invalid byte at {exc.start})") from None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except _Refused as exc:
        raise MessageError("payload", exc.reason) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise MessageError("payload", f"is not JSON: {exc.msg} ({where})") from None
    except RecursionError:
        raise MessageError("payload", "nests too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise MessageError("payload", f"is not JSON we can read: {exc}") from None
    # JSON's \\ud800 escapes can make strings that are not Unicode (and cannot be stored)
    if "\\u" in text and _has_lone_surrogate(value):
        raise MessageError("payload", "holds a string that is not valid Unicode")
    return value


def dumps_compact(obj: JsonObject) -> bytes:
    """``obj`` as compact ASCII JSON.

    Raises:
        MessageError: on ``"payload"``: not JSON-ready (``NaN`` included) or over
            :data:`MAX_MESSAGE_BYTES`.
    """
    try:
        data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise MessageError("payload", f"cannot be written as JSON: {exc}") from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(
            "payload", f"is {len(data)} bytes, over the limit of {MAX_MESSAGE_BYTES}"
        )
    return data


def json_type(value: object) -> str:
    """What ``value`` is in JSON's words (``an array``, ``null``...), for error reasons."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if type(value) in (int, float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _range_text(lo: float, hi: float) -> str:
    if hi >= MAX_INT:
        return "" if lo == -math.inf else f" ≥ {lo:g}"
    return f" ≤ {hi:g}" if lo == -math.inf else f" from {lo:g} to {hi:g}"


def time_text(field: str, at: datetime) -> str:
    """``at`` in UTC as ISO 8601 (``2026-01-01T12:00:00.250000+00:00``).

    Raises:
        MessageError: on ``field``: ``at`` is not a timezone-aware datetime (or is out of range
            once in UTC).
    """
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise MessageError(field, "must be a timezone-aware datetime")
    try:
        return at.astimezone(UTC).isoformat()
    except OverflowError:
        raise MessageError(field, "is out of range in UTC") from None


# -- reading one object -------------------------------------------------------------------------


class ObjectReader:
    """The fields of one JSON object, read with their types; errors name the field path.

    Every key of ``keys`` is required; a key of ``optional`` may be present; any other key
    is refused as an unknown field.

    Raises:
        MessageError: ``value`` is not an object, misses a key or has an unknown one.
    """

    __slots__ = ("_d", "_path")

    def __init__(
        self, value: object, path: str, keys: Sequence[str], optional: Sequence[str] = ()
    ) -> None:
        if not isinstance(value, dict):
            raise MessageError(path or "payload", f"must be a JSON object, not {json_type(value)}")
        self._d: JsonObject = value
        self._path = path
        for key in keys:
            if key not in value:
                raise MessageError(self.name(key), "required")
        if len(value) > len(keys) + len(optional) or any(
            k not in keys and k not in optional for k in value
        ):
            unknown = sorted(k for k in value if k not in keys and k not in optional)
            raise MessageError(self.name(unknown[0][:100]), "unknown field")

    def name(self, key: str) -> str:
        """The path of ``key`` in the payload (``actor.name``)."""
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        return key in self._d

    def raw(self, key: str) -> object:
        return self._d.get(key)

    def array(self, key: str, max_items: int) -> list[Any]:
        value = self._d.get(key)
        if not isinstance(value, list):
            raise MessageError(self.name(key), f"must be an array, not {json_type(value)}")
        if len(value) > max_items:
            raise MessageError(self.name(key), f"must have at most {max_items} items")
        return value

    def text(
        self, key: str, *, max_len: int, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> str:
        """A string: matching ``pattern`` (described by ``what``), else 1 to ``max_len`` long."""
        value = self._d.get(key)
        if not isinstance(value, str):
            raise MessageError(self.name(key), f"must be a string, not {json_type(value)}")
        if pattern is not None:
            if pattern.fullmatch(value) is None:
                raise MessageError(self.name(key), f"must be {what}")
        elif not 1 <= len(value) <= max_len:
            raise MessageError(self.name(key), f"must be 1 to {max_len} characters")
        if not valid_unicode(value):
            raise MessageError(self.name(key), "is not valid Unicode")
        return value

    def opt_text(
        self, key: str, *, max_len: int, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> str | None:
        return (
            None
            if self._d.get(key) is None
            else self.text(key, max_len=max_len, pattern=pattern, what=what)
        )

    def integer(self, key: str, lo: int, hi: int = MAX_INT) -> int:
        value = self._d.get(key)
        if type(value) is not int or not lo <= value <= hi:
            raise MessageError(self.name(key), f"must be an integer{_range_text(lo, hi)}")
        return value

    def number(self, key: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        value = self._d.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MessageError(self.name(key), f"must be a number, not {json_type(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not (math.isfinite(number) and lo <= number <= hi):
            raise MessageError(self.name(key), f"must be a finite number{_range_text(lo, hi)}")
        return number

    def opt_number(self, key: str, lo: float = -math.inf, hi: float = math.inf) -> float | None:
        return None if self._d.get(key) is None else self.number(key, lo, hi)

    def flag(self, key: str) -> bool:
        value = self._d.get(key)
        if type(value) is not bool:
            raise MessageError(self.name(key), f"must be true or false, not {json_type(value)}")
        return value

    def opt_flag(self, key: str) -> bool | None:
        return None if self._d.get(key) is None else self.flag(key)

    def choice(self, key: str, cls: type[E]) -> E:
        value = self._d.get(key)
        if isinstance(value, str):
            for member in cls:
                if member.value == value:
                    return member
        choices = ", ".join(str(m.value) for m in cls)
        raise MessageError(self.name(key), f"must be one of {choices}")

    def literal(self, key: str, choices: Sequence[str]) -> str:
        value = self._d.get(key)
        if not isinstance(value, str) or value not in choices:
            raise MessageError(self.name(key), f"must be one of {', '.join(choices)}")
        return value

    def time(self, key: str) -> datetime:
        """An ISO 8601 date-time with a UTC offset (or ``Z``), returned in UTC."""
        value = self._d.get(key)
        if isinstance(value, str) and _TIME_RE.fullmatch(value):
            try:
                return datetime.fromisoformat(value).astimezone(UTC)
            except (ValueError, OverflowError):
                pass
        raise MessageError(self.name(key), "must be an ISO 8601 date-time with a UTC offset")

    def obj(self, key: str, keys: Sequence[str]) -> ObjectReader:
        return ObjectReader(self._d.get(key), self.name(key), keys)

    def any_object(self, key: str) -> JsonObject:
        value = self._d.get(key)
        if not isinstance(value, dict):
            raise MessageError(self.name(key), f"must be a JSON object, not {json_type(value)}")
        return value


def version_error(obj: Mapping[str, Any]) -> str | None:
    """Why the ``"v"`` of a decoded object is not :data:`VERSION` (``None`` if it is)."""
    if "v" not in obj:
        return 'missing schema version "v"; this service reads v 1'
    v = obj["v"]
    if type(v) is int and v == VERSION:
        return None
    shown = json_type(v) if isinstance(v, dict | list) else json.dumps(v, ensure_ascii=False)
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"unsupported schema version {shown}; this service reads v 1"


def read_document(
    payload: bytes | bytearray, keys: Sequence[str], optional: Sequence[str] = ()
) -> ObjectReader:
    """The top-level object of a payload: version checked first, then the field names.

    Raises:
        MessageError: the payload is not strict JSON (see :func:`loads_strict`), has another
            ``"v"``, or misses a key of ``keys`` or has one outside ``keys`` and ``optional``.
    """
    value = loads_strict(payload, limit=MAX_MESSAGE_BYTES)
    if isinstance(value, dict):
        problem = version_error(value)
        if problem is not None:
            raise MessageError("v", problem)
    return ObjectReader(value, "", keys, optional)
