"""Learning: does `daf train` with its defaults learn the missions? Targets vs measured.

Per mission, 3 training seeds with the default settings (`default`) and, where DAF ships
one, with a named shaping preset (`gather`: training-only reward per gathered resource;
evaluation always uses the mission's own reward). Every trained network plays the same
64 held-out episodes (episode seeds from `daf.rollout.episode_seed(HELD_OUT_SEED, k)`;
training draws its maps from the trainer's own seed streams, so for procedural missions
these are maps it never trained on), next to `random` and `baseline` on the same episodes.

Printed per mission and variant: the normalised score (ppo - random) / (baseline - random)
averaged over seeds with a 95% two-level bootstrap CI (resample seeds, then episodes
within each seed), each seed's score, the agent-steps used and the wall time. Learning
curves (episode reward per agent, the mission's own reward, against agent-steps, one line
per seed) go to a PNG. Training runs are kept under --work, so an interrupted benchmark
continues where it stopped (and a finished run is not repeated).

    python benchmarks/learning.py                       # everything (hours on 2 cores)
    python benchmarks/learning.py --missions cogs.small --variants gather --seeds 0
    python benchmarks/learning.py --missions cogs.standard --jobs 3 --workers 0   # seeds side by side

Wall times are each run's own (`train s`); with --jobs > 1 the runs share the cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from daf.missions import get_mission
from daf.policies import parse_spec
from daf.policies.actors import build_actor
from daf.ppo import train
from daf.rollout import Seat, mission_env_info, run_episodes
from daf.stats import episode_scores

HELD_OUT_SEED = 10_000
TARGETS = {  # mission: (normalised score, agent-step budget)
    "cogs.tiny": (0.9, 100_000),
    "forage.open": (0.8, 2_000_000),
    "cogs.small": (0.5, 5_000_000),
    "cogs.standard": (0.3, 10_000_000),
}
VARIANTS = {"default": None, "gather": "gather"}  # variant -> preset
SHAPED = {"cogs.small", "cogs.standard"}  # missions with a shipped preset (cogs.tiny learns without one)


def evaluate(mission, spec: str, episodes: int) -> np.ndarray:
    """Per-episode scores (mean reward per agent, the mission's own reward)."""
    actor = build_actor(parse_spec(spec), mission_env_info(mission), seed=HELD_OUT_SEED)
    frame = run_episodes(mission, Seat(spec, actor), episodes, HELD_OUT_SEED)
    return episode_scores(frame)["score"].to_numpy()


def two_level_ci(per_seed: list[np.ndarray], reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% CI of the mean over seeds: resample seeds, then episodes within each drawn seed."""
    rng = np.random.default_rng(seed)
    runs = np.stack(per_seed)  # (seeds, episodes)
    n_runs, n_eps = runs.shape
    pick_runs = rng.integers(0, n_runs, size=(reps, n_runs))
    pick_eps = rng.integers(0, n_eps, size=(reps, n_runs, n_eps))
    means = runs[pick_runs[:, :, None], pick_eps].mean(axis=(1, 2))
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def train_run(name: str, variant: str, seed: int, steps: int, work: Path, workers: int) -> tuple[Path, dict]:
    torch.set_num_threads(1)
    mission = get_mission(name)
    out = work / name / variant / f"seed{seed}"
    sidecar_path = out / "model.json"
    if sidecar_path.is_file():  # finished before: keep it
        sidecar = json.loads(sidecar_path.read_text())
        if sidecar["steps"] >= steps:
            return out, sidecar
    sidecar = train(mission, steps, seed, out, preset=VARIANTS[variant], workers=workers, device_name="cpu",
                    progress=False)  # fmt: skip
    return out, sidecar


def plot_curves(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missions = sorted({m for m, _ in curves})
    fig, axes = plt.subplots(1, len(missions), figsize=(4.6 * len(missions), 3.6), squeeze=False)
    styles = {"default": "-", "gather": "--"}
    for ax, mission in zip(axes[0], missions):
        for (m, variant), runs in sorted(curves.items()):
            if m != mission or variant == "__refs__":
                continue
            for color, (seed, log) in zip(["C0", "C1", "C2", "C3", "C4"], sorted(runs.items())):
                ended = log.dropna(subset=["episode_reward"])
                smooth = ended["episode_reward"].rolling(max(3, len(ended) // 20), min_periods=1).mean()
                ax.plot(ended["agent_steps"], smooth, styles.get(variant, ":"), color=color,
                        label=f"{variant} seed {seed}")  # fmt: skip
        for ref, value in curves.get((mission, "__refs__"), {}).items():
            ax.axhline(value, color="grey", linestyle=":" if ref == "random" else "-.", linewidth=1, label=ref)
        ax.set_title(mission)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel("episode reward per agent (mission's own)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--missions", nargs="+", default=list(TARGETS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--steps", type=int, help="override every mission's budget (for a quick look)")
    parser.add_argument("--workers", type=int, default=1, help="env worker processes per run")
    parser.add_argument("--jobs", type=int, default=1, help="training runs side by side (e.g. 2 with --workers 0)")
    parser.add_argument("--work", default="results/benchmarks/learning", help="training runs (kept, resumable)")
    parser.add_argument("--png", default="results/benchmarks/learning.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(args.work)
    print(f"training: {args.jobs} run(s) side by side, {args.workers} env worker process(es) each, torch 1 thread")
    rows, curves = [], {}
    for name in args.missions:
        mission = get_mission(name)
        target, budget = TARGETS.get(name, (float("nan"), 1_000_000))
        steps = args.steps or budget
        refs = {ref: evaluate(mission, ref, args.episodes) for ref in ("random", "baseline")}
        low, high = refs["random"].mean(), refs["baseline"].mean()
        curves[(name, "__refs__")] = {"random": low, "baseline": high}
        for variant in args.variants:
            if variant != "default" and name not in SHAPED:
                continue
            per_seed, seed_rows = [], []
            # seeds train side by side in --jobs processes (spawned: a clean torch in each)
            with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                runs = list(pool.map(train_run, *zip(*[(name, variant, seed, steps, work, args.workers)
                                                       for seed in args.seeds])))  # fmt: skip
            for seed, (out, sidecar) in zip(args.seeds, runs):
                scores = evaluate(mission, str(out / "model.pt"), args.episodes)
                normalised = (scores - low) / (high - low)
                per_seed.append(normalised)
                curves.setdefault((name, variant), {})[seed] = pd.read_parquet(out / "train_log.parquet")
                seed_rows.append((seed, float(scores.mean()), float(normalised.mean()), sidecar["steps"],
                                  sidecar["wall_seconds"]))  # fmt: skip
            mean = float(np.mean([s.mean() for s in per_seed]))
            ci = two_level_ci(per_seed)
            rows.append((name, variant, target, steps, mean, ci, seed_rows, low, high))
            print_table(rows)
            plot_curves(curves, Path(args.png))
    print(f"learning curves: {args.png}")


def print_table(rows) -> None:
    print(f"\n{'mission':<14} {'variant':<8} {'target':>7} {'budget':>11} {'normalised (95% CI)':>24}  "
          f"{'met':<4} per seed: reward/agent (normalised), agent-steps, train s")  # fmt: skip
    for name, variant, target, steps, mean, (lo, hi), seeds, low, high in rows:
        met = "yes" if mean >= target else "no"
        detail = "; ".join(f"s{s} {r:.2f} ({n:.2f}) {st / 1e6:.2f}M {w:.0f}s" for s, r, n, st, w in seeds)
        print(f"{name:<14} {variant:<8} {target:>7.2f} {steps:>11,} {mean:>8.2f} [{lo:6.2f}, {hi:6.2f}]  "
              f"{met:<4} {detail}   (random {low:.2f}, baseline {high:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
