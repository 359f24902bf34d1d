"""The ``mission-control`` command line.

Subcommands register themselves in :data:`SUBCOMMANDS`; each is a module with
``add_parser(subparsers)``. User mistakes (bad files, bad values) print one line to stderr
and exit with status 2 — never a traceback. Bugs still show their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from flight_plans.errors import FlightPlanError
from mission_control import __version__
from mission_control.cli import airspace as airspace_cmd
from mission_control.cli import audit as audit_cmd
from mission_control.cli import plan as plan_cmd
from mission_control.cli import serve as serve_cmd
from mission_control.cli import sim as sim_cmd
from mission_control.cli import users as users_cmd
from mission_control.cli.errors import CliError
from mission_control.errors import MissionControlError
from sim.errors import SimError

EXIT_USAGE = 2

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    plan_cmd.add_parser,
    airspace_cmd.add_parser,
    sim_cmd.add_parser,
    serve_cmd.add_parser,
    users_cmd.add_parser,
    audit_cmd.add_parser,
)


class OneLineArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with every subcommand."""
    parser = OneLineArgumentParser(
        prog="mission-control",
        description="Drone-as-first-responder fleet mission control.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineArgumentParser
    )
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mission-control`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except (FlightPlanError, MissionControlError, SimError, CliError) as exc:
        print(f"mission-control: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"mission-control: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
