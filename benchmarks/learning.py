"""Learning robustness: does `daf train` learn each mission on every seed, and how fast?

Per mission and budget, N training seeds (default 10) with the shipped settings: the PPO
defaults and the mission's shipped shaping preset (`gather` on the cogs missions, as in the
default study; TARGETS), or the settings given with --preset / --set, for comparisons. The seeds are 1000, 1001, ...
(--first-seed): DAF's development and tuning use seeds below 1000, so the benchmark's seeds
are not tuned on. Every trained network plays the same held-out episodes (episode seeds from
`daf.evaluation.episodes.episode_seed(HELD_OUT_SEED, k)`; training draws its maps from the trainer's own
seed streams, so procedural missions are played on maps the network never trained on),
next to `random` and `baseline` on the same episodes. A run's score is normalised:
(ppo - random) / (baseline - random), both references' held-out means.

Printed per mission x budget:
- the fraction of seeds whose held-out normalised score reaches the mission's target level
  (and 0.5), with a 95% Wilson interval;
- time to threshold: the agent-steps and wall-clock seconds until the smoothed training
  curve (`daf.stats.curves.smoothed_training_reward`: the mission's own episode reward over a
  fixed number of episodes) first reaches the reward of normalised 0.5 (random + 0.5 x
  (baseline - random)), as median [IQR] over seeds; a seed that never got there within its
  budget is censored (`daf.stats.estimates.censored_quantiles`: a quantile is "> budget" when too few
  got there);
- the held-out normalised IQM and mean over seeds with two-level 95% CIs (seeds, then
  episodes within each seed: `daf.stats.estimates.score_matrix_estimate`).
With a budget-free learning-rate schedule (the default: warm-up and decay in agent-steps, or a
constant rate) a run of a shorter budget is the first part of a longer one (the same updates,
the same weights), so each seed is trained once, to the longest budget, and a shorter budget's
network is the periodic checkpoint at that budget. With `--set anneal_lr=true` (decay to 0 at
the end of the budget) every budget is trained on its own.
All seeds' curves go to one PNG per mission (a panel per budget); every seed's row to
seeds.csv, the table to summary.csv (both under --out). Training runs are kept under
--work, so an interrupted benchmark continues where it stopped and a finished run is not
repeated; its held-out scores are cached beside it.

    python benchmarks/learning.py                                   # every mission, 10 seeds (hours)
    python benchmarks/learning.py --missions cogs.small --budgets 2e6,3e6,5e6
    python benchmarks/learning.py --missions cogs.tiny --seeds 10 --jobs 2 --workers 0
    python benchmarks/learning.py --missions cogs.small --label anneal --set anneal_lr=true   # beside them
    python benchmarks/learning.py --missions cogs.small --label unshaped --preset none

Wall-clock times are each run's own clock (`wall_seconds` in its log). With --jobs > 1 the
runs share the cores, so compare times only between benchmarks run alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from daf.errors import UserError

HELD_OUT_SEED = 10_000
THRESHOLD = 0.5  # normalised level whose training reward defines "time to threshold"


@dataclass(frozen=True)
class Target:
    level: float  # normalised held-out score a seed must reach
    budget: int  # agent-steps
    share: float | None  # share of seeds that must reach `level`; None: the mean over seeds must
    budgets: tuple[int, ...] = ()  # further budgets the same target must hold at (--budgets default)
    preset: str | None = None  # the shaping preset DAF ships for the mission (the default study's)


# The cogs missions train with the `gather` preset, as the default study does (config/config.yaml);
# forage declares nothing to gather.
TARGETS = {
    "cogs.tiny": Target(0.9, 100_000, 1.0, preset="gather"),
    "forage.open": Target(0.8, 2_000_000, 1.0),
    "cogs.small": Target(0.5, 3_000_000, 0.9, budgets=(2_000_000, 3_000_000, 5_000_000), preset="gather"),
    "cogs.standard": Target(0.3, 10_000_000, None, preset="gather"),
}


@dataclass(frozen=True)
class Settings:
    """What a run trains with besides mission, budget and seed."""

    preset: str | None
    overrides: tuple[tuple[str, object], ...]  # PPO hyperparameters set on the command line
    workers: int
    threads: int

    def key(self) -> str:
        """Names the runs' directory: the preset and every resolved hyperparameter, so runs made
        under other defaults (an older DAF) are never taken for these."""
        from daf.config.training import make_config

        hp = make_config(dict(self.overrides)).model_dump()
        ident = json.dumps({"preset": self.preset, "hp": hp}, sort_keys=True, default=str)
        return hashlib.sha256(ident.encode()).hexdigest()[:10]


def evaluate(mission_name: str, spec: str, episodes: int) -> np.ndarray:
    """Per-episode scores (mean reward per agent, the mission's own reward) on the held-out episodes."""
    import torch

    from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
    from daf.evaluation.table import episode_scores
    from daf.missions import get_mission
    from daf.policies import parse_spec
    from daf.policies.actors import build_actor

    torch.set_num_threads(1)
    mission = get_mission(mission_name)
    actor = build_actor(parse_spec(spec), mission_env_info(mission), seed=HELD_OUT_SEED)
    frame = run_episodes(mission, Seat(spec, actor), episodes, HELD_OUT_SEED)
    return episode_scores(frame)["score"].to_numpy()


def heldout_scores(mission_name: str, model: Path, episodes: int) -> np.ndarray:
    """The held-out scores of a network, cached beside it."""
    path = model.parent / f"heldout_{episodes}.json"
    if path.is_file() and path.stat().st_mtime >= model.stat().st_mtime:
        return np.array(json.loads(path.read_text()))
    scores = evaluate(mission_name, str(model), episodes)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(scores.tolist()))
    tmp.replace(path)
    return scores


def train_run(mission_name: str, budget: int, seed: int, settings: Settings, out: Path) -> dict:
    """Train `out` to `budget` agent-steps, or keep it when it got there before (a shorter finished
    run is continued: `daf train` resumes from its newest periodic checkpoint)."""
    import torch

    from daf.config.training import make_config
    from daf.missions import get_mission
    from daf.training.ppo import train

    torch.set_num_threads(settings.threads)
    sidecar_path = out / "model.json"
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else None
    if sidecar is None or sidecar["steps"] < budget:
        hp = make_config(dict(settings.overrides))
        sidecar = train(get_mission(mission_name), budget, seed, out, hp=hp, preset=settings.preset,
                        workers=settings.workers, device_name="cpu", progress=False)  # fmt: skip
    return sidecar


def network_at(run: Path, budget: int) -> tuple[Path, int]:
    """The network a run of `budget` agent-steps ends with, from a longer run with a budget-free
    schedule: its periodic checkpoint at `budget` (taken by the first update at or past it, the
    update a `budget` run stops after, so the same weights) as a model.pt with the final one's
    architecture. Returns its path and actual agent-steps."""
    from daf.evaluation.checkpoints import periodic_checkpoints
    from daf.policies import checkpoint

    found = {nominal: (actual, path) for nominal, actual, path in periodic_checkpoints(run)}
    actual, path = found[budget]
    model = run / f"at{budget}" / "model.pt"
    if not model.is_file():
        payload = {**checkpoint.load(run / "model.pt"), "model": checkpoint.load(path, verify_sidecar=True)["model"]}
        model.parent.mkdir(exist_ok=True)
        checkpoint.save(model, payload, {"steps": actual, "periodic_checkpoint": path.name})
    return model, actual


def train_and_evaluate(mission_name: str, budgets: list[int], seed: int, settings: Settings, work: Path,
                       episodes: int) -> list[dict]:  # fmt: skip
    """One seed at every budget: its held-out scores, training log and sidecar figures.

    With a budget-free learning-rate schedule (anneal_lr: false) a run of a shorter budget is the
    first part of a longer one, so one run is trained to the longest budget and a shorter
    budget's network is its checkpoint there (`network_at`), its log the log up to there.
    With `anneal_lr` (a schedule relative to the budget) every budget is a run of its own."""
    from daf.config.training import make_config

    if make_config(dict(settings.overrides)).anneal_lr:
        results = []
        for budget in budgets:
            out = work / f"b{budget}" / f"seed{seed}"
            sidecar = train_run(mission_name, budget, seed, settings, out)
            results.append({
                "seed": seed, "budget": budget, "scores": heldout_scores(mission_name, out / "model.pt", episodes),
                "log": pd.read_parquet(out / "train_log.parquet"), "steps": sidecar["steps"],
                "seconds": sidecar["wall_seconds"],
            })  # fmt: skip
        return results
    out = work / f"seed{seed}"
    sidecar = train_run(mission_name, max(budgets), seed, settings, out)
    log = pd.read_parquet(out / "train_log.parquet")
    results = []
    for budget in budgets:
        model, steps = (out / "model.pt", sidecar["steps"]) if budget == max(budgets) else network_at(out, budget)
        part = log[log["agent_steps"] <= steps]
        results.append({
            "seed": seed, "budget": budget, "scores": heldout_scores(mission_name, model, episodes), "log": part,
            "steps": steps, "seconds": float(part["wall_seconds"].iloc[-1]),
        })  # fmt: skip
    return results


def seed_rows(mission: str, budget: int, runs: list[dict], low: float, high: float) -> pd.DataFrame:
    from daf.stats.curves import time_to_threshold

    threshold_reward = low + THRESHOLD * (high - low)
    rows = []
    for run in runs:
        steps, seconds = time_to_threshold(run["log"], threshold_reward)
        rows.append({
            "mission": mission, "budget": budget, "seed": run["seed"],
            "reward": float(run["scores"].mean()), "normalised": float((run["scores"].mean() - low) / (high - low)),
            "steps_to_threshold": steps, "seconds_to_threshold": seconds,
            "agent_steps": run["steps"], "train_seconds": run["seconds"],
            "random": low, "baseline": high,
        })  # fmt: skip
    return pd.DataFrame(rows)


def summarise(mission: str, budget: int, seeds: pd.DataFrame, per_seed: list[np.ndarray], target: Target) -> dict:
    from daf.stats.estimates import censored_quantiles, score_matrix_estimate, wilson_interval

    n = len(seeds)
    reached = int((seeds["normalised"] >= target.level).sum())
    half = int((seeds["normalised"] >= THRESHOLD).sum())
    interval = wilson_interval(reached, n)
    iqm = score_matrix_estimate([np.stack(per_seed)], "iqm")
    mean = score_matrix_estimate([np.stack(per_seed)], "mean")
    steps_q = censored_quantiles(seeds["steps_to_threshold"], [0.25, 0.5, 0.75])
    secs_q = censored_quantiles(seeds["seconds_to_threshold"], [0.25, 0.5, 0.75])
    met = reached / n >= target.share if target.share is not None else mean.point >= target.level
    return {
        "mission": mission, "budget": budget, "seeds": n, "level": target.level,
        "reached": reached, "reached_low": interval[0], "reached_high": interval[1],
        "reached_half": half,
        "steps_q25": steps_q[0], "steps_median": steps_q[1], "steps_q75": steps_q[2],
        "seconds_q25": secs_q[0], "seconds_median": secs_q[1], "seconds_q75": secs_q[2],
        "iqm": iqm.point, "iqm_low": iqm.low, "iqm_high": iqm.high,
        "mean": mean.point, "mean_low": mean.low, "mean_high": mean.high,
        "target": (f"{target.share:.0%} of seeds >= {target.level}" if target.share is not None
                   else f"mean >= {target.level}"),
        "met": bool(met),
    }  # fmt: skip


def check_budgets(budgets: list[int], hp) -> None:
    """Budget-free runs read shorter budgets from periodic checkpoints: each must be on their grid."""
    if not budgets or min(budgets) < 1:
        raise UserError(f"--budgets must be positive agent-step counts (got {budgets})")
    off = [b for b in budgets if not hp.anneal_lr and b != max(budgets) and b % hp.checkpoint_interval]
    if off:
        raise UserError(
            f"--budgets {', '.join(map(str, off))} are not multiples of checkpoint_interval "
            f"({hp.checkpoint_interval}): the shorter budgets are read from its periodic checkpoints"
        )


def _time(value: float, scale: float, unit: str) -> str:
    return "> budget" if not np.isfinite(value) else f"{value / scale:.2f}{unit}"


def print_summary(row: dict) -> None:
    steps = "/".join(_time(row[f"steps_{q}"], 1e6, "M") for q in ("q25", "median", "q75"))
    secs = "/".join(_time(row[f"seconds_{q}"], 1, "s") for q in ("q25", "median", "q75"))
    print(
        f"{row['mission']:<13} {row['budget'] / 1e6:>5.2f}M  >= {row['level']}: {row['reached']:>2}/{row['seeds']} "
        f"[{row['reached_low']:.2f}, {row['reached_high']:.2f}]  >= 0.5: {row['reached_half']:>2}/{row['seeds']}  "
        f"to 0.5 (q25/median/q75): {steps}, {secs}  IQM {row['iqm']:.2f} [{row['iqm_low']:.2f}, {row['iqm_high']:.2f}] "
        f"mean {row['mean']:.2f} [{row['mean_low']:.2f}, {row['mean_high']:.2f}]  target {row['target']}: "
        f"{'met' if row['met'] else 'MISSED'}",
        flush=True,
    )


def plot_mission(mission: str, curves: dict[int, dict[int, pd.DataFrame]], refs: tuple[float, float],
                 path: Path) -> None:  # fmt: skip
    """One panel per budget: every seed's smoothed training curve, the references and the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from daf.stats.curves import smoothed_training_reward

    low, high = refs
    threshold = low + THRESHOLD * (high - low)
    budgets = sorted(curves)
    fig, axes = plt.subplots(1, len(budgets), figsize=(5.2 * len(budgets), 3.8), squeeze=False, sharey=True)
    for ax, budget in zip(axes[0], budgets):
        for i, (seed, log) in enumerate(sorted(curves[budget].items())):
            curve = smoothed_training_reward(log)
            color = plt.cm.tab10(i % 10)
            ax.plot(curve["agent_steps"], curve["reward"], color=color, linewidth=1, label=f"seed {seed}")
        ax.axhline(high, color="black", linestyle="-.", linewidth=1, label="baseline (held out)")
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=1, label="normalised 0.5")
        ax.axhline(low, color="grey", linestyle=":", linewidth=1, label="random (held out)")
        ax.set_title(f"{mission}, budget {budget / 1e6:g}M agent-steps")
        ax.set_xlabel("agent-steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training episode reward per agent (smoothed)")
    axes[0][-1].legend(fontsize=6, loc="lower right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def exit_with_parent(parent: int) -> None:
    """Pool initializer: a run ends when the benchmark does. A killed benchmark (SIGTERM, SIGKILL)
    would otherwise leave its pool's runs training on, and a rerun would write the same run
    directories beside them."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)  # the run resumes from its periodic checkpoints next time

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def main() -> None:
    from daf.cli.train import parse_overrides
    from daf.config.training import make_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--missions", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--seeds", type=int, default=10, help="training seeds per mission x budget (default 10)")
    parser.add_argument("--first-seed", type=int, default=1000, help="seeds are FIRST..FIRST+N-1 (default 1000)")
    parser.add_argument("--budgets", help="agent-step budgets, e.g. 2e6,3e6,5e6 (default: the mission's)")
    parser.add_argument("--preset", help="shaping preset to train with on every mission, or `none` (default: each "
                        "mission's shipped preset, TARGETS)")  # fmt: skip
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a PPO hyperparameter (repeatable), e.g. to run earlier defaults beside these",
    )
    parser.add_argument("--label", default="defaults", help="names this set of settings in --out")
    parser.add_argument("--episodes", type=int, default=64, help="held-out episodes per network")
    parser.add_argument("--workers", type=int, default=1, help="env worker processes per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (e.g. 2 with --workers 0)")
    parser.add_argument("--work", default="results/benchmarks/learning/runs", help="training runs (kept, resumable)")
    parser.add_argument("--out", default="results/benchmarks/learning", help="tables and PNGs go to OUT/LABEL/")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    hp = make_config(overrides)  # refuse a bad --set before anything trains
    settings = Settings(args.preset, tuple(sorted(overrides.items())), args.workers, args.threads)
    shipped = args.preset is None
    from daf.missions.sets import PRESETS

    if not shipped and args.preset != "none" and args.preset not in PRESETS:
        raise UserError(f"--preset '{args.preset}' is not one of none, {', '.join(PRESETS)}")
    out = Path(args.out) / args.label
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    preset_text = "each mission's shipped preset" if shipped else args.preset
    print(f"settings {args.label}: preset {preset_text}, --set {dict(overrides)}; "
          f"seeds {seeds[0]}..{seeds[-1]}; {args.jobs} run(s) side by side, {args.workers} env worker(s) and "
          f"{args.threads} torch thread(s) each", flush=True)  # fmt: skip
    all_seeds, summaries = [], []
    context = multiprocessing.get_context("spawn")  # a clean torch in every run
    with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=exit_with_parent,
                             initargs=(os.getpid(),)) as pool:  # fmt: skip
        for mission in args.missions:
            target = TARGETS[mission]
            preset = target.preset if shipped else None if args.preset == "none" else args.preset
            mission_settings = replace(settings, preset=preset)
            budgets = sorted({int(float(b)) for b in args.budgets.split(",")} if args.budgets
                             else set(target.budgets or (target.budget,)))  # fmt: skip
            check_budgets(budgets, hp)
            refs = pool.map(evaluate, [mission] * 2, ["random", "baseline"], [args.episodes] * 2)
            low, high = (float(s.mean()) for s in refs)
            work = Path(args.work) / mission / mission_settings.key()
            print(f"{mission}: preset {preset}, runs in {work}", flush=True)
            jobs = [(mission, budgets, seed, mission_settings, work, args.episodes) for seed in seeds]
            by_seed = list(pool.map(train_and_evaluate, *zip(*jobs)))
            curves = {}
            for i, budget in enumerate(budgets):
                runs = [results[i] for results in by_seed]
                rows = seed_rows(mission, budget, runs, low, high)
                all_seeds.append(rows)
                per_seed = [(run["scores"] - low) / (high - low) for run in runs]
                summaries.append(summarise(mission, budget, rows, per_seed, target))
                print_summary(summaries[-1])
                curves[budget] = {run["seed"]: run["log"] for run in runs}
            _write_csv(pd.concat(all_seeds), out / "seeds.csv")
            _write_csv(pd.DataFrame(summaries), out / "summary.csv")
            plot_mission(mission, curves, (low, high), out / f"{mission}.png")
            mine = pd.concat(all_seeds).query("mission == @mission")
            per_seed_text = ", ".join(f"{r.budget / 1e6:g}M s{r.seed} {r.normalised:.2f}" for r in mine.itertuples())
            print(f"  {mission}: random {low:.2f}, baseline {high:.2f} per agent held out; normalised per seed: "
                  f"{per_seed_text}", flush=True)  # fmt: skip
    print(f"tables and curves: {out}/")


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:  # bad input: one line, no traceback
        sys.exit(f"learning.py: {exc}")
