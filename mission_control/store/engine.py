"""Database URLs, the async engine, schema migrations and error translation.

Two backends: SQLite through aiosqlite (the default, one local file) and PostgreSQL through
asyncpg. For SQLite the store takes over transaction control from the driver (the
``sqlite3`` module's legacy mode never begins a transaction before a SELECT or DDL), so a
writing transaction starts with ``BEGIN IMMEDIATE`` (it holds the write lock from its first
read, as PostgreSQL's ``SELECT ... FOR UPDATE`` of the state row does), migrations run as
one transaction, and savepoints work. WAL journaling lets readers proceed while a writer
holds the lock; foreign keys are enforced.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mission_control.store.errors import (
    InvalidDatabaseURL,
    SchemaError,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "LOCK_WAIT_OPTION",
    "MIGRATIONS_DIR",
    "WRITE_OPTION",
    "alembic_config",
    "check_schema",
    "create_engine",
    "hide_password",
    "migrate",
    "normalise_url",
    "translate_errors",
]

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
EXPECTED = "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host:5432/db"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory shipped inside the package."""

WRITE_OPTION = "mission_control_write"
"""Connection execution option marking a writing transaction (SQLite: ``BEGIN IMMEDIATE``)."""

LOCK_WAIT_OPTION = "mission_control_lock_wait_s"
"""Connection execution option: how long (seconds) the transaction's statements wait for a
lock held by another transaction (SQLite: the busy timeout, also for ``BEGIN IMMEDIATE``;
PostgreSQL: ``lock_timeout``, set by the caller with ``SET LOCAL``). Default: SQLite
:data:`SQLITE_BUSY_TIMEOUT_S`, PostgreSQL no limit."""

MIGRATION_LOCK_KEY = 0x4D43_5354  # "MCST": PostgreSQL advisory lock held while migrating

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite connection waits for another process's write lock."""


def hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also for text that is not a URL)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def normalise_url(url: str) -> sa.URL:
    """The async-driver form of a database URL.

    ``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``; ``postgresql://`` and
    ``postgres://`` become ``postgresql+asyncpg://``.

    Raises:
        InvalidDatabaseURL: not a URL, another database or driver, or SQLite without a file.
    """
    shown = hide_password(url)
    try:
        parsed = sa.make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidDatabaseURL(shown, f"not a database URL; expected {EXPECTED}") from None
    backend = parsed.drivername.partition("+")[0]
    if backend == "sqlite":
        if parsed.drivername not in ("sqlite", SQLITE_DRIVER):
            raise InvalidDatabaseURL(shown, f"use the aiosqlite driver ({SQLITE_DRIVER}://)")
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidDatabaseURL(
                shown, "give a file path (an in-memory database loses everything on restart)"
            )
        return parsed.set(drivername=SQLITE_DRIVER)
    if backend in ("postgresql", "postgres"):
        if parsed.drivername not in ("postgresql", "postgres", POSTGRES_DRIVER):
            raise InvalidDatabaseURL(shown, f"use the asyncpg driver ({POSTGRES_DRIVER}://)")
        if not parsed.database:
            raise InvalidDatabaseURL(shown, "name the database (…:5432/dbname)")
        return parsed.set(drivername=POSTGRES_DRIVER)
    raise InvalidDatabaseURL(shown, f"unsupported database {parsed.drivername!r}; {EXPECTED}")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the "begin" hook below emits BEGIN itself
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    options = conn.get_execution_options()
    # the busy timeout belongs to the DBAPI connection, which the pool shares between
    # transactions: set it whenever this transaction wants another one than the last
    busy_ms = round(1000 * float(options.get(LOCK_WAIT_OPTION, SQLITE_BUSY_TIMEOUT_S)))
    if conn.info.get(LOCK_WAIT_OPTION) != busy_ms:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms:d}")
        conn.info[LOCK_WAIT_OPTION] = busy_ms
    conn.exec_driver_sql(
        "BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN DEFERRED"
    )


def _check_sqlite_path(path: Path, url: str) -> None:
    # Refuse unusable paths here with a clear reason: a failed aiosqlite connect also
    # leaves its worker thread signalling a future nobody awaits.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(url, f"cannot create the directory {path.parent}: {exc}") from exc
    if path.is_dir():
        raise StoreUnavailable(url, f"{path} is a directory, not a database file")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreUnavailable(url, f"{path} is not readable and writable")
    if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreUnavailable(url, f"cannot create {path}: its directory is not writable")


def create_engine(url: sa.URL, *, connect_timeout_s: float) -> AsyncEngine:
    """An async engine for a URL from :func:`normalise_url` (SQLite: creates the file's
    directory and installs the transaction hooks).

    Raises:
        StoreUnavailable: the SQLite file cannot be created or opened (a directory, no
            permission).
    """
    if url.get_backend_name() == "sqlite":
        _check_sqlite_path(Path(str(url.database)), str(url))
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        sa.event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    return create_async_engine(url, connect_args={"timeout": connect_timeout_s}, pool_pre_ping=True)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations (no ``alembic.ini`` needed);
    with ``connection``, ``env.py`` migrates through it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade_to_head(connection: sa.Connection) -> None:
    # The one place Alembic's (synchronous) API runs: on the async connection's greenlet
    # through AsyncConnection.run_sync, inside the caller's transaction.
    if connection.dialect.name == "postgresql":
        # several instances may start at once: one migrates, the others wait and find head
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
    command.upgrade(alembic_config(connection), "head")


def _current_and_head(connection: sa.Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return current, head


async def migrate(engine: AsyncEngine) -> None:
    """Apply the migrations up to head in one transaction (a no-op when already there).

    Raises:
        SchemaError: the database is at a revision this version does not know (migrated
            by a newer version), or a migration statement failed (nothing is applied).
    """
    async with engine.connect() as conn:
        await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            try:
                await conn.run_sync(_upgrade_to_head)
            except CommandError as exc:
                raise SchemaError(f"{exc} (was it migrated by a newer version?)") from exc
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                raise SchemaError(f"a migration failed: {_reason(exc)}") from exc


async def check_schema(engine: AsyncEngine) -> None:
    """Check, without changing anything, that the schema is at this version's head.

    Raises:
        SchemaError: not migrated, or at another revision.
    """
    async with engine.connect() as conn:
        current, head = await conn.run_sync(_current_and_head)
    if current is None:
        raise SchemaError("no mission-control schema in this database (never started?)")
    if current != head:
        raise SchemaError(f"the database is at revision {current}, this version needs {head}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc) or type(exc).__name__
    return re.sub(r"^<class '[\w.]+'>: ", "", text)


@contextlib.contextmanager
def translate_errors(
    url: str, what: str, *, opening: bool = False, os_errors: bool = True
) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors raised inside into :class:`StoreError` types.

    ``opening``: every failure means the database cannot be used (:class:`StoreUnavailable`).
    Later, a lost connection is :class:`StoreUnavailable` and anything else a
    :class:`StoreError` naming ``what`` failed. ``os_errors=False`` leaves ``OSError``
    alone (around code that is not only the store's).
    """
    translated: tuple[type[BaseException], ...] = (
        (SQLAlchemyError, OSError) if os_errors else (SQLAlchemyError,)
    )
    try:
        yield
    except StoreError:
        raise
    except translated as exc:
        lost = isinstance(exc, OSError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        )
        if opening or lost:
            raise StoreUnavailable(url, _reason(exc)) from exc
        raise StoreError(f"{what}: database error: {_reason(exc)}") from exc
