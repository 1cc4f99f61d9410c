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


class PolicyFailed(UserError):
    """A policy's own code raised (while being built or while acting): one line naming the
    policy, the mission and the exception; exit 2 like other input the run cannot use. The
    traceback goes to the `--log-json` log, and to stderr with DAF_DEBUG=1."""


def one_line(exc: BaseException) -> str:
    """`Type: message` on one line (whitespace collapsed); where the message is empty (a bare
    `assert`), the file and line that raised instead."""
    text = " ".join(str(exc).split())
    if text:
        return f"{type(exc).__name__}: {text}"
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    return f"{type(exc).__name__}{where}"


def unknown_choice(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """Build the standard 'unknown X' error: culprit, closest match, valid choices."""
    valid = sorted(choices)
    close = get_close_matches(name, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UserError(f"unknown {kind} '{name}'{hint}; valid {kind}s: {', '.join(valid)}")


def positive_weights(values: Iterable[float], count: int, what: str, per: str, shown: object = None) -> list[float]:
    """`count` finite positive shares (a mission mix, a replacement pool), or the one-line error
    naming `what` and what each share is `per` (`shown`: the input as the user wrote it)."""
    weights = [float(w) for w in values]
    if len(weights) != count or any(not w > 0 or w == float("inf") for w in weights):
        got = shown if shown is not None else weights
        raise UserError(f"{what} needs {count} positive numbers, one per {per} (got {got})")
    return weights


# Modules that moved when daf/ became domain packages (DAF 0.1, December 2026): a user's
# mission file or policy class path that imports an old one gets the new path in its error.
MOVED_MODULES = {
    "daf.analysis": "split into daf.evaluation.outcomes (episode outcomes) and daf.stats.analysis (summaries)",
    "daf.auth": "daf.ops.auth",
    "daf.bundle": "daf.ops.bundle",
    "daf.checkpoint": "daf.policies.checkpoint",
    "daf.checkpoint_curves": "daf.evaluation.checkpoints",
    "daf.cluster": "daf.ops.cluster",
    "daf.comparison": "daf.stats.comparison",
    "daf.config": "is a package now: import from its modules (base, training, sweeps, sections, study, load)",
    "daf.config_errors": "daf.config.errors",
    "daf.config_reference": "daf.config.reference",
    "daf.crossplay": "daf.stats.crossplay",
    "daf.curves": "daf.stats.curves",
    "daf.distributed": "daf.training.distributed",
    "daf.doctor": "daf.ops.doctor",
    "daf.envs": "daf.missions.envs",
    "daf.evaluation": "daf.evaluation.request",
    "daf.experience": "daf.training.experience",
    "daf.launch": "daf.training.launch",
    "daf.mission_set": "daf.missions.sets",
    "daf.nn": "daf.policies.networks",
    "daf.observations": "daf.policies.observations",
    "daf.planning": "daf.stats.planning",
    "daf.policy_info": "daf.ops.inspect",
    "daf.ppo": "daf.training.ppo",
    "daf.replay": "daf.evaluation.replays",
    "daf.rollout": "daf.evaluation.episodes",
    "daf.stats": "is a package now: import from its modules (scores, bootstrap, metrics, estimates, significance, ...)",
    "daf.submit": "daf.ops.submit",
    "daf.sweep": "split into daf.sweeps.space, .search, .trials and .selection",
    "daf.vor": "daf.stats.vor",
}


def moved_module_hint(exc: BaseException) -> str:
    """' (daf.rollout moved to daf.evaluation.episodes)' when `exc` failed to import a moved
    module (or a name below one), else ''."""
    name = getattr(exc, "name", None) or ""
    for old, new in MOVED_MODULES.items():
        if name == old or (name.startswith(old + ".") and not _exists(name)):
            return f" ({old} {new})" if " " in new else f" ({old} moved to {new}; import it from there)"
    return ""


def _exists(module: str) -> bool:
    """Whether `module` exists: `daf.stats.vor` is a module of a package that took an old
    module's name, not a move."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
