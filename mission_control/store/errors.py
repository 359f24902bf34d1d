"""Typed errors of the store; every one derives from :class:`StoreError`.

No SQLAlchemy or driver exception leaves :mod:`mission_control.store`: the store translates
them at its boundary (``raise ... from``) into these types.
"""

from __future__ import annotations

from mission_control.errors import MissionControlError


class StoreError(MissionControlError):
    """Root of the store's errors (also: a database error with no more specific type)."""


class InvalidDatabaseURL(StoreError, ValueError):
    """The database URL cannot be used.

    Attributes:
        url: the URL as given, password hidden.
        reason: why, for a person.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"database URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened (refused, unknown host or database, timeout).

    Attributes:
        url: the URL, password hidden.
        reason: the driver's explanation.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open the database {url}: {reason}")
        self.url = url
        self.reason = reason


class SchemaError(StoreError):
    """The database schema cannot be brought to (or is not at) this version's revision.

    Attributes:
        reason: what is wrong, e.g. a revision this version does not know (a newer service
            migrated the database).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"database schema: {reason}")
        self.reason = reason


class InvalidValue(StoreError, ValueError):
    """A value cannot be stored (not JSON-ready, too long, unknown role ...).

    Attributes:
        field: the field's name (``role``, ``airspace_report``, ``zones[2].feature`` ...).
        reason: why it was refused.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DuplicateError(StoreError):
    """A value that must be unique is already stored (nothing was written).

    Attributes:
        field: the unique field (``name``, ``zone_id``, ``id`` ...).
        value: the duplicated value.
    """

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field} {value!r} already exists")
        self.field = field
        self.value = value


class NotFound(StoreError):
    """The object to change is not stored.

    Attributes:
        kind: ``incident``, ``mission``, ``user`` ...
        object_id: its id.
    """

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"no {kind} {object_id!r}")
        self.kind = kind
        self.object_id = object_id


class StaleWrite(StoreError):
    """An update's ``before`` no longer matches the stored row: someone changed it first.

    Nothing was written; re-read the object and decide again.

    Attributes:
        kind: ``incident`` or ``mission``.
        object_id: its id.
    """

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id} changed since it was read: update refused")
        self.kind = kind
        self.object_id = object_id


class UnreadableRow(StoreError):
    """A stored row cannot be turned back into a domain value (edited by hand, or written by
    an incompatible version).

    Attributes:
        kind: ``incident``, ``mission``, ``event`` ...
        object_id: its id.
        reason: what failed.
    """

    def __init__(self, kind: str, object_id: str, reason: str) -> None:
        super().__init__(f"stored {kind} {object_id} is unreadable: {reason}")
        self.kind = kind
        self.object_id = object_id
        self.reason = reason
