"""DAF's version and the rule versions: what a change to DAF's code reruns.

A base module (imports nothing of DAF), so every layer and the workflow can read it.
"""

__version__ = "0.1.0"

# What a change to DAF's code reruns. Every rule passes its family's number as a Snakemake
# param, so bumping one reruns exactly that family's jobs (and what depends on them); other
# code changes leave finished results alone. Mission games are covered separately: each
# mission's config fingerprint is a param of its jobs.
RULE_VERSIONS = {
    "train": 2,
    "evaluate": 2,
    "vor": 2,  # 2: scenarios per training run, VOR over every run (two-level CI)
    "compare": 4,  # 4: two-level success intervals for multi-run policies
    "analysis": 2,
    "render": 1,
    "report": 6,  # 6: population rankings (Nash averaging, α-Rank)
    "sweep": 2,
    "sweep_best": 3,  # its own number: choosing the best trial again must not retrain the trials
    "curves": 2,
    "plan": 2,  # 2: plan.json without Infinity (strict JSON)
    "crossplay": 1,
    "population": 1,
}
