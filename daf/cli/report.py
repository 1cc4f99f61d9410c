"""`daf render` (a replay to GIF/PNG) and `daf report` (the self-contained HTML report)."""

from __future__ import annotations

import sys
from pathlib import Path

from daf.cli.common import tracking_arguments, tracking_targets
from daf.errors import UserError


def cmd_render(args) -> dict:
    from daf.evaluation import replays as replay

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
        crossplay_tables=args.crossplay,
        crossplay_gap_tables=args.crossplay_gaps,
        nash_tables=args.nash,
        alpharank_tables=args.alpharank,
    )
    targets = tracking_targets(args)
    if targets is not None:
        from dataclasses import replace

        from daf.report.tracking import log_study

        wandb_dir = Path(args.logs) / "wandb" if args.logs else Path(args.out).parent
        log_study(replace(targets, wandb_dir=str(wandb_dir)), args.config, args.comparison, Path(args.out))
    return {"bytes": Path(args.out).stat().st_size}


def add_parsers(sub, parser_class) -> None:
    p = sub.add_parser("render", help="render a replay to a GIF (or a PNG frame strip), headless")
    p.add_argument("replay", help="a replay .npz from `daf evaluate --replays N`")
    p.add_argument("--out", required=True, help="FILE.gif or FILE.png")
    p.add_argument("--every", type=int, default=2, help="GIF: keep every Nth step (default 2)")
    p.add_argument("--max-frames", type=int, default=120, help="GIF: at most this many frames (default 120)")
    p.add_argument("--frames", type=int, default=6, help="PNG strip: frames (default 6)")
    p.add_argument("--cell", type=int, default=8, help="pixels per map cell (default 8)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("report", help="build the self-contained HTML report")
    p.add_argument("--config", required=True)
    p.add_argument("--comparison", required=True, help="directory written by `daf compare`")
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--vor", nargs="*", default=[], help="`daf vor` JSON results")
    p.add_argument("--analysis", help="directory written by `daf analysis-aggregate`")
    p.add_argument("--train-logs", nargs="*", default=[],
                   help="train_log.parquet files (results/checkpoints/POLICY/seedN/train_log.parquet)")  # fmt: skip
    p.add_argument("--curves", nargs="*", default=[], help="`daf curves-aggregate` outputs (summary, final_vs_best)")
    p.add_argument("--plan", nargs="*", default=[], help="`daf plan` plan.json, shown in the summary")
    p.add_argument("--replays", nargs="*", default=[], help="replay GIFs named POLICY/MISSION.gif")
    p.add_argument("--sweeps", nargs="*", default=[], help="sweep directories (results/sweeps/NAME)")
    p.add_argument("--variants", nargs="*", default=[], help="variant tables (results/variants/NAME.parquet)")
    p.add_argument(
        "--crossplay", nargs="*", default=[], help="`daf crossplay` tables (results/crossplay/MISSION.parquet)"
    )
    p.add_argument("--crossplay-gaps", nargs="*", default=[],
                   help="cross-play gap tables (results/crossplay/gaps/MISSION.parquet)")  # fmt: skip
    p.add_argument("--nash", nargs="*", default=[], help="`daf nash` table (results/population/nash.parquet)")
    p.add_argument("--alpharank", nargs="*", default=[],
                   help="`daf alpharank` tables (results/population/alpharank/MISSION.parquet)")  # fmt: skip
    p.add_argument("--out", required=True)
    p.add_argument("--benchmarks", help="directory of Snakemake benchmark TSVs")
    p.add_argument("--logs", help="directory of the jobs' JSON-lines logs (daf --log-json), joined with the TSVs")
    p.add_argument("--regenerate-command", default="snakemake -c2 report", help="shown in the provenance section")
    tracking_arguments(p)  # also log the leaderboard (metrics and a table) and the report (a file)
    p.set_defaults(func=cmd_report)
