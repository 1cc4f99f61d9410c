"""`daf sweep ...`: the commands behind workflow/rules/sweep.smk (see daf.sweeps.space)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from daf.cli.common import json_arg, parse_weights
from daf.errors import UserError


def _sweep_from_args(args):
    from pydantic import ValidationError

    from daf.config.load import format_validation_error
    from daf.config.sweeps import SweepConfig

    try:
        return SweepConfig.model_validate(json_arg(args.sweep_json, "--sweep-json"))
    except ValidationError as exc:
        raise UserError(
            format_validation_error(exc, "(--sweep-json)", SweepConfig).replace("invalid config", "invalid sweep")
        ) from None


def replacement_pool(args, metric: str, *candidates: str) -> tuple[list[tuple[str, str]], list[float]]:
    """The vor pool from one `--replacement SPEC` per policy (the flags `daf evaluate` takes):
    [(label, spec), ...] and their weights. Checked before any training or episode."""
    from daf.policies import parse_spec

    specs = args.replacement or []
    if metric == "vor" and not specs:
        raise UserError("the vor metric needs a replacement pool: one --replacement SPEC per policy")
    if not specs:
        if args.replacement_labels is not None or args.replacement_weights is not None:
            raise UserError("--replacement-labels and --replacement-weights describe a pool: give --replacement SPEC")
        return [], []
    labels = specs  # as in `daf evaluate`: a SPEC names itself
    if args.replacement_labels is not None:
        labels = [n.strip() for n in args.replacement_labels.split(",")]
        if len(labels) != len(specs) or not all(labels):
            raise UserError(f"--replacement-labels '{args.replacement_labels}' names {len(labels)} policies for "
                            f"{len(specs)} --replacement SPECs; give one name per --replacement")  # fmt: skip
    _check_pool_names(labels, candidates)
    for spec in specs:
        parse_spec(spec)
    return list(zip(labels, specs)), parse_weights(args.replacement_weights, len(specs))


def _check_pool_names(labels: list[str], candidates) -> None:
    # vor tells the candidate's rows from the pool's by the policy column
    if len(set(labels)) != len(labels) or set(labels) & set(candidates):
        trials = f" and from the trial{'s' * (len(candidates) > 1)} {', '.join(map(repr, candidates))}"
        raise UserError(f"replacement names must differ from each other{trials if candidates else ''} "
                        f"(got {', '.join(labels)})")  # fmt: skip


def cmd_sweep_trials(args) -> None:
    """List a sweep's trials (grid/random: their settings; tpe: the slots)."""
    from daf.config.load import load_study
    from daf.errors import unknown_choice
    from daf.sweeps.space import planned_trials, tpe_slots

    study = load_study(args.config)
    if args.sweep not in study.sweeps:
        raise UserError(unknown_choice("sweep", args.sweep, study.sweeps))
    sweep = study.sweeps[args.sweep]
    if sweep.strategy == "tpe":
        rows = [{"trial": tid, "round": r, "params": "(asked from Optuna)"} for r, tid in tpe_slots(sweep)]
    else:
        rows = [{"trial": t.id, "params": t.params} for t in planned_trials(sweep)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['trial']}  {json.dumps(row['params']) if isinstance(row['params'], dict) else row['params']}")
        print(f"{len(rows)} trials x {len(sweep.seeds)} seeds", file=sys.stderr)


def cmd_sweep_ask(args) -> None:
    from pydantic import TypeAdapter, ValidationError

    from daf.config.sweeps import ParamSpace, check_param_space
    from daf.io import ensure_writable, write_json
    from daf.sweeps.search import ask

    try:
        spaces = TypeAdapter(dict[str, ParamSpace]).validate_python(json_arg(args.space, "--space"))
        for key, space in spaces.items():
            check_param_space(key, space, "tpe")
    except (ValidationError, ValueError) as exc:
        raise UserError(f"--space: {str(exc).splitlines()[-1] if isinstance(exc, ValidationError) else exc}") from None
    ensure_writable(args.out)
    proposal = ask(spaces, args.direction, args.sampler_seed, args.startup_trials, args.study_name,
                   Path(args.journal), args.trial, args.index)  # fmt: skip
    write_json(args.out, proposal)
    print(f"{args.trial}: {json.dumps(proposal['params'])}", file=sys.stderr)


def cmd_sweep_run(args) -> dict:
    import torch

    from daf.io import ensure_writable, write_json
    from daf.paths import is_path_name, name_rule
    from daf.sweeps.search import Pruning, open_study
    from daf.sweeps.space import trial_settings
    from daf.sweeps.trials import run_record, run_trial

    if not is_path_name(args.trial):  # the trial id names its directory and its rows
        raise UserError(f"--trial {args.trial!r} must match {name_rule()} (it is used in result paths)")
    out = Path(args.out)
    if (args.params is None) == (args.proposal is None):
        raise UserError("give the trial's hyperparameters with exactly one of --params JSON or --proposal FILE")
    if args.proposal:
        try:
            proposal = json.loads(Path(args.proposal).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read proposal '{args.proposal}': {exc}") from None
    else:
        proposal = {"trial": args.trial, "params": json_arg(args.params, "--params")}
    settings = trial_settings(json_arg(args.base, "--base"), args.seed, proposal["params"], args.trial)
    replacement, weights = replacement_pool(args, args.metric, args.trial)
    if args.num_envs < 1:
        raise UserError(f"--num-envs must be at least 1 (got {args.num_envs})")
    ensure_writable(out / "run.json")  # after the checks of the input: bad input leaves no directory
    pruning = None
    if args.pruner:
        if not args.journal or "optuna_trial_id" not in proposal:
            raise UserError("--pruner needs --journal and a --proposal from `daf sweep ask`")
        pruner = json_arg(args.pruner, "--pruner")
        study = open_study(Path(args.journal), args.study_name, args.direction, pruner)
        pruning = Pruning(study, proposal["optuna_trial_id"], pruner["interval"], reporter=args.reporter)
    torch.set_num_threads(args.threads)
    record = run_trial(
        settings,
        out,
        args.missions,
        args.episodes,
        args.eval_seed,
        args.metric,
        replacement,
        label=args.trial,
        pruning=pruning,
        device=args.device,
        weights=weights,
        num_envs=args.num_envs,
    )
    record = run_record(record, args.trial, args.seed, proposal["params"], settings, args.metric, args.missions,
                        replacement, weights, args.num_envs)  # fmt: skip
    if record.get("traceback"):
        print(record["traceback"], file=sys.stderr)  # the job log keeps the whole story
    write_json(out / "run.json", record)
    shown = f"{record['objective']:.4g}" if record["objective"] is not None else record["error"] or ""
    print(f"trial {args.trial} seed {args.seed}: {record['status']} {shown}", file=sys.stderr)
    return {"status": record["status"], "objective": record["objective"], "error": record["error"]}


def cmd_sweep_tell(args) -> None:
    from daf.io import write_json
    from daf.sweeps.search import tell
    from daf.sweeps.selection import load_runs

    proposal = json.loads(Path(args.proposal).read_text())
    told = tell(args.study_name, Path(args.journal), args.direction, proposal, load_runs(args.runs))
    write_json(args.out, told)


def cmd_sweep_summarize(args) -> dict:
    from daf.io import ensure_writable, write_json, write_parquet, write_text
    from daf.sweeps.selection import importance, load_runs, summarize_sweep

    sweep = _sweep_from_args(args)
    out = Path(args.out)
    ensure_writable(out / "trials.parquet")
    table, summary = summarize_sweep(sweep, load_runs(args.runs))
    write_parquet(out / "trials.parquet", table)
    write_text(out / "trials.csv", table.to_csv(index=False, float_format="%.6g"))
    write_parquet(out / "importance.parquet", importance(table))
    write_json(out / "summary.json", summary)
    print(f"{summary['trials']} trials: {summary['completed']} completed, {summary['pruned']} pruned, "
          f"{summary['failed']} failed; top {summary['top']}", file=sys.stderr)  # fmt: skip
    return {k: summary[k] for k in ("trials", "completed", "pruned", "failed")}


def cmd_sweep_best(args) -> dict:
    import pandas as pd

    from daf.io import ensure_writable, write_atomic, write_json, write_parquet
    from daf.sweeps.selection import choose_best, load_runs

    sweep = _sweep_from_args(args)
    out = Path(args.out)
    ensure_writable(out / "best.json")
    if args.num_envs < 1:
        raise UserError(f"--num-envs must be at least 1 (got {args.num_envs})")
    replacement, weights = replacement_pool(args, sweep.objective.metric)
    summary = json.loads(Path(args.summary).read_text())
    if not summary["top"]:
        raise UserError(
            f"sweep '{args.name}': no trial completed ({summary['failed']} failed, {summary['pruned']} pruned); "
            f"see {Path(args.summary).parent / 'trials.csv'}"
        )
    _check_pool_names([label for label, _ in replacement], summary["top"])
    table, frames, choice, best_run = choose_best(
        sweep, summary["top"], load_runs(args.runs), replacement, weights, args.num_envs, args.confidence, args.reps
    )
    choice["checkpoint"] = str(out / "best" / "model.pt")
    write_parquet(out / "top.parquet", table)
    write_parquet(out / "reevaluations.parquet", pd.concat(frames.values(), ignore_index=True))
    for name in ("model.pt", "model.json"):
        source = Path(best_run["checkpoint"]).with_name(name)
        write_atomic(out / "best" / name, lambda tmp, source=source: shutil.copyfile(source, tmp))
    write_json(out / "best.json", choice)
    sep = "" if choice.get("separated", True) else " (not separated from the runner-up at this confidence)"
    print(f"best trial {choice['trial']}: {choice['objective']:.4g} "
          f"[{choice['ci_low']:.4g}, {choice['ci_high']:.4g}]{sep}", file=sys.stderr)  # fmt: skip
    return {"best": choice["trial"], "objective": choice["objective"], "ci_low": choice["ci_low"],
            "ci_high": choice["ci_high"]}  # fmt: skip


def add_parsers(sub, parser_class) -> None:
    sweep = sub.add_parser("sweep", help="hyperparameter sweeps (the sweep rules call these)")
    actions = sweep.add_subparsers(dest="action", required=True, parser_class=parser_class)

    p = actions.add_parser("trials", help="list a sweep's trials")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--sweep", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sweep_trials)

    def sweep_flags(p):
        p.add_argument("--sweep-json", required=True, help="the sweep's config (JSON)")

    def pool_flags(p):  # the vor pool, flagged as for `daf evaluate`
        p.add_argument("--replacement", action="append", help="vor: a replacement SPEC (repeat for a pool)")
        p.add_argument("--replacement-labels", help="vor: their names, comma-separated (default: the SPECs)")
        p.add_argument("--replacement-weights", help="vor: pool shares, e.g. 3,1 (default equal)")
        p.add_argument("--num-envs", type=int, default=16, help="evaluation episodes run in lockstep (default 16)")

    def optuna_flags(p):
        p.add_argument("--journal", help="Optuna journal file")
        p.add_argument("--study-name", default="sweep")

    p = actions.add_parser("ask", help="tpe: propose one trial (idempotent)")
    p.add_argument("--space", required=True, help="the search space (JSON)")
    p.add_argument("--direction", required=True, choices=["maximize", "minimize"])
    p.add_argument("--sampler-seed", type=int, default=0)
    p.add_argument("--startup-trials", type=int, default=8)
    optuna_flags(p)
    p.add_argument("--trial", required=True, help="slot id, e.g. r000-001")
    p.add_argument("--index", type=int, required=True, help="slot number (seeds its proposal)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep_ask)

    p = actions.add_parser("run", help="train one run of a trial, evaluate it, write run.json")
    p.add_argument("--trial", required=True)
    p.add_argument("--seed", type=int, required=True, help="training seed")
    p.add_argument("--params", help="the trial's hyperparameters (JSON)")
    p.add_argument("--proposal", help="or a proposal file from `daf sweep ask`")
    p.add_argument("--base", required=True, help="the tuned policy's train settings (JSON)")
    p.add_argument("--missions", nargs="+", required=True)
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--eval-seed", type=int, required=True)
    p.add_argument("--metric", required=True, choices=["mean", "iqm", "median", "success_rate", "vor"])
    p.add_argument("--direction", default="maximize", choices=["maximize", "minimize"])
    pool_flags(p)
    optuna_flags(p)
    p.add_argument("--pruner", help="tpe: pruner settings (JSON)")
    p.add_argument("--reporter", action="store_true", help="this run reports to the pruner (the first seed)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="run directory")
    p.set_defaults(func=cmd_sweep_run)

    p = actions.add_parser("tell", help="tpe: report a finished trial to Optuna (idempotent)")
    p.add_argument("--direction", required=True, choices=["maximize", "minimize"])
    optuna_flags(p)
    p.add_argument("--proposal", required=True)
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep_tell)

    p = actions.add_parser("rank", aliases=["summarize"], help="rank the trials: trial table, importance, top-k")
    sweep_flags(p)
    p.add_argument("--runs", nargs="+", required=True, help="run.json files, trials in order")
    p.add_argument("--out", required=True, help="sweep directory")
    p.set_defaults(func=cmd_sweep_summarize)

    p = actions.add_parser("best", help="re-evaluate the top-k on fresh seeds; choose with CIs")
    sweep_flags(p)
    p.add_argument("--name", required=True, help="the sweep's name (for messages)")
    p.add_argument("--summary", required=True, help="summary.json from `daf sweep rank`")
    p.add_argument("--runs", nargs="+", required=True)
    pool_flags(p)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--reps", type=int, default=10_000)
    p.add_argument("--out", required=True, help="sweep directory")
    p.set_defaults(func=cmd_sweep_best)
