"""Argument helpers shared by the `daf` commands: they turn flag text into values, one-line errors otherwise."""

from __future__ import annotations

import json

from daf.errors import UserError, positive_weights


def bootstrap_flags(p, reps: int = 10_000) -> None:
    """--confidence, --reps and --seed: the bootstrap settings every statistics command takes."""
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--reps", type=int, default=reps, help=f"bootstrap resamples (default {reps})")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


def parse_weights(
    text: str | None, count: int, flag: str = "--replacement-weights", per: str = "--replacement"
) -> list[float]:
    if text is None:
        return [1.0] * count
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise UserError(f"{flag} '{text}' is not a comma-separated list of numbers") from None
    return positive_weights(weights, count, flag, per, f"'{text}'")


def policy_pair(text: str, sep: str = ",", flag: str = "--normalize", form: str = "LOW,HIGH") -> tuple[str, str]:
    parts = [p.strip() for p in text.split(sep)]
    if len(parts) != 2 or not all(parts):
        raise UserError(f"{flag} '{text}' must be {form} (two policy names)")
    return parts[0], parts[1]


def json_arg(text: str, flag: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{flag} is not valid JSON: {exc}") from None


def tracking_arguments(p) -> None:
    """MLflow and W&B flags (daf.tracking), shared by `daf train` and `daf report`."""
    p.add_argument("--mlflow-uri", help="also log to this MLflow tracking URI (server, databricks or a directory)")
    p.add_argument("--mlflow-experiment", default="daf", help="MLflow experiment (default daf)")
    p.add_argument("--wandb-project", help="also log to this W&B project")
    p.add_argument("--wandb-entity", help="W&B entity (default: the login's)")
    p.add_argument("--wandb-mode", choices=["offline", "online", "disabled"], default="offline",
                   help="W&B mode (default offline: `wandb sync` uploads later)")  # fmt: skip


def tracking_targets(args):
    """The flags' targets; without MLflow / W&B flags, $DAF_TRACKING's (the workflow sets it from
    the config, so that changing where curves are logged changes no job's command)."""
    from daf.tracking import TrackingTargets

    targets = TrackingTargets(mlflow_uri=args.mlflow_uri, mlflow_experiment=args.mlflow_experiment,
                              wandb_project=args.wandb_project, wandb_entity=args.wandb_entity,
                              wandb_mode=args.wandb_mode)  # fmt: skip
    return targets if targets.any else TrackingTargets.from_env()
