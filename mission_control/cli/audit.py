"""``mission-control audit verify``: check the audit log's hash chain.

Exit status 0 when every entry is intact, 1 when an entry was edited, removed or
reordered (the first bad entry is named).
"""

from __future__ import annotations

import argparse
import asyncio

from mission_control.config import load_settings
from mission_control.store import verify_audit_url


def _db_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", metavar="URL", help="database URL (default: MC_DATABASE_URL or the SQLite file)"
    )
    return common


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = _db_option()
    p = sub.add_parser("audit", help="inspect the audit log", description=__doc__)
    cmds = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = cmds.add_parser("verify", parents=[db], help="recompute the hash chain")
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    url = str(load_settings(database_url=args.db).database_url)

    report = asyncio.run(verify_audit_url(url))  # read-only: never migrates
    entries = report.entries
    if report.ok:
        print(f"audit log intact: {entries} entries, hash chain verified")
        return 0
    print(
        f"audit log TAMPERED: entry {report.first_bad_id}: {report.reason} "
        f"({entries} entries checked)"
    )
    return 1
