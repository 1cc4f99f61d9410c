"""The self-contained HTML report (jinja2, autoescaped; plots are inline SVG).

Everything the report shows is recomputed from the config and the result files, so
`snakemake report` (or deleting `results/report/` and rerunning) regenerates it
byte for byte: no timestamps, deterministic SVG ids.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from daf.config import config_hash, load_study
from daf.errors import UserError
from daf.io import git_commit, package_versions, read_parquets, write_text
from daf.missions import get_mission
from daf.stats import LEADERBOARD_COLUMNS


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("daf.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda x, digits=3: f"{x:.{digits}g}" if isinstance(x, float) else x
    env.filters["pct"] = lambda x: f"{100 * x:.0f}%"
    return env


def _svg(fig) -> Markup:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    # No <metadata> block (dates, RDF links): deterministic, and no URLs besides XML namespaces.
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata=no_metadata)
    plt.close(fig)
    text = buf.getvalue()
    return Markup(text[text.index("<svg") :])  # drop the XML prolog and doctype


def leaderboard_figure(board: pd.DataFrame, confidence: float) -> Markup:
    """One panel per mission: mean episode score per policy with its CI as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "daf-report"  # deterministic element ids
    missions = list(dict.fromkeys(board["mission"]))
    policies = sorted(board["policy"].unique())
    cols = min(3, len(missions))
    rows = -(-len(missions) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.45 * len(policies) * rows + 1.6 * rows), squeeze=False)
    for ax in axes.flat[len(missions) :]:
        ax.set_visible(False)
    for ax, mission in zip(axes.flat, missions):
        part = board[board["mission"] == mission].set_index("policy").reindex(policies).dropna(subset=["mean"])
        y = range(len(part))
        means = part["mean"].to_numpy()
        err = [means - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - means]
        ax.errorbar(means, y, xerr=err, fmt="o", capsize=3, color="#1f4e79")
        ax.set_yticks(list(y), list(part.index))
        ax.invert_yaxis()
        ax.set_title(mission, fontsize=10)
        ax.set_xlabel("mean reward per agent per episode")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Mean episode score with {confidence:.0%} bootstrap CI", fontsize=11)
    fig.tight_layout()
    return _svg(fig)


def read_benchmarks(directory: str | Path | None) -> list[dict]:
    """Snakemake `benchmark:` TSVs: seconds and peak memory per job.

    The report's own benchmark is left out: it describes the previous report build, and
    showing it would make a regenerated report differ from the first.
    """
    if not directory or not Path(directory).is_dir():
        return []
    rows = []
    for path in sorted(Path(directory).rglob("*.tsv")):
        if path.name == "report.tsv" and path.parent == Path(directory):
            continue
        with path.open() as handle:
            for record in csv.DictReader(handle, delimiter="\t"):
                rows.append(
                    {
                        "job": str(path.relative_to(directory).with_suffix("")),
                        "seconds": float(record.get("s", "nan")),
                        "max_rss_mb": float(record.get("max_rss", "nan") or "nan"),
                    }
                )
    return rows


def build_report(
    config_path: str,
    summary_path: str,
    eval_paths: list[str],
    out: str,
    benchmarks_dir: str | None = None,
    command: str = "snakemake -c2 report",
) -> None:
    study = load_study(config_path)
    if not Path(summary_path).is_file():
        raise UserError(f"summary table '{summary_path}' does not exist (the `summarize` rule makes it)")
    board = pd.read_parquet(summary_path)
    if list(board.columns) != LEADERBOARD_COLUMNS:
        raise UserError(f"'{summary_path}' is not a `daf summarize` table (columns {list(board.columns)})")
    evals = read_parquets(eval_paths)
    missions_table = [get_mission(m).summary() | {"id": mid} for mid, m in study.mission_by_id().items()]
    best = []
    for mission, part in board.groupby("mission", sort=False):
        top = part.sort_values(["mean", "policy"], ascending=[False, True]).iloc[0]
        runner = part.sort_values(["mean", "policy"], ascending=[False, True]).iloc[1:2]
        overlap = bool(len(runner)) and float(runner["ci_high"].iloc[0]) >= float(top["ci_low"])
        best.append({"mission": mission, "row": top.to_dict(), "clear": not overlap})
    per_episode = (
        evals.groupby(["mission", "policy"])
        .agg(episodes=("episode", "nunique"), agents=("agent", "nunique"))
        .reset_index()
        .to_dict("records")
    )
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=study.report.title,
            confidence=study.report.confidence,
            best=best,
            board=board.to_dict("records"),
            missions=list(dict.fromkeys(board["mission"])),
            figure=leaderboard_figure(board, study.report.confidence),
            missions_table=missions_table,
            policies=[
                {"name": n, "spec": study.policy_spec(n), "description": p.description}
                for n, p in study.policies.items()
            ],
            per_episode=per_episode,
            benchmarks=read_benchmarks(benchmarks_dir),
            provenance={
                "config_path": config_path,
                "config_hash": config_hash(study),
                "config_text": yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False),
                "git_commit": git_commit(Path(__file__).parent),  # the DAF code that made the report
                "versions": package_versions(),
                "seed": study.evaluation.seed,
                "episodes": study.evaluation.episodes,
                "command": command,
            },
        )
    )
    write_text(out, html)
