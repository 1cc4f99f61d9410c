"""Statistics commands: `daf compare`, `daf leaderboard`, `daf gate`, `daf plan`, `daf vor`,
`daf crossplay`, `daf analyze`, `daf analysis-aggregate`."""

from __future__ import annotations

import sys
from pathlib import Path

from daf.cli.common import bootstrap_flags, policy_pair
from daf.errors import UserError


def cmd_summarize(args) -> dict:
    from daf.evaluation.table import episode_scores
    from daf.io import read_parquets, write_parquet
    from daf.stats.comparison import summary_table

    evals = read_parquets(args.evals)
    board = summary_table(episode_scores(evals), args.confidence, args.reps, args.seed)
    write_parquet(args.out, board)
    if args.csv:
        from daf.io import write_text

        write_text(args.csv, board.to_csv(index=False, float_format="%.6g"))
    return {"rows": len(board)}


def cmd_compare(args) -> dict:
    from daf.io import ensure_writable, json_records, read_parquets, write_json, write_parquet, write_text
    from daf.stats.comparison import CompareSettings, compare

    out = Path(args.out)
    ensure_writable(out / "leaderboard.parquet")
    normalize = policy_pair(args.normalize) if args.normalize else None
    settings = CompareSettings(
        confidence=args.confidence, reps=args.reps, seed=args.seed, interval=args.interval, alpha=args.alpha,
        correction=args.correction, normalize=normalize,
        trained=tuple(name.strip() for name in (args.trained or "").split(",") if name.strip()),
    )  # fmt: skip
    board, pairwise, profiles = compare(read_parquets(args.evals), settings)
    write_parquet(out / "leaderboard.parquet", board)
    write_parquet(out / "pairwise.parquet", pairwise)
    write_parquet(out / "profiles.parquet", profiles)
    write_text(out / "leaderboard.csv", board.to_csv(index=False, float_format="%.6g"))
    write_json(
        out / "comparison.json",
        {"settings": settings.__dict__, "leaderboard": json_records(board), "pairwise": json_records(pairwise)},
    )
    return {"policies": int(board["policy"].nunique()), "leaderboard_rows": len(board), "pairwise_rows": len(pairwise)}


def cmd_gate(args) -> dict:
    from daf.api import gate
    from daf.io import ensure_writable, write_json

    if args.out:
        ensure_writable(args.out)
    result = gate(args.evals, args.candidate, args.incumbent, margin=args.margin, test=args.test,
                  confidence=args.confidence, missions=args.missions)  # fmt: skip
    print(result.verdict())
    if len(result.missions) > 1:
        for row in result.missions.itertuples():
            print(f"  {row.mission}: A - B = {row.estimate:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}] "
                  f"({row.level} level) {'pass' if row.passed else 'FAIL'}", file=sys.stderr)  # fmt: skip
    if args.out:
        write_json(args.out, result.to_dict())
    if not result.passed:
        raise SystemExit(1)  # 1: the criterion does not hold; 2 (UserError): bad input
    return {"passed": True, "missions": len(result.missions)}


def cmd_plan(args) -> dict:
    from daf.io import ensure_writable, json_records, read_parquets, write_json, write_parquet
    from daf.stats.pilots import PlanSettings
    from daf.stats.planning import plan, summary_text

    out = Path(args.out)
    ensure_writable(out / "plan.json")
    normalize = policy_pair(args.normalize) if args.normalize else None
    pairs = tuple(policy_pair(text, ":", "--pairs", "A:B") for text in args.pairs) if args.pairs else None
    settings = PlanSettings(
        half_width=args.half_width, difference=args.difference, power=args.power, alpha=args.alpha,
        max_runs=args.max_runs, max_episodes=args.max_episodes, normalize=normalize, pairs=pairs, seed=args.seed,
        sims=args.sims,
    )  # fmt: skip
    result = plan(read_parquets(args.evals), settings)
    write_parquet(out / "components.parquet", result.components)
    write_parquet(out / "precision.parquet", result.precision)
    write_parquet(out / "power.parquet", result.power)
    summary = summary_text(result, settings)
    write_json(out / "plan.json", {
        "settings": settings.__dict__, "evals": [str(p) for p in args.evals], "summary": summary.splitlines(),
        "notes": result.notes, "components": json_records(result.components),
        "precision": json_records(result.precision), "power": json_records(result.power),
    })  # fmt: skip
    print(summary)
    return {"policies": int(result.components["policy"].nunique()), "precision_rows": len(result.precision),
            "power_rows": len(result.power)}  # fmt: skip


def cmd_vor(args) -> dict:
    import pandas as pd

    from daf.io import ensure_writable, read_parquets, write_json
    from daf.stats.vor import vor

    ensure_writable(args.out)
    frames = [read_parquets([path]).assign(scenario=str(path)) for path in args.scenarios]
    result = vor(pd.concat(frames, ignore_index=True), args.candidate, args.confidence, args.reps, args.seed)
    write_json(args.out, {**result, "scenarios": [str(p) for p in args.scenarios]})
    return {"vor": result["vor"], "ci_low": result["ci_low"], "ci_high": result["ci_high"]}


def crossplay_inputs(args, outputs: list[str]) -> tuple:
    """(policies, splits, unplayable, self_play, cells) of a command that reads cross-play jobs'
    tables (`daf crossplay`, `daf alpharank`), every flag and file checked before `outputs` are
    written."""
    from daf.evaluation.table import check_eval_table
    from daf.io import ensure_writable, read_parquets
    from daf.missions.teams import parse_split
    from daf.stats.crossplay import split_cells

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    splits = [parse_split(s.strip()) for s in args.splits.split(",") if s.strip()]
    unplayable = {}
    for item in args.unplayable or []:
        policy, sep, why = item.partition("=")
        if not sep or policy not in policies:
            raise UserError(f"--unplayable '{item}' must be POLICY=WHY with one of the policies ({args.policies})")
        unplayable[policy] = why
    if args.episodes is not None and args.episodes < 1:
        raise UserError(f"--episodes must be at least 1 (got {args.episodes})")
    for flag, files in (("--evals", args.evals), ("--cells", args.cells)):
        twice = sorted({f for f in files if files.count(f) > 1})
        if twice:
            raise UserError(f"{flag} lists '{twice[0]}' twice (each table is one policy, or one run pairing)")
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            rule = "evaluate" if flag == "--evals" else "crossplay_cell"
            raise UserError(f"{flag} table '{missing[0]}' does not exist (the `{rule}` rule makes it)")
    for path in outputs:
        ensure_writable(path)
    self_play = {}
    for path in args.evals:
        frame = read_parquets([path])
        check_eval_table(frame, {"policy"}, f"--evals table '{path}'")
        names = list(frame["policy"].unique())
        if len(names) != 1 or names[0] not in policies:
            raise UserError(f"--evals '{path}' must be one of the policies' ({args.policies}) evaluation; "
                            f"it holds {names}")  # fmt: skip
        self_play[names[0]] = frame
    cells = split_cells([read_parquets([path]) for path in args.cells])
    return policies, splits, unplayable, self_play, cells


def cmd_crossplay(args) -> dict:
    from daf.io import write_parquet
    from daf.stats.crossplay import crossplay_tables

    policies, splits, unplayable, self_play, cells = crossplay_inputs(args, [args.out, args.gaps])
    table, gaps = crossplay_tables(args.mission, policies, splits, self_play, cells, unplayable, args.episodes,
                                   args.confidence, args.reps, args.seed)  # fmt: skip
    write_parquet(args.out, table)
    write_parquet(args.gaps, gaps)
    played = int((table["note"] == "").sum())
    print(f"wrote {args.out} ({played} cells played, {len(table) - played} skipped) and {args.gaps}", file=sys.stderr)
    return {"cells": played, "skipped": len(table) - played}


def crossplay_input_flags(p) -> None:
    """The flags of `crossplay_inputs`."""
    p.add_argument("--mission", required=True, help="the mission's id, written to the tables")
    p.add_argument("--policies", required=True, help="comma-separated, in row/column order, e.g. random,baseline,ppo")
    p.add_argument("--splits", default="half", help="comma-separated: half, one, all_but_one or agent counts")
    p.add_argument("--episodes", type=int, help="cross-play episodes 0..N-1 (default: every episode of --evals)")
    p.add_argument("--evals", nargs="+", required=True, help="each playing policy's ordinary evaluation (the diagonal)")
    p.add_argument("--cells", nargs="*", default=[],
                   help="`daf evaluate --candidate-agents K --replacement B` parquets, A's runs in `run`")  # fmt: skip
    p.add_argument("--unplayable", action="append", metavar="POLICY=WHY",
                   help="a policy that does not play the mission: its cells are skipped with this note")  # fmt: skip


def cmd_analyze(args) -> dict:
    from daf.evaluation.outcomes import episode_outcomes
    from daf.io import read_parquets, write_parquet
    from daf.missions import get_mission

    outcomes = episode_outcomes(read_parquets([args.evals]), get_mission(args.mission))
    write_parquet(args.out, outcomes)
    return {"rows": len(outcomes)}


def cmd_analysis_summary(args) -> None:
    from daf.io import ensure_writable, read_parquets, write_parquet, write_text
    from daf.stats.analysis import difficulty, summarize_outcomes

    out = Path(args.out)
    ensure_writable(out / "summary.parquet")
    summary = summarize_outcomes(read_parquets(args.analyses), args.confidence)
    write_parquet(out / "summary.parquet", summary)
    write_parquet(out / "difficulty.parquet", difficulty(summary))
    write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))


def add_parsers(sub, parser_class) -> None:
    # `summarize` was its first name: kept as an alias
    p = sub.add_parser("leaderboard", aliases=["summarize"],
                       help="per policy x mission leaderboard: mean, CI, std, success rate")  # fmt: skip
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--out", required=True, help="output .parquet")
    p.add_argument("--csv", help="also write a CSV copy")
    bootstrap_flags(p)
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("compare", help="leaderboard with CIs, pairwise tests, probability of improvement")
    p.add_argument("--evals", nargs="+", required=True, help="`daf evaluate` parquets")
    p.add_argument("--out", required=True, help="directory: leaderboard/pairwise/profiles .parquet, comparison.json")
    bootstrap_flags(p)
    p.add_argument("--interval", choices=["percentile", "bca"], default="percentile")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--correction", choices=["holm", "bh"], default="holm")
    p.add_argument("--normalize", metavar="LOW,HIGH", help="normalise per mission: LOW's mean -> 0, HIGH's -> 1")
    p.add_argument("--trained", metavar="A,B", default="", help="policies trained by DAF (a single run is flagged)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("gate", help="promotion gate: exit 0 when the candidate beats (or is not worse than) the "
                       "incumbent on every mission, 1 when not, 2 on bad input")  # fmt: skip
    p.add_argument("--evals", nargs="+", required=True, help="`daf evaluate` parquets holding both policies")
    p.add_argument("--candidate", required=True, help="policy A, the one to promote")
    p.add_argument("--incumbent", required=True, help="policy B, the one in place")
    p.add_argument(
        "--test",
        choices=["superiority", "non-inferiority"],
        default="superiority",
        help="superiority: CI of A - B above MARGIN; non-inferiority: above -MARGIN (default superiority)",
    )
    p.add_argument("--margin", type=float, default=0.0, help="score units (default 0; non-inferiority needs > 0)")
    p.add_argument("--missions", nargs="+", help="missions that must all pass (default: every mission both played)")
    p.add_argument("--confidence", type=float, default=0.95, help="two-sided CI level (default 0.95)")
    p.add_argument("--out", help="also write the decision as JSON here")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("plan", help="power analysis from pilot evaluations: the runs and episodes a study needs")
    p.add_argument("--evals", nargs="+", required=True, help="pilot `daf evaluate` parquets (with the `run` column)")
    p.add_argument("--out", required=True, help="directory: components/precision/power .parquet, plan.json")
    p.add_argument("--half-width", type=float, help="target CI half-width of a policy's mean (score units, or "
                   "normalised ones with --normalize)")  # fmt: skip
    p.add_argument("--difference", type=float, help="difference A - B to detect (default: the pilot's; units as above)")
    p.add_argument("--pairs", nargs="+", metavar="A:B", help="policy pairs to plan (default: all sharing a mission)")
    p.add_argument("--power", type=float, default=0.8, help="wanted power (default 0.8)")
    p.add_argument("--alpha", type=float, default=0.05, help="test level; CIs at 1 - alpha (default 0.05)")
    p.add_argument("--max-runs", type=int, default=20, help="largest runs per policy considered (default 20)")
    p.add_argument("--max-episodes", type=int, default=1024, help="largest episodes per run considered (default 1024)")
    p.add_argument("--normalize", metavar="LOW,HIGH", help="normalise per mission (LOW -> 0, HIGH -> 1), plan ALL too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sims", type=int, default=2000, help="simulated experiments per design (default 2000)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("vor", help="value over replacement from mixed-episode scenario tables (k = 0..N)")
    p.add_argument("--scenarios", nargs="+", required=True, help="`daf evaluate --candidate-agents K` parquets")
    p.add_argument("--candidate", required=True, help="the candidate's policy name in those tables")
    p.add_argument("--out", required=True, help="output .json")
    bootstrap_flags(p)
    p.set_defaults(func=cmd_vor)

    p = sub.add_parser("crossplay", help="cross-play table and gaps of one mission (self-play + mixed-episode cells)")
    crossplay_input_flags(p)
    p.add_argument("--out", required=True, help="output .parquet: one row per ordered pair x split")
    p.add_argument("--gaps", required=True, help="output .parquet: each policy's cross-play gap per split")
    bootstrap_flags(p)
    p.set_defaults(func=cmd_crossplay)

    p = sub.add_parser("analyze", help="mission analysis: each episode's outcome (success or failure mode)")
    p.add_argument("--evals", required=True, help="a `daf evaluate` parquet")
    p.add_argument("--mission", required=True, help="its mission (name or .py file)")
    p.add_argument("--out", required=True, help="output .parquet")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("analysis-aggregate", aliases=["analysis-summary"],
                       help="aggregate `daf analyze` tables: success, failure modes, difficulty")  # fmt: skip
    p.add_argument("--analyses", nargs="+", required=True, help="`daf analyze` parquets")
    p.add_argument("--out", required=True, help="directory: summary.parquet/.csv, difficulty.parquet")
    p.add_argument("--confidence", type=float, default=0.95)
    p.set_defaults(func=cmd_analysis_summary)
