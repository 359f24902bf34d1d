"""The one error type of the command line (user mistakes: exit status 2)."""

from __future__ import annotations


class CliError(Exception):
    """A mistake the user can fix; printed as one line to stderr, exit status 2."""
