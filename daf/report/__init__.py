"""The self-contained HTML report (jinja2, autoescaped; plots are inline SVG).

Everything the report shows is read from the config and the result files, so
`snakemake report` (or deleting `results/report/` and rerunning) regenerates it byte
for byte: no timestamps, deterministic SVG ids.

The pipeline, one module per step:

    readers.py   result files -> ReportInputs (DataFrames, parsed JSON)
    context.py   ReportInputs -> the template's variables (drawing the figures)
    figures.py   DataFrame -> SVG string, pure (no file I/O): the comparison, VOR, mission
                 analysis and variant plots, and the shared drawing helpers
    training_figures.py, sweep_figures.py  the training and sweep plots, alike
    heatmaps.py  the cross-play heat map (the cells of an HTML table)
    formatting.py  the template filters num, pct, pval
    templates/report.html.j2  the page skeleton; templates/sections/*.html.j2 one per section
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from daf.io import write_text
from daf.report.context import build_context
from daf.report.figures import (
    COLORS,
    leaderboard_figure,
    outcomes_figure,
    poi_figure,
    profile_figure,
    variants_figure,
    vor_figure,
)
from daf.report.formatting import num, pct, pval
from daf.report.heatmaps import crossplay_heatmap
from daf.report.readers import ReportInputs, comparison_inputs, read_benchmarks, read_inputs, train_run_label
from daf.report.sweep_figures import parallel_coordinates_figure, sweep_history_figure, sweep_objective_figure
from daf.report.training_figures import (
    mission_curves_figure,
    mission_reward_series,
    sample_efficiency_figure,
    training_figure,
)

__all__ = [
    "COLORS",
    "build_report",
    "comparison_inputs",
    "crossplay_heatmap",
    "leaderboard_figure",
    "mission_curves_figure",
    "mission_reward_series",
    "outcomes_figure",
    "parallel_coordinates_figure",
    "poi_figure",
    "profile_figure",
    "render_report",
    "read_benchmarks",
    "sample_efficiency_figure",
    "sweep_history_figure",
    "sweep_objective_figure",
    "train_run_label",
    "training_figure",
    "variants_figure",
    "vor_figure",
]


def build_report(
    config_path: str,
    comparison_dir: str,
    eval_paths: list[str],
    out: str,
    vor_paths: list[str] | None = None,
    analysis_dir: str | None = None,
    train_logs: list[str] | None = None,
    replays: list[str] | None = None,
    benchmarks_dir: str | None = None,
    command: str = "snakemake -c2 report",
    sweep_dirs: list[str] | None = None,
    variant_tables: list[str] | None = None,
    logs_dir: str | None = None,
    curve_tables: list[str] | None = None,
    plan_path: str | None = None,
    crossplay_tables: list[str] | None = None,
    crossplay_gap_tables: list[str] | None = None,
    nash_tables: list[str] | None = None,
    alpharank_tables: list[str] | None = None,
) -> None:
    """Write the study's report to `out`: read the results, build the context, render.

    Only the config, `comparison_dir` (leaderboard, pairwise and profiles parquet) and the
    evaluation tables are required; every other input adds its section.
    """
    inputs = read_inputs(
        config_path=config_path,
        comparison_dir=comparison_dir,
        eval_paths=eval_paths,
        vor_paths=vor_paths or [],
        analysis_dir=analysis_dir,
        train_logs=train_logs or [],
        replays=replays or [],
        benchmarks_dir=benchmarks_dir,
        command=command,
        sweep_dirs=sweep_dirs or [],
        variant_tables=variant_tables or [],
        logs_dir=logs_dir,
        curve_tables=curve_tables or [],
        plan_path=plan_path,
        crossplay_tables=crossplay_tables or [],
        crossplay_gap_tables=crossplay_gap_tables or [],
        nash_tables=nash_tables or [],
        alpharank_tables=alpharank_tables or [],
    )
    write_text(out, render_report(inputs))


def render_report(inputs: ReportInputs) -> str:
    """The report's HTML from its inputs (deterministic: same inputs, same bytes)."""
    return _environment().get_template("report.html.j2").render(**build_context(inputs))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("daf.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # A section renders exactly its file, final newline included: the sections are cut
        # from one page, and each `{% include %}` line's own newline is trimmed (trim_blocks).
        keep_trailing_newline=True,
    )
    env.filters["num"] = num
    env.filters["pct"] = pct
    env.filters["pval"] = pval
    return env
