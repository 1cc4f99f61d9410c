"""User-facing errors.

A `UserError` is bad input (unknown name, malformed config, missing file): the CLI
prints its message on one line and exits with status 2, without a traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class UserError(Exception):
    """Bad input from the user; the message names the culprit and the valid choices."""


def unknown_choice(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """Build the standard 'unknown X' error: culprit, closest match, valid choices."""
    valid = sorted(choices)
    close = get_close_matches(name, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UserError(f"unknown {kind} '{name}'{hint}; valid {kind}s: {', '.join(valid)}")
