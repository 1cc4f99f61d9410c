# Shared definitions: the validated study (pydantic, daf.config) and path helpers.
import logging
import re

# mettagrid adds a root log handler on import, which would print every Snakemake log line twice.
_root_handlers, _root_level = list(logging.root.handlers), logging.root.level
from daf.config import load_study, validate_study
from daf.errors import UserError
from daf.missions import get_mission, is_mission_file
from daf.policies import parse_spec

logging.root.handlers[:] = _root_handlers
logging.root.setLevel(_root_level)

STUDY_FILE = str(workflow.overwrite_configfiles[-1] if workflow.overwrite_configfiles else "config/config.yaml")

try:
    STUDY = validate_study(config, source=STUDY_FILE)  # fails before any job runs
    if validate_study(load_study(STUDY_FILE).model_dump(mode="json"), STUDY_FILE) != STUDY:
        logger.warning(
            f"--config overrides are in effect; the report's provenance shows {STUDY_FILE} as written. "
            "Put the study in a config file for an exact record."
        )
except UserError as exc:
    raise WorkflowError(str(exc)) from None

POLICIES = list(STUDY.policies)
MISSIONS = STUDY.mission_by_id()  # result-path id -> registry name or mission file
# Changing a mission's game (its MettaGridConfig) changes this hash and reruns exactly
# that mission's jobs; Snakemake's params trigger does the bookkeeping.
MISSION_SHA = {mid: get_mission(name).fingerprint() for mid, name in MISSIONS.items()}


wildcard_constraints:
    policy="|".join(map(re.escape, POLICIES)),
    mission="|".join(map(re.escape, MISSIONS)),


def eval_tables():
    return expand("results/evals/{policy}/{mission}.parquet", policy=POLICIES, mission=MISSIONS)


def evaluate_inputs(wildcards):
    """Files an evaluation reads: a mission file and a policy's weights (editing either reruns it).
    Registry missions and shorthand policies are code, not files."""
    name = MISSIONS[wildcards.mission]
    files = [name] if is_mission_file(name) else []
    data = parse_spec(STUDY.policies[wildcards.policy].spec).data_path
    return files + ([data] if data else [])
