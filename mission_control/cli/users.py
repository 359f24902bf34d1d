"""``mission-control users``: add, list and delete the service's users.

``users add NAME --role ROLE`` prints the new bearer token as its last line (only its hash
is stored: keep it). The database is ``--db`` or ``MC_DATABASE_URL`` (default the local
SQLite file that ``serve`` uses).
"""

from __future__ import annotations

import argparse
import asyncio

from mission_control.config import load_settings
from mission_control.store import Store

ROLES = ("responder", "pilot", "viewer", "admin")


def _db_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", metavar="URL", help="database URL (default: MC_DATABASE_URL or the SQLite file)"
    )
    return common


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = _db_option()
    p = sub.add_parser("users", help="manage users and their tokens", description=__doc__)
    cmds = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = cmds.add_parser("add", parents=[db], help="add a user and print its token")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.set_defaults(func=_add)
    ls = cmds.add_parser("list", parents=[db], help="list users and roles")
    ls.set_defaults(func=_list)
    rm = cmds.add_parser("delete", parents=[db], help="delete a user (its token stops working)")
    rm.add_argument("name")
    rm.set_defaults(func=_delete)


def _url(args: argparse.Namespace) -> str:
    return str(load_settings(database_url=args.db).database_url)


def _add(args: argparse.Namespace) -> int:
    async def go() -> str:
        async with await Store.open(_url(args)) as store:
            return await store.add_user(args.name, args.role)

    token = asyncio.run(go())
    print(f"user {args.name!r} added with role {args.role}; its bearer token:")
    print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    async def go() -> list[tuple[str, str]]:
        async with await Store.open(_url(args)) as store:
            return [(u.name, str(u.role)) for u in await store.list_users()]

    for name, role in asyncio.run(go()):
        print(f"{name}\t{role}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    async def go() -> bool:
        async with await Store.open(_url(args)) as store:
            return await store.delete_user(args.name)

    if not asyncio.run(go()):
        print(f"no user named {args.name!r}")
        return 1
    print(f"user {args.name!r} deleted")
    return 0
