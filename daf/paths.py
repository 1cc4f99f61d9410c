"""Every results path of a study, in one table.

The workflow's rules declare these patterns as inputs and outputs (braces are Snakemake
wildcards) and pass files on as `{input.x}` / `{output.x}`; Python code formats them
(`MODEL.format(policy="ppo", seed=0)`). Renaming a directory is a change here, nowhere else.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

RESULTS = "results"

# Names that become result-path segments and shell words (policies, missions, sweeps, variants,
# trials, bundles): one rule, checked wherever a name enters (config, mission files, commands).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # no slashes, spaces, dot-only names; ASCII
MAX_NAME_LENGTH = 128  # a path segment with its suffixes (.parquet, .json, _tmp...) stays under 255 bytes


def is_path_name(name: str) -> bool:
    """Whether `name` may be a path segment and a shell word of the workflow (the whole string:
    `re.match` with `$` would let a trailing newline through)."""
    return len(name) <= MAX_NAME_LENGTH and re.fullmatch(NAME_PATTERN, name) is not None


def name_rule() -> str:
    """The rule as error messages state it."""
    return f"{NAME_PATTERN} and at most {MAX_NAME_LENGTH} characters"


# training: one directory per policy x training seed (a run)
CHECKPOINT_DIR = f"{RESULTS}/checkpoints/{{policy}}/seed{{seed}}"
MODEL = f"{CHECKPOINT_DIR}/model.pt"
MODEL_SIDECAR = f"{CHECKPOINT_DIR}/model.json"
TRAIN_LOG = f"{CHECKPOINT_DIR}/train_log.parquet"

# evaluation: chunks of runs, merged per policy x mission; chunk 0 records episode 0's replay
EVAL_CHUNK = f"{RESULTS}/evals/{{policy}}/{{mission}}/run{{run}}/chunk{{chunk}}.parquet"
EVAL_CHUNK_SIDECAR = f"{RESULTS}/evals/{{policy}}/{{mission}}/run{{run}}/chunk{{chunk}}.json"
EVAL = f"{RESULTS}/evals/{{policy}}/{{mission}}.parquet"
EVAL_SIDECAR = f"{RESULTS}/evals/{{policy}}/{{mission}}.json"
REPLAY_DIR = f"{RESULTS}/replays/{{policy}}/{{mission}}/run{{run}}"
REPLAY = f"{REPLAY_DIR}/episode_0000.npz"
REPLAY_GIF = f"{RESULTS}/replays/{{policy}}/{{mission}}.gif"

# comparison, power analysis, learning curves
COMPARISON_DIR = f"{RESULTS}/comparison"
LEADERBOARD = f"{COMPARISON_DIR}/leaderboard.parquet"
LEADERBOARD_CSV = f"{COMPARISON_DIR}/leaderboard.csv"
PAIRWISE = f"{COMPARISON_DIR}/pairwise.parquet"
PROFILES = f"{COMPARISON_DIR}/profiles.parquet"
COMPARISON_JSON = f"{COMPARISON_DIR}/comparison.json"
PLAN_DIR = f"{RESULTS}/plan"
PLAN = f"{PLAN_DIR}/plan.json"
PLAN_COMPONENTS = f"{PLAN_DIR}/components.parquet"
PLAN_PRECISION = f"{PLAN_DIR}/precision.parquet"
PLAN_POWER = f"{PLAN_DIR}/power.parquet"
CURVES_DIR = f"{RESULTS}/curves"
CURVE_RUN = f"{CURVES_DIR}/{{policy}}/seed{{seed}}.parquet"
CURVE_POLICY = f"{CURVES_DIR}/{{policy}}.parquet"
CURVES_SUMMARY = f"{CURVES_DIR}/summary.parquet"
FINAL_VS_BEST = f"{CURVES_DIR}/final_vs_best.parquet"

# value over replacement: scenario k of a candidate's training run, the shared k = 0 scenario, the result
VOR_SCENARIO = f"{RESULTS}/vor/{{candidate}}/{{mission}}/run{{run}}/k{{k}}.parquet"
VOR_SCENARIO_SIDECAR = f"{RESULTS}/vor/{{candidate}}/{{mission}}/run{{run}}/k{{k}}.json"
VOR_REPLACEMENT = f"{RESULTS}/vor/replacement/{{mission}}.parquet"
VOR_REPLACEMENT_SIDECAR = f"{RESULTS}/vor/replacement/{{mission}}.json"
VOR = f"{RESULTS}/vor/{{candidate}}.json"

# cross-play: cell A on k agents with B on the rest, one per pairing of A's run with B's run;
# per mission a table and the gaps
CROSSPLAY_CELL_DIR = f"{RESULTS}/crossplay/cells/{{mission}}/{{policy}}/{{partner}}/k{{k}}"
CROSSPLAY_CELL = f"{CROSSPLAY_CELL_DIR}/run{{run}}-{{partner_run}}.parquet"
CROSSPLAY_CELL_SIDECAR = f"{CROSSPLAY_CELL_DIR}/run{{run}}-{{partner_run}}.json"
CROSSPLAY = f"{RESULTS}/crossplay/{{mission}}.parquet"
CROSSPLAY_GAPS = f"{RESULTS}/crossplay/gaps/{{mission}}.parquet"

# population rankings: Nash averaging over policies x missions, α-Rank per cross-play mission
POPULATION_DIR = f"{RESULTS}/population"
NASH = f"{POPULATION_DIR}/nash.parquet"
ALPHARANK = f"{POPULATION_DIR}/alpharank/{{mission}}.parquet"

# mission analysis
ANALYSIS_DIR = f"{RESULTS}/analysis"
ANALYSIS = f"{ANALYSIS_DIR}/{{policy}}/{{mission}}.parquet"
ANALYSIS_SUMMARY = f"{ANALYSIS_DIR}/summary.parquet"
ANALYSIS_SUMMARY_CSV = f"{ANALYSIS_DIR}/summary.csv"
DIFFICULTY = f"{ANALYSIS_DIR}/difficulty.parquet"

# sweeps: a run is one trial x one training seed; tpe trials are asked and told
SWEEP_DIR = f"{RESULTS}/sweeps/{{sweep}}"
SWEEP_RUN_DIR = f"{SWEEP_DIR}/trials/{{trial}}/seed{{seed}}"
SWEEP_RUN = f"{SWEEP_RUN_DIR}/run.json"
SWEEP_PROPOSAL = f"{SWEEP_DIR}/trials/{{trial}}/proposal.json"
SWEEP_TOLD = f"{SWEEP_DIR}/trials/{{trial}}/told.json"
SWEEP_JOURNAL = f"{SWEEP_DIR}/optuna.journal"
SWEEP_TRIALS = f"{SWEEP_DIR}/trials.parquet"
SWEEP_TRIALS_CSV = f"{SWEEP_DIR}/trials.csv"
SWEEP_IMPORTANCE = f"{SWEEP_DIR}/importance.parquet"
SWEEP_SUMMARY = f"{SWEEP_DIR}/summary.json"
SWEEP_BEST = f"{SWEEP_DIR}/best.json"
SWEEP_TOP = f"{SWEEP_DIR}/top.parquet"
SWEEP_REEVALUATIONS = f"{SWEEP_DIR}/reevaluations.parquet"
SWEEP_BEST_MODEL = f"{SWEEP_DIR}/best/model.pt"
SWEEP_BEST_SIDECAR = f"{SWEEP_DIR}/best/model.json"
VARIANT = f"{RESULTS}/variants/{{variant}}.parquet"
VARIANT_CSV = f"{RESULTS}/variants/{{variant}}.csv"

REPORT = f"{RESULTS}/report/index.html"
LOGS_DIR = f"{RESULTS}/logs"
BENCHMARKS_DIR = f"{RESULTS}/benchmarks"


def logs(job: str) -> dict[str, str]:
    """A job's human-readable log and its JSON-lines log (`daf --log-json`)."""
    return {"text": f"{LOGS_DIR}/{job}.log", "json": f"{LOGS_DIR}/{job}.jsonl"}


def benchmark(job: str) -> str:
    """A job's Snakemake benchmark TSV (the report's resources section reads them)."""
    return f"{BENCHMARKS_DIR}/{job}.tsv"


def parent(path: str) -> str:
    """The directory of a declared file (a command that writes several files takes it)."""
    return str(PurePosixPath(path).parent)
