"""Reading parsed JSON documents with a JSON path in every error (internal).

The plan formats (QGroundControl ``.plan``, GeoJSON) are read in two steps: the text is
parsed with :func:`parse` (which refuses the non-standard ``NaN``/``Infinity`` tokens that
Python's :mod:`json` accepts), then a :class:`JsonReader` checks each value where it is used,
so a refusal names the file and the element (``mission.items[3].params[4]``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from flight_plans.errors import PlanFormatError, PlanValueError


class _NonFinite(float):
    """Marks a ``NaN``/``Infinity`` token so :func:`parse` can report where it was."""

    __slots__ = ("token",)

    def __new__(cls, token: str) -> _NonFinite:
        obj = super().__new__(cls, math.nan)
        obj.token = token
        return obj

    token: str


def read_text(path: str | os.PathLike[str], *, what: str) -> str:
    """A UTF-8 (optionally BOM-prefixed) text file; ``what`` names the expected format.

    Raises:
        OSError: the file cannot be read.
        PlanFormatError: the bytes are not UTF-8.
    """
    p = Path(path)
    try:
        return p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanFormatError(f"not UTF-8 text (byte {exc.start}): {what}", source=str(p)) from None


def key_path(path: str, key: str) -> str:
    """JSON path of ``key`` inside the object at ``path``."""
    return f"{path}.{key}" if path else key


def index_path(path: str, index: int) -> str:
    """JSON path of element ``index`` of the array at ``path``."""
    return f"{path}[{index}]"


def parse(text: str, *, source: str = "") -> object:
    """Parse JSON ``text`` strictly.

    Raises:
        PlanFormatError: the text is not JSON (malformed, truncated, empty) or contains a
            ``NaN``/``Infinity`` token; ``path`` names the element when it is known.
    """
    if not isinstance(text, str):
        raise PlanFormatError(f"expected JSON text, got {type(text).__name__}", source=source)
    try:
        doc = json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(
            f"not valid JSON (malformed or truncated): {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
            source=source,
        ) from None
    except RecursionError:
        raise PlanFormatError("JSON nested too deeply", source=source) from None
    _refuse_non_finite(doc, "", source)
    return doc


def _refuse_non_finite(value: object, path: str, source: str) -> None:
    if isinstance(value, _NonFinite):
        raise PlanFormatError(
            f"{value.token} is not a JSON number (values must be finite)", path=path, source=source
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_non_finite(v, key_path(path, k), source)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_non_finite(v, index_path(path, i), source)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


@dataclass(frozen=True, slots=True)
class JsonReader:
    """Typed access to a parsed JSON document; every refusal carries path and source."""

    source: str = ""

    def fail(self, reason: str, path: str) -> NoReturn:
        """Raise a :class:`PlanFormatError` at ``path``."""
        raise PlanFormatError(reason, path=path, source=self.source)

    def obj(self, value: object, path: str) -> dict[str, object]:
        """``value`` as a JSON object."""
        if not isinstance(value, dict):
            self.fail(f"expected an object, got {_kind(value)}", path)
        return value

    def array(self, value: object, path: str, *, length: int | None = None) -> list[object]:
        """``value`` as a JSON array, optionally of exactly ``length`` elements."""
        if not isinstance(value, list):
            self.fail(f"expected an array, got {_kind(value)}", path)
        if length is not None and len(value) != length:
            self.fail(f"expected an array of {length} values, got {len(value)}", path)
        return value

    def required(self, obj: Mapping[str, object], key: str, path: str) -> object:
        """The value of required ``key`` in ``obj`` (the object at ``path``); a missing key is
        reported at its own path (``mission.items``)."""
        if key not in obj:
            self.fail(f"required key {key!r} is missing", key_path(path, key))
        return obj[key]

    def number(self, value: object, path: str, *, field: str, nullable: bool = False) -> float:
        """``value`` as a float; ``null`` is NaN when ``nullable`` (QGroundControl's NaN)."""
        if value is None and nullable:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PlanValueError(
                field, value, f"must be a number, got {_kind(value)}", path=path, source=self.source
            )
        return float(value)

    def integer(self, value: object, path: str, *, field: str) -> int:
        """``value`` as an int (a JSON number with no fractional part)."""
        v = self.number(value, path, field=field)
        if not v.is_integer():
            raise PlanValueError(field, value, "must be an integer", path=path, source=self.source)
        return int(v)

    def boolean(self, value: object, path: str) -> bool:
        """``value`` as a bool."""
        if not isinstance(value, bool):
            self.fail(f"expected true or false, got {_kind(value)}", path)
        return value

    def string(self, value: object, path: str) -> str:
        """``value`` as a str."""
        if not isinstance(value, str):
            self.fail(f"expected a string, got {_kind(value)}", path)
        return value
