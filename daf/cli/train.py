"""`daf train` (PPO), `daf curves` (a run's periodic checkpoints evaluated) and `daf curves-aggregate`."""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from pathlib import Path

from daf.cli.common import bootstrap_flags, parse_weights, policy_pair, tracking_arguments, tracking_targets
from daf.config.training import HYPERPARAMETERS, PPOConfig
from daf.errors import UserError


def cmd_train(args) -> dict:
    import torch

    from daf.api.training import prepare, run
    from daf.training.launch import default_workers

    weights = None
    if args.mission_weights:
        weights = parse_weights(args.mission_weights, len(args.mission), "--mission-weights", "--mission")
    request = prepare(args.mission, args.steps, args.seed, args.out, weights, parse_shaping(args.shape or []),
                      args.workers, parse_overrides(args.set or []))  # fmt: skip
    if (args.nproc_per_node > 1 or args.nnodes > 1) and "WORLD_SIZE" not in os.environ:
        from daf.training.launch import torchrun_command

        command = torchrun_command(args.nproc_per_node, args.nnodes) + ["-m", "daf", *sys.argv[1:]]
        print("daf: launching " + shlex.join(command), file=sys.stderr)
        sys.stderr.flush()
        os.execvp(command[0], command)  # each rank re-runs this command with WORLD_SIZE set
    torch.set_num_threads(args.threads)
    workers = args.workers if args.workers is not None else default_workers(args.nproc_per_node)
    checkpoint = run(request, arch=args.arch, preset=args.preset, device=args.device, workers=workers,
                     fresh=args.fresh, progress=not args.no_progress, tensorboard=args.tensorboard,
                     tracking=tracking_targets(args), run_name=args.run_name)  # fmt: skip
    sidecar = checkpoint.sidecar
    resumed = f", resumed from step {sidecar['resumed_from_step']:,}" if sidecar["resumed_from_step"] else ""
    print(
        f"trained {sidecar['steps']:,} agent-steps in {sidecar['wall_seconds']:.1f} s{resumed}: {checkpoint.path}",
        file=sys.stderr,
    )
    return {"agent_steps": sidecar["steps"], "wall_seconds": round(sidecar["wall_seconds"], 3),
            "resumed_from_step": sidecar["resumed_from_step"], "world_size": sidecar["world_size"],
            "workers": sidecar["workers"]}  # fmt: skip


def cmd_curves(args) -> dict:
    from daf.evaluation.checkpoints import evaluate_checkpoints
    from daf.io import ensure_writable, write_parquet
    from daf.missions import get_mission

    out = Path(args.out)
    if out.suffix != ".parquet":
        raise UserError(f"--out '{out}' must end in .parquet")
    if args.episodes < 1 or args.every < 1:
        raise UserError(f"--episodes and --every must be at least 1 (got {args.episodes}, {args.every})")
    ensure_writable(out)
    missions = [get_mission(m) for m in args.mission]
    start = time.perf_counter()
    table = evaluate_checkpoints(args.run_dir, missions, args.episodes, args.seed, args.policy, args.run,
                                 num_envs=args.num_envs, every=args.every)  # fmt: skip
    write_parquet(out, table)
    points = int(table["agent_steps"].nunique())
    print(f"wrote {out} ({points} checkpoints x {len(missions)} missions x {args.episodes} episodes)", file=sys.stderr)
    return {"checkpoints": points, "rows": len(table), "wall_seconds": round(time.perf_counter() - start, 3)}


def cmd_curves_summary(args) -> dict:
    from daf.io import read_parquets
    from daf.stats.curves import reference_means, write_curve_tables

    curves = read_parquets(args.curves)
    normalization = None
    if args.normalize:
        if not args.references:
            raise UserError("--normalize needs --references: the evaluations of the two reference policies")
        normalization = reference_means(read_parquets(args.references), *policy_pair(args.normalize), curves)
    out = Path(args.out)
    metrics = write_curve_tables(out, curves, normalization, args.confidence, args.reps, args.seed)
    print(f"wrote {out}/summary.parquet ({metrics['rows']} rows)", file=sys.stderr)
    return metrics


def add_parsers(sub, parser_class) -> None:
    p = sub.add_parser("train", help="PPO on a mission; resumes from OUT's latest periodic checkpoint")
    p.add_argument(
        "--mission",
        action="append",
        required=True,
        help="mission name or mission .py file; repeat to train one network on several (drawn per episode)",
    )
    p.add_argument("--mission-weights", help="draw probabilities of the missions, e.g. 1,2 (default equal)")
    p.add_argument(
        "--shape",
        action="append",
        metavar="STAT=WEIGHT",
        help="training-only reward per unit of an agent stat, e.g. carbon.gained=0.1 (repeatable)",
    )
    p.add_argument(
        "--preset",
        help="named shaping terms: gather (0.5 per unit of each gathered resource) or "
        "explore (gather plus 0.01 per cell entered for the first time in an episode)",
    )
    p.add_argument("--steps", type=int, required=True, help="total agent-steps (over all ranks)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="directory: model.pt, model.json, train_log.parquet, periodic/")
    p.add_argument("--arch", default="tokens", help="network: tokens (default), tokens_lstm, cnn or lstm")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a PPO hyperparameter (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--workers", type=int, default=None,
                   help="env worker processes (default: one per usable core beyond the first; "
                   "speed only, the result does not depend on it)")  # fmt: skip
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars to OUT/tensorboard/")
    tracking_arguments(p)
    p.add_argument("--run-name", help="the run's name in MLflow / W&B (default: OUT's parent and name, e.g. ppo-seed0)")
    p.add_argument("--fresh", action="store_true", help="ignore periodic checkpoints and start over")
    p.add_argument("--nproc-per-node", type=int, default=1, help="data-parallel ranks per node (torchrun)")
    p.add_argument("--nnodes", type=int, default=1, help="nodes (inside a SLURM allocation: srun + torchrun)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("curves", help="evaluate a training run's periodic checkpoints (a learning curve)")
    p.add_argument("--run-dir", required=True, help="a `daf train` output directory (model.pt, periodic/)")
    p.add_argument("--mission", action="append", required=True, help="mission name or .py file (repeatable)")
    p.add_argument("--episodes", type=int, required=True, help="episodes per checkpoint x mission")
    p.add_argument("--seed", type=int, required=True, help="base episode seed (the evaluation's)")
    p.add_argument("--policy", required=True, help="policy name written to the table")
    p.add_argument("--run", type=int, default=0, help="training run (seed), for the `run` column")
    p.add_argument("--every", type=int, default=1, help="evaluate every N-th checkpoint (the last always)")
    p.add_argument("--num-envs", type=int, default=16, help="episodes run in lockstep (default 16)")
    p.add_argument("--out", required=True, help="output .parquet: policy, run, agent_steps, mission, episode, score")
    p.add_argument("--no-progress", action="store_true", help="accepted for symmetry with evaluate (no bar here)")
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser("curves-aggregate", aliases=["curves-summary"],
                       help="aggregate `daf curves` tables: per-policy curves and a summary over runs")  # fmt: skip
    p.add_argument("--curves", nargs="+", required=True, help="`daf curves` tables (one per training run)")
    p.add_argument("--references", nargs="*", default=[], help="evaluations of the --normalize policies")
    p.add_argument("--normalize", metavar="LOW,HIGH", help="ALL rows on scores normalised between two policies")
    bootstrap_flags(p, reps=2_000)
    p.add_argument("--out", required=True, help="directory: {policy}.parquet, summary.parquet, final_vs_best.parquet")
    p.set_defaults(func=cmd_curves_summary)


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` strings (values as YAML scalars) -> dict, unknown keys named."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set '{pair}' is not KEY=VALUE")
        if key not in PPOConfig.model_fields:
            from daf.errors import unknown_choice

            raise unknown_choice("hyperparameter", key, HYPERPARAMETERS)
        out[key] = yaml.safe_load(value) if value.strip() else None
    return out


def parse_shaping(pairs: list[str]) -> dict[str, float]:
    """`STAT=WEIGHT` strings -> {stat: weight}; stat names are checked against the missions later."""
    out: dict[str, float] = {}
    for pair in pairs:
        stat, sep, value = pair.partition("=")
        stat = stat.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not sep or not stat or weight is None or not math.isfinite(weight):
            raise UserError(f"--shape '{pair}' is not STAT=WEIGHT with a finite number (e.g. carbon.gained=0.1)")
        out[stat] = weight
    return out
