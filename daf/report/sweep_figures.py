"""The report's sweep plots: objective per trial, parallel coordinates of the settings, and the
objective's history (SVG, as daf.report.figures).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from daf.report.figures import COLORS, pyplot, svg


def sweep_objective_figure(table: pd.DataFrame, spaces: dict, metric: str) -> Markup | None:
    """Objective vs each hyperparameter (completed trials; failed and pruned ones as marks on
    the axis), log-scaled where the search space is.

    table: a sweep's trials (columns status, objective, param.*). None without param.* columns.
    """
    params = [c for c in table.columns if c.startswith("param.")]
    if not params:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params), 3.2), squeeze=False)
    done = table[table["status"] == "completed"]
    others = table[table["status"] != "completed"]
    for ax, column in zip(axes.flat, params):
        name = column.removeprefix("param.")
        x_done, x_other = _axis_values(done[column], table[column]), _axis_values(others[column], table[column])
        ax.scatter(x_done, done["objective"], color=COLORS[0], s=22, label="completed")
        if len(others):
            floor = float(done["objective"].min()) if len(done) else 0.0
            marks = ["x" if st == "failed" else "v" for st in others["status"]]
            for x, mark in zip(x_other, marks):
                ax.scatter([x], [floor], marker=mark, color=COLORS[1], s=30)
        space = spaces.get(name)
        if space is not None and space.get("log"):
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlap
        if not pd.api.types.is_numeric_dtype(table[column]) or pd.api.types.is_bool_dtype(table[column]):
            labels = sorted(map(str, table[column].unique()))
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel(f"objective ({metric})")
    fig.suptitle("Objective vs each hyperparameter (× failed, ▼ pruned, drawn at the lowest score)", fontsize=10)
    fig.tight_layout()
    return svg(fig)


def _axis_values(values: pd.Series, everything: pd.Series) -> np.ndarray:
    """Numbers stay numbers; choices become positions 0..n-1 (sorted by their text)."""
    if pd.api.types.is_numeric_dtype(everything) and not pd.api.types.is_bool_dtype(everything):
        return values.to_numpy(dtype=np.float64)
    labels = sorted(map(str, everything.unique()))
    return np.array([labels.index(str(v)) for v in values], dtype=np.float64)


def parallel_coordinates_figure(table: pd.DataFrame, spaces: dict) -> Markup | None:
    """One line per completed trial across the hyperparameter axes (each scaled to 0..1,
    log where the space is), coloured by the objective; the last axis is the objective.

    table: a sweep's trials (columns status, objective, param.*). None with fewer than two
    completed trials or no param.* columns.
    """
    done = table[table["status"] == "completed"]
    params = [c for c in table.columns if c.startswith("param.")]
    if len(done) < 2 or not params:
        return None
    plt = pyplot()
    columns, ticks = [], []
    for column in params:
        x = _axis_values(done[column], table[column])
        full = _axis_values(table[column], table[column])
        space = spaces.get(column.removeprefix("param."), {})
        if space.get("log") and (full > 0).all():
            x, full = np.log10(x), np.log10(full)
        low, high = float(np.min(full)), float(np.max(full))
        columns.append((x - low) / (high - low) if high > low else np.full(len(x), 0.5))
        ticks.append(column.removeprefix("param."))
    y = done["objective"].to_numpy(dtype=np.float64)
    columns.append((y - y.min()) / np.ptp(y) if np.ptp(y) > 0 else np.full(len(y), 0.5))
    ticks.append("objective")
    data = np.stack(columns, axis=1)
    fig, ax = plt.subplots(figsize=(1.6 * len(ticks) + 2, 3.8))
    cmap = plt.get_cmap("viridis")
    shade = columns[-1]
    for row, c in sorted(zip(data, shade), key=lambda pair: pair[1]):  # best drawn last, on top
        ax.plot(range(len(ticks)), row, color=cmap(c), alpha=0.85, linewidth=1.4)
    ax.set_xticks(range(len(ticks)), ticks, rotation=20)
    ax.set_yticks([0, 1], ["low", "high"])
    for i in range(len(ticks)):
        ax.axvline(i, color="#999", linewidth=0.8)
    ax.set_title("Parallel coordinates of completed trials (colour: objective)", fontsize=10)
    fig.tight_layout()
    return svg(fig)


def sweep_history_figure(table: pd.DataFrame, direction: str, metric: str) -> Markup | None:
    """Objective by trial order with the best so far (how fast the search found it).

    table: a sweep's trials (columns status, objective, order); direction: "maximize" or
    "minimize". None with fewer than two completed trials.
    """
    done = table[table["status"] == "completed"].sort_values("order")
    if len(done) < 2:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    y = done["objective"].to_numpy(dtype=np.float64)
    best = np.maximum.accumulate(y) if direction == "maximize" else np.minimum.accumulate(y)
    ax.scatter(done["order"], y, color=COLORS[0], s=20, label="trial")
    ax.step(done["order"], best, where="post", color=COLORS[1], label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (in the order proposed)")
    ax.set_ylabel(f"objective ({metric})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Search history", fontsize=10)
    fig.tight_layout()
    return svg(fig)
