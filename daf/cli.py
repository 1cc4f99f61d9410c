"""The `daf` command line. Snakemake rules call these subcommands; so can users.

User errors (bad names, bad config, missing files) print one line `daf: error: ...`
and exit with status 2; no traceback, no partial output.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from daf.errors import UserError


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


# --- missions / policies ------------------------------------------------------------


def cmd_missions(args) -> None:
    from daf.missions import MISSIONS, get_mission

    missions = [get_mission(m) for m in args.files] if args.files else list(MISSIONS.values())
    rows = [m.summary() for m in missions]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows, ["name", "num_agents", "width", "height", "max_steps", "map", "description"]))


def cmd_policies(args) -> None:
    from daf.policies import describe_shorthands

    rows = [{**r, "kind": "shorthand"} for r in describe_shorthands()]
    if args.config:
        from daf.config import load_study

        study = load_study(args.config)
        rows += [
            {"name": name, "class_path": study.policy_spec(name), "description": p.description, "kind": "config"}
            for name, p in study.policies.items()
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows, ["name", "kind", "description"]))
        print("\nAlso accepted: a class path (pkg.module.Class) or class=SHORTHAND_OR_PATH,data=PATH[,key=value].")


# --- evaluate ---------------------------------------------------------------------------


def _resolve_spec(text: str, config: str | None):
    """A config policy name, or a SPEC. Returns (label, parsed spec)."""
    from daf.policies import parse_spec

    if config:
        from daf.config import load_study

        study = load_study(config)
        if text in study.policies:
            return text, parse_spec(study.policy_spec(text))
    return text, parse_spec(text)


def _weights(
    text: str | None, count: int, flag: str = "--replacement-weights", per: str = "--replacement"
) -> list[float]:
    if text is None:
        return [1.0] * count
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise UserError(f"{flag} '{text}' is not a comma-separated list of numbers") from None
    if len(weights) != count or any(not w > 0 or w == float("inf") for w in weights):
        raise UserError(f"{flag} needs {count} positive numbers, one per {per} (got '{text}')")
    return weights


def cmd_evaluate(args) -> dict:
    import torch

    from daf.io import ensure_writable, git_commit, package_versions, write_json, write_parquet
    from daf.missions import get_mission
    from daf.policies.actors import build_actor
    from daf.rollout import Seat, episode_seed, mission_env_info, run_episodes, throughput

    out = Path(args.out)
    if out.suffix != ".parquet":
        raise UserError(f"--out '{out}' must end in .parquet")
    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1 (got {args.episodes})")
    if args.seed < 0:
        raise UserError(f"--seed must be non-negative (got {args.seed})")
    if args.first_episode < 0 or args.run < 0:
        raise UserError(f"--first-episode and --run must be non-negative (got {args.first_episode}, {args.run})")
    ensure_writable(out)
    torch.set_num_threads(args.threads)
    mission = get_mission(args.mission)
    label, spec = _resolve_spec(args.policy, args.config)
    label = args.label or label
    info = mission_env_info(mission)
    candidate = Seat(label, build_actor(spec, info, args.seed, args.device, mission.name), spec.text)
    pool = []
    specs = args.replacement or []
    weights = _weights(args.replacement_weights, len(specs))
    names = [None] * len(specs)
    if args.replacement_labels:
        names = [n.strip() for n in args.replacement_labels.split(",")]
        if len(names) != len(specs) or not all(names):
            raise UserError(f"--replacement-labels needs {len(specs)} names, one per --replacement")
    for text, weight, name in zip(specs, weights, names):
        r_label, r_spec = _resolve_spec(text, args.config)
        seat = Seat(name or r_label, build_actor(r_spec, info, args.seed, args.device, mission.name), r_spec.text)
        pool.append((seat, weight))
    labels = [seat.label for seat, _ in pool]
    if len(set(labels)) != len(labels) or (label in labels and args.candidate_agents != 0):
        raise UserError(
            f"policy names in one evaluation must differ (candidate '{label}', replacement {labels}); "
            "pass --label to tell them apart"
        )
    start = time.perf_counter()
    frame = run_episodes(
        mission,
        candidate,
        episodes=args.episodes,
        base_seed=args.seed,
        replacement=pool or None,
        candidate_agents=args.candidate_agents,
        num_envs=args.num_envs,
        progress=not args.no_progress,
        replays=args.replays,
        replay_dir=Path(args.replay_dir) if args.replay_dir else out.with_suffix(".replays"),
        first_episode=args.first_episode,
        run=args.run,
    )
    seconds = time.perf_counter() - start
    episode_range = range(args.first_episode, args.first_episode + args.episodes)
    write_parquet(out, frame)
    write_json(
        out.with_suffix(".json"),
        {
            "command": shlex.join(["daf", *sys.argv[1:]]),
            "policy": {"label": label, "spec": spec.text, "class_path": spec.class_path, "data": spec.data_path},
            "replacement": [
                {"label": seat.label, "spec": text, "weight": w}
                for (seat, w), text in zip(pool, args.replacement or [])
            ],
            "candidate_agents": args.candidate_agents,
            "mission": {"name": mission.name, "source": mission.source, "sha256": mission.fingerprint()},
            "episodes": args.episodes,
            "first_episode": args.first_episode,
            "run": args.run,
            "base_seed": args.seed,
            "episode_seeds": [episode_seed(args.seed, k) for k in episode_range],
            "num_envs": args.num_envs,
            "wall_seconds": round(seconds, 3),
            "agent_steps_per_second": round(throughput(frame, seconds), 1),
            "versions": package_versions(),
            "git_commit": git_commit(Path(__file__).parent),
        },
    )
    print(f"wrote {out} ({len(frame)} rows, {throughput(frame, seconds):,.0f} agent-steps/s)", file=sys.stderr)
    return {"rows": len(frame), "episodes": args.episodes, "wall_seconds": round(seconds, 3),
            "agent_steps_per_second": round(throughput(frame, seconds), 1)}  # fmt: skip


def cmd_merge_evals(args) -> dict:
    from daf.io import ensure_writable, write_json, write_parquet
    from daf.rollout import merge_chunks

    out = Path(args.out)
    if out.suffix != ".parquet":
        raise UserError(f"--out '{out}' must end in .parquet")
    ensure_writable(out)
    frame = merge_chunks(args.chunks)
    sidecars = [Path(c).with_suffix(".json") for c in args.chunks]
    provenance = [json.loads(p.read_text()) if p.is_file() else None for p in sidecars]
    write_parquet(out, frame)
    runs = sorted(int(r) for r in frame["run"].unique())
    episodes = int(frame["episode"].nunique())
    write_json(
        out.with_suffix(".json"), {"runs": runs, "episodes": episodes, "chunks": dict(zip(args.chunks, provenance))}
    )
    print(f"wrote {out} ({len(runs)} run(s) x {episodes} episodes, {len(args.chunks)} chunks)", file=sys.stderr)
    return {"rows": len(frame), "runs": runs, "episodes": episodes}


def cmd_curves(args) -> dict:
    from daf.checkpoint_curves import evaluate_checkpoints
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


def _policy_pair(text: str, sep: str = ",", flag: str = "--normalize", form: str = "LOW,HIGH") -> tuple[str, str]:
    parts = [p.strip() for p in text.split(sep)]
    if len(parts) != 2 or not all(parts):
        raise UserError(f"{flag} '{text}' must be {form} (two policy names)")
    return parts[0], parts[1]


def cmd_curves_summary(args) -> dict:
    from daf.curves import final_vs_best, summarize_curves
    from daf.io import read_parquets, write_parquet
    from daf.stats import episode_scores

    curves = read_parquets(args.curves)
    normalization = None
    if args.normalize:
        low, high = _policy_pair(args.normalize)
        if not args.references:
            raise UserError("--normalize needs --references: the evaluations of the two reference policies")
        means = episode_scores(read_parquets(args.references)).groupby(["policy", "mission"])["score"].mean()
        normalization = {}
        for mission in sorted(curves["mission"].unique()):
            missing = [ref for ref in (low, high) if (ref, mission) not in means.index]
            if missing:
                raise UserError(f"--references lack {', '.join(missing)} on mission '{mission}' (needed to normalise)")
            normalization[mission] = (float(means[(low, mission)]), float(means[(high, mission)]))
    out = Path(args.out)
    summary = summarize_curves(curves, normalization, confidence=args.confidence, reps=args.reps, seed=args.seed)
    for policy, part in curves.groupby("policy", sort=True):
        write_parquet(out / f"{policy}.parquet", part.reset_index(drop=True))
    write_parquet(out / "summary.parquet", summary)
    write_parquet(out / "final_vs_best.parquet", final_vs_best(curves))
    print(f"wrote {out}/summary.parquet ({len(summary)} rows)", file=sys.stderr)
    return {"rows": len(summary), "policies": int(curves["policy"].nunique())}


# --- train -------------------------------------------------------------------------------


def cmd_train(args) -> dict:
    import torch

    from daf.io import ensure_writable
    from daf.missions import get_mission
    from daf.ppo import make_config, parse_overrides, parse_shaping, train

    if args.steps <= 0:
        raise UserError(f"--steps must be positive (got {args.steps})")
    if args.seed < 0:
        raise UserError(f"--seed must be non-negative (got {args.seed})")
    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers must be 0 or more (got {args.workers})")
    out = Path(args.out)
    ensure_writable(out / "model.pt")
    missions = [get_mission(name) for name in args.mission]
    weights = (
        _weights(args.mission_weights, len(missions), "--mission-weights", "--mission")
        if args.mission_weights
        else None
    )
    shaping = parse_shaping(args.shape or [])
    hp = make_config(parse_overrides(args.set or []))
    if (args.nproc_per_node > 1 or args.nnodes > 1) and "WORLD_SIZE" not in os.environ:
        from daf.launch import torchrun_command

        command = torchrun_command(args.nproc_per_node, args.nnodes) + ["-m", "daf", *sys.argv[1:]]
        print("daf: launching " + shlex.join(command), file=sys.stderr)
        sys.stderr.flush()
        os.execvp(command[0], command)  # each rank re-runs this command with WORLD_SIZE set
    torch.set_num_threads(args.threads)
    workers = args.workers if args.workers is not None else _default_workers(args.nproc_per_node)
    sidecar = train(
        missions,
        args.steps,
        args.seed,
        out,
        arch=args.arch,
        hp=hp,
        device_name=args.device,
        fresh=args.fresh,
        progress=not args.no_progress,
        mission_weights=weights,
        shaping=shaping,
        workers=workers,
        tensorboard=args.tensorboard,
        preset=args.preset,
    )
    resumed = f", resumed from step {sidecar['resumed_from_step']:,}" if sidecar["resumed_from_step"] else ""
    print(
        f"trained {sidecar['steps']:,} agent-steps in {sidecar['wall_seconds']:.1f} s{resumed}: {out}/model.pt",
        file=sys.stderr,
    )
    return {"agent_steps": sidecar["steps"], "wall_seconds": round(sidecar["wall_seconds"], 3),
            "resumed_from_step": sidecar["resumed_from_step"], "world_size": sidecar["world_size"],
            "workers": sidecar["workers"]}  # fmt: skip


def _default_workers(ranks: int) -> int:
    """One env worker per core this process may use beyond the training process itself
    (the cores Snakemake/SLURM gave the job, shared by the ranks); 0 on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, cores // max(1, ranks) - 1)


# --- summary / report ------------------------------------------------------------------


def cmd_summarize(args) -> dict:
    from daf.io import read_parquets, write_parquet
    from daf.stats import episode_scores, leaderboard

    evals = read_parquets(args.evals)
    board = leaderboard(episode_scores(evals), args.confidence, args.reps, args.seed)
    write_parquet(args.out, board)
    if args.csv:
        from daf.io import write_text

        write_text(args.csv, board.to_csv(index=False, float_format="%.6g"))
    return {"rows": len(board)}


def cmd_profile_install(args) -> None:
    from daf.cluster import install_profile

    target = install_profile(args.name, args.dest, args.cpu_partition, args.gpu_partition, args.account, args.force)
    print(f"installed profile {target}; use it with: snakemake --profile {args.name}")


def cmd_render(args) -> dict:
    from daf import replay

    data = replay.load(args.replay)
    out = Path(args.out)
    if out.suffix == ".gif":
        count = replay.write_gif(data, out, every=args.every, cell=args.cell, max_frames=args.max_frames)
    elif out.suffix == ".png":
        count = replay.write_strip(data, out, count=args.frames, cell=args.cell)
    else:
        raise UserError(f"--out '{out}' must end in .gif (animation) or .png (frame strip)")
    print(f"wrote {out} ({count} frames)", file=sys.stderr)
    return {"frames": count}


def cmd_analyze(args) -> dict:
    from daf.analysis import episode_outcomes
    from daf.io import read_parquets, write_parquet
    from daf.missions import get_mission

    outcomes = episode_outcomes(read_parquets([args.evals]), get_mission(args.mission))
    write_parquet(args.out, outcomes)
    return {"rows": len(outcomes)}


def cmd_analysis_summary(args) -> None:
    from daf.analysis import difficulty, summarize_outcomes
    from daf.io import ensure_writable, read_parquets, write_parquet, write_text

    out = Path(args.out)
    ensure_writable(out / "summary.parquet")
    summary = summarize_outcomes(read_parquets(args.analyses), args.confidence)
    write_parquet(out / "summary.parquet", summary)
    write_parquet(out / "difficulty.parquet", difficulty(summary))
    write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))


def cmd_compare(args) -> dict:
    from daf.comparison import CompareSettings, compare, jsonable
    from daf.io import ensure_writable, read_parquets, write_json, write_parquet, write_text

    out = Path(args.out)
    ensure_writable(out / "leaderboard.parquet")
    normalize = _policy_pair(args.normalize) if args.normalize else None
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
        {"settings": settings.__dict__, "leaderboard": jsonable(board), "pairwise": jsonable(pairwise)},
    )
    return {"policies": int(board["policy"].nunique()), "leaderboard_rows": len(board), "pairwise_rows": len(pairwise)}


def cmd_plan(args) -> dict:
    from daf.io import ensure_writable, read_parquets, write_json, write_parquet
    from daf.planning import PlanSettings, jsonable, plan, summary_text

    out = Path(args.out)
    ensure_writable(out / "plan.json")
    normalize = _policy_pair(args.normalize) if args.normalize else None
    pairs = tuple(_policy_pair(text, ":", "--pairs", "A:B") for text in args.pairs) if args.pairs else None
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
        "notes": result.notes, "components": jsonable(result.components), "precision": jsonable(result.precision),
        "power": jsonable(result.power),
    })  # fmt: skip
    print(summary)
    return {"policies": int(result.components["policy"].nunique()), "precision_rows": len(result.precision),
            "power_rows": len(result.power)}  # fmt: skip


def cmd_vor(args) -> dict:
    import pandas as pd

    from daf.io import ensure_writable, read_parquets, write_json
    from daf.scoring import vor

    ensure_writable(args.out)
    frames = [read_parquets([path]).assign(scenario=str(path)) for path in args.scenarios]
    result = vor(pd.concat(frames, ignore_index=True), args.candidate, args.confidence, args.reps, args.seed)
    write_json(args.out, {**result, "scenarios": [str(p) for p in args.scenarios]})
    return {"vor": result["vor"], "ci_low": result["ci_low"], "ci_high": result["ci_high"]}


def cmd_report(args) -> dict:
    from daf.report import build_report

    build_report(
        config_path=args.config,
        comparison_dir=args.comparison,
        eval_paths=args.evals,
        out=args.out,
        vor_paths=args.vor,
        analysis_dir=args.analysis,
        train_logs=args.train_logs,
        replays=args.replays,
        benchmarks_dir=args.benchmarks,
        command=args.regenerate_command,
        sweep_dirs=args.sweeps,
        variant_tables=args.variants,
        logs_dir=args.logs,
        curve_tables=args.curves,
        plan_path=args.plan[0] if args.plan else None,
    )
    return {"bytes": Path(args.out).stat().st_size}


def cmd_validate_config(args) -> None:
    from daf.config import config_hash, load_study

    study = load_study(args.config)
    print(
        f"{args.config}: valid ({len(study.policies)} policies x {len(study.missions)} missions, "
        f"sha256 {config_hash(study)[:12]})"
    )


def cmd_schema(args) -> None:
    from daf.config import schema_text

    if args.out:
        from daf.io import write_text

        write_text(args.out, schema_text())
    else:
        sys.stdout.write(schema_text())


# --- parser ----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        self.exit(2, f"daf: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="daf", description="DAF: train, evaluate, compare and report on CoGames missions.")
    parser.add_argument("--version", action="version", version=f"daf {_version()}")
    parser.add_argument(
        "--log-json", metavar="FILE", help="append structured JSON-lines records of this command to FILE"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("missions", help="list missions")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("files", nargs="*", help="mission .py files to describe instead of the registry")
    p.set_defaults(func=cmd_missions)

    p = sub.add_parser("policies", help="list policy shorthands (and a config's policies)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", help="also list the policies named in this study config")
    p.set_defaults(func=cmd_policies)

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
    p.add_argument("--device", default="cpu", help="torch device for neural policies (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway without a TTY)")
    p.add_argument("--replays", type=int, default=0, help="record episodes 0..N-1 (default 0)")
    p.add_argument("--replay-dir", help="where replays go (default: OUT without .parquet + .replays/)")
    p.add_argument("--first-episode", type=int, default=0,
                   help="play episodes FIRST..FIRST+EPISODES-1 (a chunk of an evaluation; default 0)")  # fmt: skip
    p.add_argument("--run", type=int, default=0, help="training run (seed) of the policy, for the `run` column")
    p.set_defaults(func=cmd_evaluate)

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

    p = sub.add_parser("curves-summary", help="per-policy learning-curve tables and a summary over runs")
    p.add_argument("--curves", nargs="+", required=True, help="`daf curves` tables (one per training run)")
    p.add_argument("--references", nargs="*", default=[], help="evaluations of the --normalize policies")
    p.add_argument("--normalize", metavar="LOW,HIGH", help="ALL rows on scores normalised between two policies")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--reps", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="directory: {policy}.parquet, summary.parquet, final_vs_best.parquet")
    p.set_defaults(func=cmd_curves_summary)

    p = sub.add_parser("merge-evals", help="merge evaluation chunks (runs x episode ranges) into one table")
    p.add_argument("--chunks", nargs="+", required=True, help="`daf evaluate` parquets of one policy x mission")
    p.add_argument("--out", required=True, help="output .parquet (a .json provenance sidecar is written beside it)")
    p.set_defaults(func=cmd_merge_evals)

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
    p.add_argument("--preset", help="named shaping terms: gather (0.5 per unit of each gathered resource)")
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
    p.add_argument("--fresh", action="store_true", help="ignore periodic checkpoints and start over")
    p.add_argument("--nproc-per-node", type=int, default=1, help="data-parallel ranks per node (torchrun)")
    p.add_argument("--nnodes", type=int, default=1, help="nodes (inside a SLURM allocation: srun + torchrun)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("summarize", help="per policy x mission table: mean, CI, success rate")
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--out", required=True, help="output .parquet")
    p.add_argument("--csv", help="also write a CSV copy")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--reps", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("profile", help="manage Snakemake profiles")
    profile = p.add_subparsers(dest="profile_command", required=True, parser_class=_Parser)
    p = profile.add_parser("install", help="install profiles/NAME as ~/.config/snakemake/NAME")
    p.add_argument("name", nargs="?", default="slurm", help="profile under profiles/ (default slurm)")
    p.add_argument("--dest", help="profile directory (default: $XDG_CONFIG_HOME/snakemake or ~/.config/snakemake)")
    p.add_argument("--cpu-partition", help="write this CPU partition in (default: $DAF_SLURM_CPU_PARTITION or cpu)")
    p.add_argument("--gpu-partition", help="write this GPU partition in (default: $DAF_SLURM_GPU_PARTITION or gpu)")
    p.add_argument("--account", help="write this account in (default: $DAF_SLURM_ACCOUNT or none)")
    p.add_argument("--force", action="store_true", help="replace an existing profile")
    p.set_defaults(func=cmd_profile_install)

    p = sub.add_parser("render", help="render a replay to a GIF (or a PNG frame strip), headless")
    p.add_argument("replay", help="a replay .npz from `daf evaluate --replays N`")
    p.add_argument("--out", required=True, help="FILE.gif or FILE.png")
    p.add_argument("--every", type=int, default=2, help="GIF: keep every Nth step (default 2)")
    p.add_argument("--max-frames", type=int, default=120, help="GIF: at most this many frames (default 120)")
    p.add_argument("--frames", type=int, default=6, help="PNG strip: frames (default 6)")
    p.add_argument("--cell", type=int, default=8, help="pixels per map cell (default 8)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("analyze", help="mission analysis: each episode's outcome (success or failure mode)")
    p.add_argument("--evals", required=True, help="a `daf evaluate` parquet")
    p.add_argument("--mission", required=True, help="its mission (name or .py file)")
    p.add_argument("--out", required=True, help="output .parquet")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("analysis-summary", help="success rates, failure modes and mission difficulty")
    p.add_argument("--analyses", nargs="+", required=True, help="`daf analyze` parquets")
    p.add_argument("--out", required=True, help="directory: summary.parquet/.csv, difficulty.parquet")
    p.add_argument("--confidence", type=float, default=0.95)
    p.set_defaults(func=cmd_analysis_summary)

    p = sub.add_parser("compare", help="leaderboard with CIs, pairwise tests, probability of improvement")
    p.add_argument("--evals", nargs="+", required=True, help="`daf evaluate` parquets")
    p.add_argument("--out", required=True, help="directory: leaderboard/pairwise/profiles .parquet, comparison.json")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--reps", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval", choices=["percentile", "bca"], default="percentile")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--correction", choices=["holm", "bh"], default="holm")
    p.add_argument("--normalize", metavar="LOW,HIGH", help="normalise per mission: LOW's mean -> 0, HIGH's -> 1")
    p.add_argument("--trained", metavar="A,B", default="", help="policies trained by DAF (a single run is flagged)")
    p.set_defaults(func=cmd_compare)

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
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--reps", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_vor)

    p = sub.add_parser("report", help="build the self-contained HTML report")
    p.add_argument("--config", required=True)
    p.add_argument("--comparison", required=True, help="directory written by `daf compare`")
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--vor", nargs="*", default=[], help="`daf vor` JSON results")
    p.add_argument("--analysis", help="directory written by `daf analysis-summary`")
    p.add_argument("--train-logs", nargs="*", default=[],
                   help="train_log.parquet files (results/checkpoints/POLICY/seedN/train_log.parquet)")  # fmt: skip
    p.add_argument("--curves", nargs="*", default=[], help="`daf curves-summary` outputs (summary, final_vs_best)")
    p.add_argument("--plan", nargs="*", default=[], help="`daf plan` plan.json, shown in the summary")
    p.add_argument("--replays", nargs="*", default=[], help="replay GIFs named POLICY/MISSION.gif")
    p.add_argument("--sweeps", nargs="*", default=[], help="sweep directories (results/sweeps/NAME)")
    p.add_argument("--variants", nargs="*", default=[], help="variant tables (results/variants/NAME.parquet)")
    p.add_argument("--out", required=True)
    p.add_argument("--benchmarks", help="directory of Snakemake benchmark TSVs")
    p.add_argument("--logs", help="directory of the jobs' JSON-lines logs (daf --log-json), joined with the TSVs")
    p.add_argument("--regenerate-command", default="snakemake -c2 report", help="shown in the provenance section")
    p.set_defaults(func=cmd_report)

    from daf.cli_ops import add_parsers as add_ops_parsers
    from daf.cli_sweep import add_parsers as add_sweep_parsers

    add_sweep_parsers(sub, _Parser)
    add_ops_parsers(sub, _Parser)

    p = sub.add_parser("validate-config", help="check a study config")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("schema", help="print (or write) the config JSON schema")
    p.add_argument("--out")
    p.set_defaults(func=cmd_schema)
    return parser


def _version() -> str:
    from daf import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    from daf.logs import EventLog

    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, [args.command, getattr(args, "action", None)]))
    log = EventLog(args.log_json or os.environ.get("DAF_LOG_JSON"), command)
    rank = {"rank": int(os.environ["RANK"])} if "RANK" in os.environ else {}  # torchrun ranks share the file
    log.event("start", argv=list(sys.argv[1:] if argv is None else argv), **rank)
    started = time.perf_counter()

    def finish(status: str, **fields) -> None:
        log.event("end", status=status, duration_s=round(time.perf_counter() - started, 3), **rank, **fields)

    try:
        metrics = args.func(args)
    except UserError as exc:  # bad input (2), or a run that failed for a known reason (1)
        # a wrapped exception (e.g. a policy's own code) keeps its traceback for the log and DAF_DEBUG=1
        trace = "".join(traceback.format_exception(exc)) if exc.__cause__ is not None else None
        finish("error", error=str(exc), **({"traceback": trace} if trace else {}))
        if trace and os.environ.get("DAF_DEBUG") == "1":
            print(trace, file=sys.stderr, end="")
        print(f"daf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        finish("ok", metrics={})
        return 0
    except SystemExit as exc:
        finish("ok" if not exc.code else "failed", exit_code=exc.code)
        raise
    except BaseException as exc:  # a crash or an interrupt: record it, then let it propagate
        finish("crash", error=f"{type(exc).__name__}: {exc}")
        raise
    finish("ok", metrics=metrics if isinstance(metrics, dict) else {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
