"""The study config: the pydantic models of every section (the single source of the JSON
schema and of config/README.md), the cross-section checks, loading and hashing.

Modules: base (strict models, path-safe names, mission names), training (PPO and `train:`),
sweeps (`sweeps:`), sections (the other sections), study (StudyConfig: the whole file, its
cross-section checks and the queries the workflow asks), load (YAML -> StudyConfig, one-line
errors, schema, hash), errors (formatting pydantic's errors), reference (config/README.md).

May import: the base modules, missions, policies (the checks resolve mission and policy names).
DAF's own modules import from the module that owns a name; the names below are for users.
"""

from daf.config.load import config_hash, json_schema, load_study, validate_study
from daf.config.study import StudyConfig
from daf.config.sweeps import SweepConfig
from daf.config.training import PPOConfig, TrainConfig

__all__ = ["PPOConfig", "StudyConfig", "SweepConfig", "TrainConfig", "config_hash", "json_schema", "load_study",
           "validate_study"]  # fmt: skip
