"""User-facing errors.

A `UserError` is bad input (unknown name, malformed config, missing file): the CLI
prints its message on one line and exits with status 2, without a traceback. A `RunFailed`
(a run that failed for a known reason, e.g. diverged training) prints alike and exits 1.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class UserError(Exception):
    """Bad input from the user; the message names the culprit and the valid choices."""

    exit_code = 2  # the CLI's status for it


class RunFailed(UserError):
    """Input that was valid but whose run failed for a known reason (e.g. a diverged loss):
    one clear line like a user error, but exit status 1, the status of a failed run."""

    exit_code = 1


def unknown_choice(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """Build the standard 'unknown X' error: culprit, closest match, valid choices."""
    valid = sorted(choices)
    close = get_close_matches(name, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UserError(f"unknown {kind} '{name}'{hint}; valid {kind}s: {', '.join(valid)}")
