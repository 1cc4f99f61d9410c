"""DAF: reproducible training, evaluation, comparison and reporting for CoGames missions.

The package is layered one way; a package imports only those listed before it (a test,
tests/static/test_layers.py, enforces it):

    errors, io, limits, logs, paths, tracking, versions   base modules: no DAF imports
    missions     what is played: the mission registry and builders, mission sets and
                 shaping presets, the vectorised envs
    policies     what plays: policy specs, actors, the scripted baseline, trained networks
                 and their checkpoint files, the observation features a network needs
    config       the study config: pydantic sections, cross-section checks, loading, schema
    training     PPO (loop, rollout buffers, torch.distributed, launching)
    evaluation   seeded episodes, seats, replays, evaluation and merge jobs, checkpoint replays
    stats        statistics of evaluation tables: scores, aggregates, bootstrap, tests,
                 comparison, power analysis, curves, cross-play, VOR, population rankings,
                 mission analysis
    sweeps       hyperparameter sweeps (trials train and evaluate; selection uses stats)
    workflow     the study as the Snakemake rules see it: paths, inputs, params, flags
    report       the HTML report
    ops          operations: doctor, bundles, tournament submission and login, inspection,
                 cluster profiles
    api          the Python API (docs/api.md): evaluate, analyze, compare, gate, nash,
                 alpharank, train, sweep, doctor, Study; its names are importable from `daf` itself
    cli          the `daf` command: argument parsing and thin handlers calling the library
"""

from daf.versions import RULE_VERSIONS, __version__

API = ["Checkpoint", "Comparison", "DoctorResult", "GateResult", "MissionAnalysis", "Study", "SweepResult", "alpharank",
       "analyze", "compare", "doctor", "evaluate", "gate", "nash", "sweep", "train"]  # fmt: skip
__all__ = ["RULE_VERSIONS", "__version__", *API]


def __getattr__(name: str):
    """`daf.evaluate` etc. import daf.api (and torch, mettagrid) on first use, so that
    `import daf` and the `daf` command stay fast."""
    if name in API:
        import daf.api

        return getattr(daf.api, name)
    raise AttributeError(f"module 'daf' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
