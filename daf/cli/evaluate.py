"""`daf evaluate` (seeded episodes -> a per episode x agent table), `daf merge-evals` (chunks -> one
table), `daf store ls|verify|gc` (the evaluation store) and `daf query` (SQL over stores and studies)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from daf.cli.common import parse_weights
from daf.errors import UserError
from daf.limits import LIMITS_ENV, TimeLimits


def cmd_evaluate(args) -> dict:
    import torch

    from daf.evaluation.request import EvaluationRequest, evaluate_to_file
    from daf.evaluation.store import Store

    # the flags over DAF_TIME_LIMITS (the workflow's config), for this process's policy and mission code
    os.environ[LIMITS_ENV] = TimeLimits.from_env(args.step_timeout, args.episode_timeout, args.setup_timeout).to_env()
    torch.set_num_threads(args.threads)
    specs = args.replacement or []
    labels = [n.strip() for n in args.replacement_labels.split(",")] if args.replacement_labels else None
    request = EvaluationRequest(
        policy=args.policy, mission=args.mission, episodes=args.episodes, seed=args.seed, label=args.label,
        config=args.config, candidate_agents=args.candidate_agents, replacement=specs,
        weights=parse_weights(args.replacement_weights, len(specs)), labels=labels, num_envs=args.num_envs,
        device=args.device, first_episode=args.first_episode, run=args.run, replays=args.replays,
        replay_dir=Path(args.replay_dir) if args.replay_dir else None,
    )  # fmt: skip
    out = Path(args.out)
    store = None if args.no_store else Store.from_env(args.store)
    metrics = evaluate_to_file(request, out, shlex.join(["daf", *sys.argv[1:]]), progress=not args.no_progress,
                               store=store)  # fmt: skip
    if metrics["reused"]:
        print(f"wrote {out}: reused from the store {store.root} (key {metrics['store_key'][:12]}), not played",
              file=sys.stderr)  # fmt: skip
    else:
        print(f"wrote {out} ({metrics['rows']} rows, {metrics['agent_steps_per_second']:,.0f} agent-steps/s)",
              file=sys.stderr)  # fmt: skip
    return metrics


def cmd_merge_evals(args) -> dict:
    from daf.evaluation.request import merge_to_file

    out = Path(args.out)
    outcomes = Path(args.outcomes) if args.outcomes else None
    metrics = merge_to_file(args.chunks, out, outcomes, args.mission)
    print(f"wrote {out} ({len(metrics['runs'])} run(s) x {metrics['episodes']} episodes, {len(args.chunks)} chunks)",
          file=sys.stderr)  # fmt: skip
    return metrics


def cmd_store(args) -> dict:
    from daf.cli.common import table
    from daf.evaluation.store import Store

    store = Store.from_env(args.store)
    if store is None:
        raise UserError("no store: pass --store DIR or set DAF_STORE")
    if args.action == "ls":
        rows = store.listing()
        columns = ["key", "label", "mission", "run", "first_episode", "episodes", "candidate_agents", "bytes"]
        print(json.dumps(rows, indent=2) if args.json else table([r | {"key": r["key"][:12]} for r in rows], columns))
        return {"entries": len(rows)}
    if args.action == "verify":
        rows = store.verify()
        bad = [r for r in rows if not r["ok"]]
        for r in bad:
            print(f"CORRUPT {r['key']}: {'; '.join(r['problems'])} (never served; the next evaluation replays it)")
        print(f"{len(rows) - len(bad)} of {len(rows)} entries verified", file=sys.stderr)
        if bad:
            raise SystemExit(1)
        return {"entries": len(rows), "corrupt": 0}
    if not args.study:
        raise UserError("gc needs --study DIR (repeatable): it keeps the entries those studies use; "
                        "to empty a store, delete its directory")  # fmt: skip
    removed = store.gc([Path(s) for s in args.study], dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(removed)} entries no listed study uses", file=sys.stderr)
    for key in removed:
        print(key)
    return {"removed": len(removed)}


def cmd_query(args) -> dict:
    from daf.evaluation.query import run_query

    result = run_query(args.sql, store=args.store, studies=[Path(s) for s in args.study or []])
    if args.csv:
        print(result.to_csv(index=False), end="")
    else:
        print(result.to_string(index=False) if len(result) else "(no rows)")
    return {"rows": len(result)}


def add_parsers(sub, parser_class) -> None:
    p = sub.add_parser("evaluate", help="run seeded episodes, write a per episode x agent parquet")
    p.add_argument("--policy", required=True, help="SPEC or a policy name from --config")
    p.add_argument("--mission", required=True, help="mission name or mission .py file")
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--seed", type=int, required=True, help="base seed (episode k uses the same map for all policies)")
    p.add_argument("--out", required=True, help="output .parquet (a .json provenance sidecar is written beside it)")
    p.add_argument("--label", help="policy name written to the table (default: the SPEC or config name)")
    p.add_argument("--config", help="study config, to resolve policy names")
    p.add_argument("--candidate-agents", type=int, help="mixed episodes: agents the candidate controls")
    p.add_argument(
        "--replacement", action="append", help="mixed episodes: SPEC controlling the other agents (repeat for a pool)"
    )
    p.add_argument("--replacement-weights", help="pool shares, e.g. 1,1 (default equal; largest-remainder split)")
    p.add_argument("--replacement-labels", help="names written to the table for the --replacement policies, e.g. a,b")
    p.add_argument("--num-envs", type=int, default=16, help="episodes run in lockstep (default 16)")
    p.add_argument(
        "--step-timeout",
        type=float,
        metavar="S",
        help="seconds one call of a policy's act may take (default: DAF_TIME_LIMITS, else 60; 0: none)",
    )
    p.add_argument(
        "--episode-timeout",
        type=float,
        metavar="S",
        help="seconds one episode may take (default: DAF_TIME_LIMITS, else 3600; 0: none)",
    )
    p.add_argument(
        "--setup-timeout",
        type=float,
        metavar="S",
        help="seconds building a policy or a mission's get_config() may take (default 300; 0: none)",
    )
    p.add_argument("--device", default="cpu", help="torch device for neural policies (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway without a TTY)")
    p.add_argument("--replays", type=int, default=0, help="record episodes 0..N-1 (default 0)")
    p.add_argument("--replay-dir", help="where replays go (default: OUT without .parquet + .replays/)")
    p.add_argument("--first-episode", type=int, default=0,
                   help="play episodes FIRST..FIRST+EPISODES-1 (a chunk of an evaluation; default 0)")  # fmt: skip
    p.add_argument("--run", type=int, default=0, help="training run (seed) of the policy, for the `run` column")
    p.add_argument("--store", help="evaluation store: copy a stored chunk instead of playing it, store a played one "
                   "(default: $DAF_STORE; off when neither)")  # fmt: skip
    p.add_argument("--no-store", action="store_true", help="ignore $DAF_STORE")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("store", help="the evaluation store: ls, verify (checksums), gc (entries no study uses)")
    p.add_argument("action", choices=["ls", "verify", "gc"])
    p.add_argument("--store", help="the store directory (default: $DAF_STORE)")
    p.add_argument("--study", action="append", default=[], help="gc: a study directory whose entries are kept "
                   "(repeat; entries no listed study uses are removed)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="gc: list what would be removed")
    p.add_argument("--json", action="store_true", help="ls: JSON")
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("query", help="SQL (DuckDB) over a store's and studies' evaluation tables: view `evals`")
    p.add_argument("sql", help='e.g. "select study, policy, avg(reward) from evals group by all"')
    p.add_argument("--store", help="an evaluation store (default: $DAF_STORE)")
    p.add_argument("--study", action="append", help="a study directory (repeatable)")
    p.add_argument("--csv", action="store_true", help="print CSV")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("merge-evals", help="merge evaluation chunks (runs x episode ranges) into one table")
    p.add_argument("--chunks", nargs="+", required=True, help="`daf evaluate` parquets of one policy x mission")
    p.add_argument("--out", required=True, help="output .parquet (a .json provenance sidecar is written beside it)")
    p.add_argument("--outcomes", help="also write each episode's outcome here (what `daf analyze` writes)")
    p.add_argument("--mission", help="the mission (name or .py file), for --outcomes")
    p.set_defaults(func=cmd_merge_evals)
