# DAF workflow: config -> train (PPO policies) -> evaluate (policy x mission) -> compare, vor -> report.
# Every rule is one `daf ...` command; see workflow/rules/*.smk.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# Rules call `daf`: use the one installed beside the Python that runs Snakemake
# (a venv need not be activated; cluster jobs re-run this file and get the same PATH).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# A study is one config file: `--configfile my_study.yaml` replaces the default
# instead of being merged into it (Snakemake would otherwise merge policy maps).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/curves.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/vor.smk"
include: "workflow/rules/crossplay.smk"
include: "workflow/rules/population.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/report.smk"


# On a SLURM run, check the profile's partitions exist before anything is submitted. onstart
# runs after the DAG is built and before the first job (not in dry runs, not inside jobs).
onstart:
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        from daf.ops.cluster import check_slurm_partitions

        try:
            check_slurm_partitions(workflow.resource_settings)
        except UserError as exc:
            raise WorkflowError(str(exc)) from None


rule all:
    localrule: True  # cheap: runs where Snakemake runs, never on the cluster
    default_target: True
    input:
        paths.REPORT,
