"""DAF's bootstrap statistics against rliable's, side by side in one run.

A score matrix of 10 policies x 8 missions x 50 episodes; 95% CIs at 10k replicates of
(a) the IQM of every policy (stratified over missions) and (b) the probability of
improvement of every pair of policies (averaged over missions). rliable 1.2.0 resamples the
two policies' episodes independently; `daf compare` by default resamples seed-matched
episodes jointly (both policies played the same maps, so the pair is the unit). Like is
compared with like: the timing and CI parity use DAF's independent scheme
(`poi_estimate(paired=False)`), and the paired default is timed and its CIs are compared
with the independent ones separately (on these synthetic, independent policies the two
schemes estimate about the same interval; on real seed-matched episodes the paired CI is
narrower wherever maps make both policies score high or low together). (c) Training runs as the unit of
replication: a runs x missions score matrix with one episode per run (10 policies x 8
missions x 10 runs), the IQM and mean of every policy with DAF's `score_matrix_estimate`
(the aggregate of `daf compare`'s ALL rows for multi-run policies) against rliable's
`get_interval_estimates` (StratifiedBootstrap over runs within each mission).
rliable 1.2.0 needs pandas<3, so it runs in its own environment:

    python3 -m venv benchmarks/.rliable-venv
    benchmarks/.rliable-venv/bin/pip install 'rliable==1.2.0' 'pandas<3'
    python benchmarks/stats_vs_rliable.py [--pairs 45] [--reps 10000] [--runs 10]

Prints the time ratios (target >= 20x faster) and the largest difference of CI endpoints,
next to the Monte-Carlo error of our own endpoints (two seeds apart): they must be of the
same size, i.e. the two implementations estimate the same intervals. rliable's all-pairs
POI takes about 20 minutes at 10k replicates; `--pairs 1` keeps a check to a few minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from daf.stats.estimates import bootstrap_estimate, poi_estimate, score_matrix_estimate

RLIABLE_PYTHON = Path(__file__).parent / ".rliable-venv" / "bin" / "python"


def make_scores(policies: int, missions: int, episodes: int, seed: int = 0) -> np.ndarray:
    """(policies, episodes, missions) scores with ties (integers) and policy effects."""
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.5, 2.0, policies)[:, None, None]
    difficulty = rng.uniform(0.5, 2.0, size=(1, 1, missions))
    return np.round(rng.gamma(2.0, skill * difficulty, size=(policies, episodes, missions)) * 2) / 2


def ours(
    scores: np.ndarray, pairs: list[tuple[int, int]], reps: int, seed: int, paired: bool = False
) -> tuple[float, float, dict, dict]:
    start = time.perf_counter()
    iqm = {}
    for i, matrix in enumerate(scores):
        est = bootstrap_estimate([matrix[:, m] for m in range(matrix.shape[1])], "iqm", reps=reps, seed=seed + i)
        iqm[i] = (est.low, est.high)
    iqm_seconds = time.perf_counter() - start
    start = time.perf_counter()
    poi = {}
    for a, b in pairs:
        est = poi_estimate([(scores[a][:, m], scores[b][:, m]) for m in range(scores.shape[2])], reps=reps,
                           seed=seed, paired=paired)  # fmt: skip
        poi[(a, b)] = (est.low, est.high)
    return iqm_seconds, time.perf_counter() - start, iqm, poi


def ours_runs(runs: np.ndarray, reps: int, seed: int) -> tuple[float, dict]:
    """IQM and mean CIs of each policy's (runs x missions) score matrix, one episode per run."""
    start = time.perf_counter()
    cis = {}
    for i, matrix in enumerate(runs):
        strata = [matrix[:, m, None] for m in range(matrix.shape[1])]  # mission m: (runs, 1 episode)
        cis[i] = {s: (e.low, e.high) for s in ("iqm", "mean")
                  for e in [score_matrix_estimate(strata, s, reps=reps, seed=seed + i)]}  # fmt: skip
    return time.perf_counter() - start, cis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=10)
    parser.add_argument("--missions", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=None, help="compare only the first N pairs (default: all)")
    parser.add_argument("--runs", type=int, default=10, help="training runs per policy in case (c)")
    args = parser.parse_args()
    if not RLIABLE_PYTHON.exists():
        raise SystemExit(f"rliable environment missing: create it as the docstring says ({RLIABLE_PYTHON})")
    scores = make_scores(args.policies, args.missions, args.episodes)
    pairs = list(itertools.combinations(range(args.policies), 2))[: args.pairs]
    # like with like: rliable resamples the two policies independently, so DAF does here too
    iqm_s, poi_s, iqm, poi = ours(scores, pairs, args.reps, seed=0, paired=False)
    _, _, iqm2, poi2 = ours(scores, pairs, args.reps, seed=1000, paired=False)
    _, paired_s, _, paired = ours(scores, pairs, args.reps, seed=0, paired=True)  # `daf compare`'s default
    runs = make_scores(args.policies, args.missions, args.runs, seed=1)  # (policies, runs, missions)
    runs_s, runs_ci = ours_runs(runs, args.reps, seed=0)
    _, runs_ci2 = ours_runs(runs, args.reps, seed=1000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.npz"
        np.savez(path, scores=scores, runs=runs, names=np.array([f"p{i}" for i in range(args.policies)]))
        started = time.perf_counter()
        out = subprocess.run([str(RLIABLE_PYTHON), str(Path(__file__).parent / "rliable_worker.py"), str(path),
                              str(args.reps), json.dumps([[f"p{a}", f"p{b}"] for a, b in pairs])],
                             capture_output=True, text=True, check=True)  # fmt: skip
        wall = time.perf_counter() - started
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    iqm_diff = max(abs(np.subtract(iqm[i], ref["iqm"][f"p{i}"])).max() for i in iqm)
    poi_diff = max(abs(np.subtract(poi[p], ref["poi"][f"p{p[0]},p{p[1]}"])).max() for p in poi)
    iqm_mc = max(abs(np.subtract(iqm[i], iqm2[i])).max() for i in iqm)
    poi_mc = max(abs(np.subtract(poi[p], poi2[p])).max() for p in poi)
    print(f"{args.policies} policies x {args.missions} missions x {args.episodes} episodes, {args.reps} reps, "
          f"{len(pairs)} pairs")  # fmt: skip
    print(
        f"IQM CIs : daf {iqm_s:7.2f} s   rliable {ref['iqm_seconds']:8.2f} s   ratio {ref['iqm_seconds'] / iqm_s:7.1f}x"
    )
    print(
        f"POI CIs : daf {poi_s:7.2f} s   rliable {ref['poi_seconds']:8.2f} s   ratio {ref['poi_seconds'] / poi_s:7.1f}x"
    )
    total = ref["iqm_seconds"] + ref["poi_seconds"]
    print(f"total   : daf {iqm_s + poi_s:7.2f} s   rliable {total:8.2f} s   ratio {total / (iqm_s + poi_s):7.1f}x"
          f"   (target >= 20x; rliable process wall time {wall:.1f} s)")  # fmt: skip
    print(f"largest CI-endpoint difference daf vs rliable: IQM {iqm_diff:.4f}, POI {poi_diff:.4f}"
          "   (both resample the two policies independently)")  # fmt: skip
    print(f"Monte-Carlo error of daf's endpoints (seed vs seed): IQM {iqm_mc:.4f}, POI {poi_mc:.4f}")
    paired_diff = max(abs(np.subtract(paired[p], poi[p])).max() for p in poi)
    width = np.mean([np.diff(poi[p])[0] for p in poi])
    paired_width = np.mean([np.diff(paired[p])[0] for p in poi])
    print(f"POI paired by episode seed (daf compare's default, not rliable's scheme): {paired_s:.2f} s; "
          f"mean CI width {paired_width:.4f} vs independent {width:.4f}, largest endpoint difference "
          f"{paired_diff:.4f} (independent synthetic policies: the schemes should agree)")  # fmt: skip
    print(f"\n(c) runs x missions score matrix: {args.policies} policies x {args.missions} missions x {args.runs} runs "
          f"(one episode per run), {args.reps} reps")  # fmt: skip
    print(f"IQM+mean CIs : daf {runs_s:7.2f} s   rliable {ref['runs_seconds']:8.2f} s   "
          f"ratio {ref['runs_seconds'] / runs_s:7.1f}x   (target >= 20x)")  # fmt: skip
    for stat in ("iqm", "mean"):
        diff = np.abs([np.subtract(runs_ci[i][stat], ref[f"runs_{stat}"][f"p{i}"]) for i in runs_ci])
        mc = np.abs([np.subtract(runs_ci[i][stat], runs_ci2[i][stat]) for i in runs_ci])
        width = np.mean([np.diff(runs_ci[i][stat])[0] for i in runs_ci])
        print(f"{stat:4s}: CI-endpoint difference daf vs rliable max {diff.max():.4f} mean {diff.mean():.4f};  "
              f"Monte-Carlo error of daf (seed vs seed) max {mc.max():.4f} mean {mc.mean():.4f};  "
              f"mean CI width {width:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
