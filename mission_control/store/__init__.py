"""Persistence: incidents, missions, events, a hash-chained audit log, users, zones,
and the leases that say which service instance owns each vehicle link.

SQLAlchemy 2 (async) on SQLite via aiosqlite by default, or PostgreSQL via asyncpg; the
schema is managed by the Alembic migrations shipped in ``migrations/`` and applied by
:meth:`Store.open`. Nothing from SQLAlchemy or the drivers leaves this package: errors are
:class:`StoreError` subclasses. See :mod:`mission_control.store.repository` for the
transaction model.
"""

from mission_control.store.actors import SYSTEM, Actor, Role
from mission_control.store.audit import AuditEntry, AuditReport
from mission_control.store.errors import (
    DuplicateError,
    InvalidDatabaseURL,
    InvalidValue,
    NotFound,
    SchemaError,
    StaleWrite,
    StoreError,
    StoreUnavailable,
    UnreadableRow,
)
from mission_control.store.leases import InstanceRow, LeaseRow
from mission_control.store.repository import Store, StoreOpening, verify_audit_url
from mission_control.store.unit import UnitOfWork
from mission_control.store.users import User
from mission_control.store.zones import ZoneDoc, ZoneRecord

__all__ = [
    "SYSTEM",
    "Actor",
    "AuditEntry",
    "AuditReport",
    "DuplicateError",
    "InstanceRow",
    "InvalidDatabaseURL",
    "InvalidValue",
    "LeaseRow",
    "NotFound",
    "Role",
    "SchemaError",
    "StaleWrite",
    "Store",
    "StoreError",
    "StoreOpening",
    "StoreUnavailable",
    "UnitOfWork",
    "UnreadableRow",
    "User",
    "ZoneDoc",
    "ZoneRecord",
    "verify_audit_url",
]
