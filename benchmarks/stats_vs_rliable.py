"""DAF's bootstrap statistics against rliable's, side by side in one run.

A score matrix of 10 policies x 8 missions x 50 episodes; 95% CIs at 10k replicates of
(a) the IQM of every policy (stratified over missions) and (b) the probability of
improvement of every pair of policies (averaged over missions, episodes resampled jointly
as rliable does). rliable 1.2.0 needs pandas<3, so it runs in its own environment:

    python3 -m venv benchmarks/.rliable-venv
    benchmarks/.rliable-venv/bin/pip install 'rliable==1.2.0' 'pandas<3'
    python benchmarks/stats_vs_rliable.py [--pairs 45] [--reps 10000]

Prints the time ratio (target >= 20x faster) and the largest difference of CI endpoints,
next to the Monte-Carlo error of our own endpoints (two seeds apart): they must be of the
same size, i.e. the two implementations estimate the same intervals.
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

from daf.stats import bootstrap_estimate, poi_estimate

RLIABLE_PYTHON = Path(__file__).parent / ".rliable-venv" / "bin" / "python"


def make_scores(policies: int, missions: int, episodes: int, seed: int = 0) -> np.ndarray:
    """(policies, episodes, missions) scores with ties (integers) and policy effects."""
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.5, 2.0, policies)[:, None, None]
    difficulty = rng.uniform(0.5, 2.0, size=(1, 1, missions))
    return np.round(rng.gamma(2.0, skill * difficulty, size=(policies, episodes, missions)) * 2) / 2


def ours(scores: np.ndarray, pairs: list[tuple[int, int]], reps: int, seed: int) -> tuple[float, float, dict, dict]:
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
                           seed=seed, paired=True)  # fmt: skip
        poi[(a, b)] = (est.low, est.high)
    return iqm_seconds, time.perf_counter() - start, iqm, poi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=10)
    parser.add_argument("--missions", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=None, help="compare only the first N pairs (default: all)")
    args = parser.parse_args()
    if not RLIABLE_PYTHON.exists():
        raise SystemExit(f"rliable environment missing: create it as the docstring says ({RLIABLE_PYTHON})")
    scores = make_scores(args.policies, args.missions, args.episodes)
    pairs = list(itertools.combinations(range(args.policies), 2))[: args.pairs]
    iqm_s, poi_s, iqm, poi = ours(scores, pairs, args.reps, seed=0)
    _, _, iqm2, poi2 = ours(scores, pairs, args.reps, seed=1000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.npz"
        np.savez(path, scores=scores, names=np.array([f"p{i}" for i in range(args.policies)]))
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
    print(f"largest CI-endpoint difference daf vs rliable: IQM {iqm_diff:.4f}, POI {poi_diff:.4f}")
    print(f"Monte-Carlo error of daf's endpoints (seed vs seed): IQM {iqm_mc:.4f}, POI {poi_mc:.4f}")


if __name__ == "__main__":
    main()
