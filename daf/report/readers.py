"""Reading a study's result files for the report.

Each reader takes paths (as the `report` rule passes them) and returns DataFrames or the
parsed JSON, raising `UserError` with the rule that makes a missing file. `read_inputs`
reads everything one report needs, in one place, before any figure is drawn.
"""

from __future__ import annotations

import base64
import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from daf.config.load import load_study
from daf.config.study import StudyConfig
from daf.errors import UserError
from daf.io import git_commit, package_versions, read_parquets
from daf.report.formatting import num
from daf.stats.comparison import LEADERBOARD, PAIRWISE
from daf.stats.crossplay import GAP_TABLE_COLUMNS, TABLE_COLUMNS
from daf.stats.population_tables import ALPHARANK_COLUMNS, NASH_COLUMNS

SWEEP_FILES = ("trials.parquet", "importance.parquet", "summary.json", "best.json", "top.parquet")


@dataclass
class ReportInputs:
    """Everything a report shows, as read from the config and the result files."""

    config_path: str
    command: str  # the command line that regenerates the report
    study: StudyConfig
    board: pd.DataFrame  # leaderboard, columns daf.stats.comparison.LEADERBOARD
    pairwise: pd.DataFrame  # columns daf.stats.comparison.PAIRWISE
    profiles: pd.DataFrame  # mission, policy, tau, fraction, low, high
    analysis: pd.DataFrame  # mission-analysis summary, columns daf.stats.analysis.SUMMARY_COLUMNS
    difficulty: pd.DataFrame  # mission difficulty, one row per mission (empty without analysis)
    logs: dict[str, pd.DataFrame]  # run label -> training log
    log_paths: dict[str, str]  # run label -> its train_log.parquet
    sidecars: dict[str, dict | None]  # run label -> its checkpoint's model.json, None where absent
    evals: pd.DataFrame  # every evaluation table, one row per agent per episode
    curve_summary: pd.DataFrame  # `daf curves-summary` summary (empty without curves)
    final_vs_best: pd.DataFrame  # `daf curves-summary` final vs best checkpoint (empty without curves)
    plan: dict | None  # `daf plan` JSON
    vor: list[dict]  # `daf vor` JSONs
    replays: list[dict]  # {"policy", "mission", "src": a data: URL of the GIF}
    sweeps: list[dict]  # see read_sweep
    variants: list[tuple[str, pd.DataFrame]]  # (variant name, its table)
    crossplay: pd.DataFrame  # `daf crossplay` cells of every mission (empty without cross-play)
    crossplay_gaps: pd.DataFrame  # cross-play gaps of every mission (empty without cross-play)
    nash: pd.DataFrame  # `daf nash` table (empty without population.nash)
    alpharank: pd.DataFrame  # `daf alpharank` tables of every mission (empty without population.alpharank)
    benchmarks: list[dict]  # see read_benchmarks
    git_commit: str  # of the DAF code that made the report
    versions: dict[str, str]  # package -> version


def read_inputs(
    config_path: str,
    comparison_dir: str,
    eval_paths: list[str],
    vor_paths: list[str],
    analysis_dir: str | None,
    train_logs: list[str],
    replays: list[str],
    benchmarks_dir: str | None,
    command: str,
    sweep_dirs: list[str],
    variant_tables: list[str],
    logs_dir: str | None,
    curve_tables: list[str],
    plan_path: str | None,
    crossplay_tables: list[str],
    crossplay_gap_tables: list[str],
    nash_tables: list[str],
    alpharank_tables: list[str],
) -> ReportInputs:
    """Read every input of `daf.report.build_report` (same arguments; lists, not None)."""
    study = load_study(config_path)
    directory = Path(comparison_dir)
    board = read_table(directory, "leaderboard", LEADERBOARD)
    pairwise = read_table(directory, "pairwise", PAIRWISE)
    profiles = read_table(directory, "profiles", [])
    analysis, difficulty = read_analysis(analysis_dir)
    logs = read_train_logs(train_logs)
    log_paths = {train_run_label(path)[0]: path for path in train_logs}
    evals = read_parquets(eval_paths)
    curve_summary, final_vs_best = read_curves(curve_tables)
    plan = read_plan(plan_path)
    vor = read_vor(vor_paths)
    return ReportInputs(
        config_path=config_path,
        command=command,
        study=study,
        board=board,
        pairwise=pairwise,
        profiles=profiles,
        analysis=analysis,
        difficulty=difficulty,
        logs=logs,
        log_paths=log_paths,
        sidecars={label: read_sidecar(path) for label, path in sorted(log_paths.items())},
        evals=evals,
        curve_summary=curve_summary,
        final_vs_best=final_vs_best,
        plan=plan,
        vor=vor,
        replays=read_replays(replays),
        sweeps=[read_sweep(d) for d in sweep_dirs],
        variants=[read_variant(p) for p in variant_tables],
        crossplay=read_crossplay(crossplay_tables, "cross-play table", TABLE_COLUMNS),
        crossplay_gaps=read_crossplay(crossplay_gap_tables, "cross-play gap table", GAP_TABLE_COLUMNS),
        nash=read_tables(nash_tables, "Nash-averaging table", NASH_COLUMNS, "nash"),
        alpharank=read_tables(alpharank_tables, "α-Rank table", ALPHARANK_COLUMNS, "alpharank"),
        benchmarks=read_benchmarks(benchmarks_dir, logs_dir),
        git_commit=git_commit(Path(__file__).parent),  # the DAF code that made the report
        versions=package_versions(),
    )


def comparison_inputs(
    study: StudyConfig,
    config_path: str,
    command: str,
    board: pd.DataFrame,
    pairwise: pd.DataFrame,
    profiles: pd.DataFrame,
    evals: pd.DataFrame,
) -> ReportInputs:
    """The inputs of a report of a comparison alone (what `daf.compare(...).to_html` renders):
    the comparison tables and evaluations in memory, every other section empty."""
    analysis, difficulty = read_analysis(None)
    curve_summary, final_vs_best = read_curves([])
    return ReportInputs(
        config_path=config_path, command=command, study=study, board=board, pairwise=pairwise, profiles=profiles,
        analysis=analysis, difficulty=difficulty, logs={}, log_paths={}, sidecars={}, evals=evals,
        curve_summary=curve_summary, final_vs_best=final_vs_best, plan=None, vor=[], replays=[], sweeps=[],
        variants=[], crossplay=read_crossplay([], "cross-play table", TABLE_COLUMNS),
        crossplay_gaps=read_crossplay([], "cross-play gap table", GAP_TABLE_COLUMNS), nash=pd.DataFrame(),
        alpharank=pd.DataFrame(), benchmarks=[],
        git_commit=git_commit(Path(__file__).parent), versions=package_versions(),
    )  # fmt: skip


# --- comparison and analysis -----------------------------------------------------------------


def read_table(directory: Path, name: str, columns: list[str]) -> pd.DataFrame:
    """`directory/name.parquet` of `daf compare`, checked to have exactly `columns` (any when empty)."""
    path = directory / f"{name}.parquet"
    if not path.is_file():
        raise UserError(f"comparison table '{path}' does not exist (the `compare` rule / `daf compare` makes it)")
    table = pd.read_parquet(path)
    if columns and list(table.columns) != columns:
        raise UserError(f"'{path}' is not a `daf compare` {name} table (columns {list(table.columns)})")
    return table


def read_analysis(directory: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, difficulty) of the mission analysis; without a directory an empty summary
    (columns daf.stats.analysis.SUMMARY_COLUMNS) and an empty difficulty table."""
    from daf.stats.analysis import SUMMARY_COLUMNS

    if directory is None:
        return pd.DataFrame(columns=SUMMARY_COLUMNS), pd.DataFrame()
    summary = Path(directory) / "summary.parquet"
    if not summary.is_file():
        raise UserError(f"mission analysis '{summary}' does not exist (the `analysis_summary` rule makes it)")
    return pd.read_parquet(summary), pd.read_parquet(Path(directory) / "difficulty.parquet")


def read_vor(paths: list[str]) -> list[dict]:
    """The parsed `daf vor` JSON files, in the order given."""
    results = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"VOR result '{path}' does not exist (the `vor` rule / `daf vor` makes it)")
        results.append(json.loads(Path(path).read_text()))
    return results


def read_plan(path: str | None) -> dict | None:
    """The parsed `daf plan` JSON (its "summary" is a list of lines), None without a path."""
    if path is not None and not Path(path).is_file():
        raise UserError(f"plan '{path}' does not exist (the `plan` rule makes it)")
    return json.loads(Path(path).read_text()) if path else None


# --- training ----------------------------------------------------------------------------------


def train_run_label(path: str | Path) -> tuple[str, str]:
    """(label, policy) of a training log: results/checkpoints/{policy}/seed{seed}/train_log.parquet
    is 'policy seed{seed}'; a log directly in a policy's directory is just 'policy'."""
    parent = Path(path).parent
    if re.fullmatch(r"seed\d+", parent.name):
        return f"{parent.parent.name} {parent.name}", parent.parent.name
    return parent.name, parent.name


def read_train_logs(paths: list[str]) -> dict[str, pd.DataFrame]:
    """Run label (see `train_run_label`) -> its training log, one row per update."""
    logs = {}
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"training log '{path}' does not exist (the `train` rule makes it)")
        logs[train_run_label(path)[0]] = pd.read_parquet(path)
    return logs


def read_sidecar(log_path: str) -> dict | None:
    """The checkpoint sidecar (model.json) beside a training log, None where there is none."""
    sidecar_path = Path(log_path).parent / "model.json"
    return json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else None


def read_curves(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, final-vs-best) tables of `daf curves-summary`, empty when not given."""
    tables = {Path(p).stem: p for p in paths}
    out = []
    for name in ("summary", "final_vs_best"):
        path = tables.get(name)
        if paths and path is None:
            raise UserError(f"--curves lacks {name}.parquet (got {', '.join(paths)})")
        if path is not None and not Path(path).is_file():
            raise UserError(f"curve table '{path}' does not exist (the `curves_summary` rule makes it)")
        out.append(pd.read_parquet(path) if path else pd.DataFrame())
    return out[0], out[1]


def read_replays(paths: list[str]) -> list[dict]:
    """Replay GIFs (results/replays/{policy}/{mission}.gif), sorted by path, each
    {"policy", "mission", "src"} with the GIF inlined as a data: URL (the report is one file)."""
    replays = []
    for path in sorted(paths):
        file = Path(path)
        if not file.is_file():
            raise UserError(f"replay GIF '{path}' does not exist (the `render` rule makes it)")
        data = base64.b64encode(file.read_bytes()).decode()
        replays.append({"policy": file.parent.name, "mission": file.stem, "src": f"data:image/gif;base64,{data}"})
    return replays


# --- sweeps and variants -----------------------------------------------------------------------


def read_sweep(directory: str) -> dict:
    """A sweep's results (results/sweeps/{name}/): {"name": the directory's name, "trials":
    DataFrame (status, objective, order, param.*), "summary": dict, "importance": DataFrame,
    "best": dict, "top": DataFrame}."""
    path = Path(directory)
    for needed in SWEEP_FILES:
        if not (path / needed).is_file():
            raise UserError(f"sweep result '{path / needed}' does not exist (the sweep rules make it)")
    return {
        "name": path.name,
        "trials": pd.read_parquet(path / "trials.parquet"),
        "summary": json.loads((path / "summary.json").read_text()),
        "importance": pd.read_parquet(path / "importance.parquet"),
        "best": json.loads((path / "best.json").read_text()),
        "top": pd.read_parquet(path / "top.parquet"),
    }


def read_variant(path: str) -> tuple[str, pd.DataFrame]:
    """(name, table) of a `variants` table (results/variants/{name}.parquet)."""
    if not Path(path).is_file():
        raise UserError(f"variant table '{path}' does not exist (the `variants` rule makes it)")
    return Path(path).stem, pd.read_parquet(path)


def read_crossplay(paths: list[str], kind: str, columns: list[str]) -> pd.DataFrame:
    """The `crossplay` rule's tables (one per mission) as one table, in the order given,
    checked to have `columns` (and maybe more); empty without paths."""
    return read_tables(paths, kind, columns, "crossplay")


def read_tables(paths: list[str], kind: str, columns: list[str], rule: str) -> pd.DataFrame:
    """Tables of one kind (e.g. one per mission) as one table, in the order given, checked to
    have `columns` (and maybe more); empty without paths."""
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{kind} '{path}' does not exist (the `{rule}` rule makes it)")
        table = pd.read_parquet(path)
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise UserError(f"'{path}' is not a {kind} (it lacks columns {', '.join(missing)})")
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --- resources ---------------------------------------------------------------------------------


def read_benchmarks(directory: str | Path | None, logs_dir: str | Path | None = None) -> list[dict]:
    """Snakemake `benchmark:` TSVs: seconds and peak memory per job, joined with the job's
    structured log (`daf --log-json`): its status and key metrics.

    Returns rows {"job", "seconds", "max_rss_mb", "status", "metrics"} sorted by path; none
    without the directory. The report's own benchmark is left out: it describes the previous
    report build, and showing it would make a regenerated report differ from the first.
    """
    if not directory or not Path(directory).is_dir():
        return []
    from daf.logs import job_summaries

    logs = job_summaries(logs_dir) if logs_dir else {}
    rows = []
    for path in sorted(Path(directory).rglob("*.tsv")):
        if path.name == "report.tsv" and path.parent == Path(directory):
            continue
        job = str(path.relative_to(directory).with_suffix(""))
        with path.open() as handle:
            for record in csv.DictReader(handle, delimiter="\t"):
                rows.append(
                    {
                        "job": job,
                        "seconds": float(record.get("s", "nan")),
                        "max_rss_mb": float(record.get("max_rss", "nan") or "nan"),
                        **_log_fields(logs.get(job)),
                    }
                )
    return rows


def _log_fields(end: dict | None) -> dict:
    """A job's status and its key metrics as one line of text (its error where it failed)."""
    if end is None:
        return {"status": "", "metrics": ""}
    metrics = end.get("metrics") or {}

    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else num(v)
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v

    shown = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(metrics.items()) if v is not None)
    return {"status": end.get("status", ""), "metrics": shown or end.get("error", "")}
