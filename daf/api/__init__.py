"""DAF from Python: the functions a notebook calls, running the same library code as the CLI.

    import daf
    table = daf.evaluate("baseline", "cogs.tiny", episodes=4)
    comparison = daf.compare(["random", "baseline"], ["cogs.tiny"], episodes=4)
    print(comparison.summary())

`daf.evaluate`, `daf.analyze`, `daf.compare`, `daf.gate`, `daf.nash`, `daf.alpharank`, `daf.train`,
`daf.sweep`, `daf.doctor` and `daf.Study` (a finished study's results as DataFrames) are importable from `daf` itself
(lazily: `import daf` stays cheap). docs/api.md documents them; its examples are doctests.

Layer: above ops, below cli (the CLI handlers call these functions); imports anything below.
"""

from daf.api.comparison import Comparison, compare, gate
from daf.api.evaluation import MissionAnalysis, analyze, evaluate
from daf.api.health import DoctorResult, doctor
from daf.api.population import alpharank, nash
from daf.api.study import Study
from daf.api.sweeps import SweepResult, sweep
from daf.api.training import Checkpoint, train
from daf.stats.gate import GateResult

__all__ = [
    "Checkpoint",
    "Comparison",
    "DoctorResult",
    "GateResult",
    "MissionAnalysis",
    "Study",
    "SweepResult",
    "alpharank",
    "analyze",
    "compare",
    "doctor",
    "evaluate",
    "gate",
    "nash",
    "sweep",
    "train",
]
