"""Runs inside the rliable environment (see stats_vs_rliable.py); not imported by DAF.

Reads score matrices from an .npz, computes IQM CIs and all-pairs probability-of-improvement
CIs with rliable, and IQM and mean CIs of the runs x missions matrices (`runs`), prints JSON:
seconds and intervals.
"""

import json
import sys
import time

import numpy as np
from rliable import library as rly
from rliable import metrics

data = np.load(sys.argv[1])
reps = int(sys.argv[2])
names = [str(n) for n in data["names"]]
scores = {name: data["scores"][i] for i, name in enumerate(names)}  # (episodes x missions)
pairs = [tuple(p) for p in json.loads(sys.argv[3])]

start = time.perf_counter()
_, iqm = rly.get_interval_estimates(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps,
                                    random_state=np.random.RandomState(0))  # fmt: skip
iqm_seconds = time.perf_counter() - start
start = time.perf_counter()
pair_scores = {f"{a},{b}": (scores[a], scores[b]) for a, b in pairs}
_, poi = rly.get_interval_estimates(pair_scores, metrics.probability_of_improvement, reps=reps,
                                    random_state=np.random.RandomState(1))  # fmt: skip
poi_seconds = time.perf_counter() - start
runs = {name: data["runs"][i] for i, name in enumerate(names)}  # (runs x missions), one episode per run
start = time.perf_counter()
_, runs_ci = rly.get_interval_estimates(
    runs, lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]), reps=reps,
    random_state=np.random.RandomState(2))  # fmt: skip
runs_seconds = time.perf_counter() - start
print(json.dumps({
    "iqm_seconds": iqm_seconds, "poi_seconds": poi_seconds, "runs_seconds": runs_seconds,
    "iqm": {k: [float(np.ravel(v)[0]), float(np.ravel(v)[1])] for k, v in iqm.items()},
    "poi": {k: [float(np.ravel(v)[0]), float(np.ravel(v)[1])] for k, v in poi.items()},
    "runs_iqm": {k: [float(v[0, 0]), float(v[1, 0])] for k, v in runs_ci.items()},
    "runs_mean": {k: [float(v[0, 1]), float(v[1, 1])] for k, v in runs_ci.items()},
}))  # fmt: skip
