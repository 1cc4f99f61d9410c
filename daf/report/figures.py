"""The report's plots: pure functions from tables to inline SVG (and one HTML-table heat map).

Every function takes DataFrames (or the already-parsed JSON of a result file) and returns
the figure as an SVG string (`Markup`, so the template embeds it unescaped), or None when
there is nothing to draw. No function reads or writes a file. Each docstring names the
columns its table must have; extra columns are ignored.

The SVG is deterministic: a fixed `svg.hashsalt` makes element ids a function of their
content, and the <metadata> block (creation date) is left out, so a regenerated report is
byte-identical to the first. The cross-play heat map is the contents of an HTML table (cell
texts, hover titles, colours) that its template renders: a cell's CI shows on hover, without
a script.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from markupsafe import Markup

from daf.report.formatting import num
from daf.stats import ALL

# Policy colours, assigned in sorted-policy order so a policy keeps its colour across figures.
COLORS = ["#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d08a1e", "#2c9fa5", "#7f7f7f", "#b5527f", "#4a6fa5", "#9c7a3c"]


def _pyplot():
    """matplotlib.pyplot on the headless Agg backend, imported on first use (it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "daf-report"  # deterministic element ids
    import matplotlib.pyplot as plt

    return plt


def _svg(fig) -> Markup:
    """The figure as an <svg> element (closing the figure)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    # No <metadata> block (dates, RDF links): deterministic, and no URLs besides XML namespaces.
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata=no_metadata)
    plt.close(fig)
    text = buf.getvalue()
    return Markup(text[text.index("<svg") :])  # drop the XML prolog and doctype


# --- comparison ----------------------------------------------------------------------------


def leaderboard_figure(board: pd.DataFrame, confidence: float, ylabel: str) -> Markup:
    """One panel per mission (and ALL): mean episode score per policy with its CI.

    board: the `daf compare` leaderboard, one row per (mission, policy); columns mission,
    policy, mean, ci_low, ci_high. Panels follow the missions' order in the table.
    """
    plt = _pyplot()
    missions = list(dict.fromkeys(board["mission"]))
    cols = min(3, len(missions))
    rows = -(-len(missions) // cols)
    n_policies = board["policy"].nunique()
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, (0.42 * n_policies + 1.4) * rows), squeeze=False)
    for ax in axes.flat[len(missions) :]:
        ax.set_visible(False)
    for ax, mission in zip(axes.flat, missions):
        part = board[board["mission"] == mission].sort_values("mean", ascending=False)
        y = range(len(part))
        means = part["mean"].to_numpy()
        err = [means - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - means]
        ax.errorbar(means, y, xerr=err, fmt="o", capsize=3, color=COLORS[0])
        ax.set_yticks(list(y), list(part["policy"]))
        ax.invert_yaxis()
        ax.set_title(mission if mission != ALL else f"ALL ({ylabel})", fontsize=10)
        ax.set_xlabel("mean reward per agent per episode" if mission != ALL else ylabel)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Mean episode score with {confidence:.0%} bootstrap CI", fontsize=11)
    fig.tight_layout()
    return _svg(fig)


def poi_figure(pairwise: pd.DataFrame, policies: list[str]) -> Markup | None:
    """Heat map of P(row > column) across missions (the ALL rows).

    pairwise: the `daf compare` pairwise table; columns mission, policy_a, policy_b, poi.
    policies: the matrix's rows and columns in order (every policy_a/policy_b must be one).
    None when the table has no ALL rows.
    """
    rows = pairwise[(pairwise["mission"] == ALL)].drop_duplicates(["policy_a", "policy_b"])
    if rows.empty:
        return None
    plt = _pyplot()
    n = len(policies)
    matrix = np.full((n, n), np.nan)
    index = {p: i for i, p in enumerate(policies)}
    for r in rows.itertuples():
        i, j = index[r.policy_a], index[r.policy_b]
        matrix[i, j], matrix[j, i] = r.poi, 1 - r.poi
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.2, 0.8 * n + 1.2))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="RdBu")
    for i in range(n):
        for j in range(n):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if abs(matrix[i, j] - 0.5) > 0.3 else "black")  # fmt: skip
    ax.set_xticks(range(n), policies, rotation=45, ha="right")
    ax.set_yticks(range(n), policies)
    ax.set_title("P(row policy scores higher than column policy), averaged over shared missions", fontsize=10)
    fig.colorbar(image, ax=ax, label="probability of improvement")
    fig.tight_layout()
    return _svg(fig)


def profile_figure(profiles: pd.DataFrame, normalized: bool) -> Markup | None:
    """Performance profiles over all missions: a line per policy with its CI band.

    profiles: the `daf compare` profiles table; columns mission, policy, tau, fraction,
    low, high (only the ALL rows are drawn). None when there are no ALL rows.
    """
    part = profiles[profiles["mission"] == ALL]
    if part.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for color, (policy, curve) in zip(COLORS * 10, part.groupby("policy", sort=True)):
        ax.plot(curve["tau"], curve["fraction"], label=policy, color=color)
        ax.fill_between(curve["tau"], curve["low"], curve["high"], color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("score threshold τ" + (" (normalised score)" if normalized else " (reward per agent)"))
    ax.set_ylabel("fraction of episodes with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Performance profiles over all missions, with bootstrap CI bands", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def vor_figure(results: list[dict], confidence: float) -> Markup | None:
    """VOR_k against k, a line per candidate x mission with its CI.

    results: parsed `daf vor` JSON files, each {"candidate": str, "missions": {mission:
    {"per_k": [{"k", "vor", "ci_low", "ci_high"}, ...]}}}. None when the list is empty.
    """
    if not results:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    offset = np.linspace(-0.12, 0.12, max(1, sum(len(r["missions"]) for r in results)))
    line = 0
    for result in results:
        for mission, data in result["missions"].items():
            ks = np.array([row["k"] for row in data["per_k"]], dtype=float)
            vors = np.array([row["vor"] for row in data["per_k"]])
            err = [vors - [row["ci_low"] for row in data["per_k"]], [row["ci_high"] for row in data["per_k"]] - vors]
            ax.errorbar(ks + offset[line], vors, yerr=err, fmt="o-", capsize=3, color=COLORS[line % len(COLORS)],
                        label=f"{result['candidate']} on {mission}")  # fmt: skip
            line += 1
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("k = agents the candidate controls")
    ax.set_ylabel("VOR_k (reward per agent over the replacement)")
    ax.set_title(f"VOR vs k, {confidence:.0%} bootstrap CI", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


# --- training --------------------------------------------------------------------------------


def training_figure(logs: dict[str, pd.DataFrame]) -> Markup | None:
    """Per trained policy: episode reward (rolling mean with a 95% band), losses, entropy,
    explained variance and throughput against agent-steps.

    logs: run label -> its training log, one row per update; columns agent_steps,
    episode_reward (NaN in updates in which no episode ended), policy_loss, value_loss,
    entropy, explained_variance, sps. None when there are no logs.
    """
    if not logs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for color, (policy, log) in zip(COLORS * 10, sorted(logs.items())):
        _plot_training_run(axes, color, policy, log)
    titles = [
        ("mean episode reward per agent", "reward per agent (rolling mean, 95% band)"),
        ("losses", "loss"),
        ("entropy and explained variance", "nats / fraction"),
        ("throughput", "agent-steps per second"),
    ]
    for ax, (title, ylabel) in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig)


def _plot_training_run(axes, color: str, policy: str, log: pd.DataFrame) -> None:
    """One run's lines on the four panels of `training_figure` (same columns)."""
    steps = log["agent_steps"].to_numpy()
    ended = log.dropna(subset=["episode_reward"])  # updates in which episodes ended
    reward, at = ended["episode_reward"], ended["agent_steps"].to_numpy()
    window = max(3, len(ended) // 15)
    mean = reward.rolling(window, min_periods=1).mean()
    spread = reward.rolling(window, min_periods=2).std()
    sem = (spread / np.sqrt(reward.rolling(window, min_periods=1).count())).fillna(0)  # 0 where one point
    axes[0].plot(at, reward, ".", color=color, alpha=0.35, markersize=4)
    axes[0].plot(at, mean, color=color, label=policy)
    axes[0].fill_between(at, mean - 1.96 * sem, mean + 1.96 * sem, color=color, alpha=0.2)
    axes[1].plot(steps, log["policy_loss"], color=color, label=f"{policy} policy")
    axes[1].plot(steps, log["value_loss"], color=color, linestyle="--", label=f"{policy} value")
    axes[2].plot(steps, log["entropy"], color=color, label=f"{policy} entropy")
    axes[2].plot(steps, log["explained_variance"], color=color, linestyle=":", label=f"{policy} expl. var.")
    axes[3].plot(steps, log["sps"], color=color, label=policy)


def sample_efficiency_figure(summary: pd.DataFrame, confidence: float) -> Markup | None:
    """One panel per mission (and ALL): score of the periodic checkpoints against agent-steps,
    a line per policy with a CI band over training runs (rliable's sample-efficiency curve:
    the mean per mission, the IQM of normalised scores for ALL).

    summary: the `daf curves-summary` table, one row per (mission, policy, agent_steps);
    columns mission, policy, agent_steps, runs, mean, ci_low, ci_high and, on ALL rows,
    iqm, iqm_low, iqm_high. None when the table is empty.
    """
    if summary.empty:
        return None
    plt = _pyplot()
    missions = sorted(m for m in summary["mission"].unique() if m != ALL) + (
        [ALL] if (summary["mission"] == ALL).any() else []
    )
    cols = min(4, len(missions))
    rows = -(-len(missions) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows), squeeze=False)
    for ax, mission in zip(axes.flat, missions):
        key, low, high = ("iqm", "iqm_low", "iqm_high") if mission == ALL else ("mean", "ci_low", "ci_high")
        part = summary[summary["mission"] == mission]
        for color, (policy, line) in zip(COLORS * 10, part.groupby("policy", sort=True)):
            line = line.sort_values("agent_steps")
            runs = int(line["runs"].max())
            ax.plot(line["agent_steps"], line[key], "o-", color=color, markersize=3, label=f"{policy} ({runs} runs)")
            ax.fill_between(line["agent_steps"], line[low], line[high], color=color, alpha=0.2)
        ax.set_title("ALL (normalised IQM)" if mission == ALL else mission, fontsize=10)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel("normalised score" if mission == ALL else "mean reward per agent")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(missions) :]:
        ax.axis("off")
    fig.suptitle(f"Sample efficiency: periodic checkpoints, {confidence:.0%} CI over training runs", fontsize=11)
    fig.tight_layout()
    return _svg(fig)


def mission_reward_series(log: pd.DataFrame, missions: list[str]) -> dict[str, pd.DataFrame]:
    """Mission -> (agent_steps, episode_reward) of the updates in which its episodes ended:
    `episode_reward/<mission>` columns of a multi-mission run, `episode_reward` otherwise.

    log: a training log; columns agent_steps and episode_reward (one training mission) or
    episode_reward/<mission> per mission. A mission without its column is left out.
    Returns frames with columns agent_steps, reward.
    """
    out = {}
    for mission in missions:
        column = f"episode_reward/{mission}" if len(missions) > 1 else "episode_reward"
        if column in log:
            ended = log.dropna(subset=[column])
            out[mission] = pd.DataFrame({"agent_steps": ended["agent_steps"], "reward": ended[column]})
    return out


def mission_curves_figure(logs: dict[str, pd.DataFrame], trained_on: dict[str, list[str]]) -> Markup | None:
    """One panel per training mission: each policy's episode reward on it (the mission's
    own reward, shaping excluded) against agent-steps, rolling mean.

    logs: run label -> training log (columns as `mission_reward_series` reads them).
    trained_on: run label -> the mission ids it trained on. None when no log has a reward
    column for any of its missions.
    """
    series = {p: mission_reward_series(log, trained_on.get(p, [])) for p, log in logs.items()}
    missions = sorted({m for per in series.values() for m in per})
    if not missions:
        return None
    plt = _pyplot()
    cols = min(4, len(missions))
    rows = -(-len(missions) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows), squeeze=False)
    for ax, mission in zip(axes.flat, missions):
        for color, policy in zip(COLORS * 10, sorted(series)):
            data = series[policy].get(mission)
            if data is None or data.empty:
                continue
            window = max(3, len(data) // 15)
            ax.plot(data["agent_steps"], data["reward"], ".", color=color, alpha=0.3, markersize=3)
            ax.plot(data["agent_steps"], data["reward"].rolling(window, min_periods=1).mean(), color=color,
                    label=policy)  # fmt: skip
        ax.set_title(mission, fontsize=10)
        ax.set_xlabel("agent-steps")
        ax.set_ylabel("episode reward per agent")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(missions) :]:
        ax.axis("off")
    fig.tight_layout()
    return _svg(fig)


# --- mission analysis ----------------------------------------------------------------------


def outcomes_figure(summary: pd.DataFrame) -> Markup | None:
    """Stacked bars: fraction of episodes per outcome, for every policy x mission.

    summary: the mission-analysis summary, one row per (policy, mission), drawn in table
    order; columns policy, mission and <outcome>_fraction for each of
    `daf.analysis.OUTCOMES`. None when the table is empty.
    """
    from daf.analysis import OUTCOMES

    if summary.empty:
        return None
    plt = _pyplot()
    labels = [f"{r.policy} · {r.mission}" for r in summary.itertuples()]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(labels) + 1.2))
    left = np.zeros(len(summary))
    colors = {"success": "#4f8a3c", "stuck": "#7f7f7f", "resource_starved": "#d08a1e", "no_reward": "#c0504d",
              "timeout": "#4a6fa5"}  # fmt: skip
    for outcome in OUTCOMES:
        values = summary[f"{outcome}_fraction"].to_numpy()
        ax.barh(labels, values, left=left, color=colors[outcome], label=outcome.replace("_", " "))
        left += values
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("fraction of episodes")
    ax.set_title("Episode outcomes per policy and mission", fontsize=10)
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.4 / max(1, len(labels) ** 0.5)))
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return _svg(fig)


# --- sweeps and variants ------------------------------------------------------------------
# A sweep's trials table has one row per trial; columns status ("completed", "failed",
# "pruned"), objective, order (the order proposed) and param.<name> per hyperparameter.
# spaces: hyperparameter name -> its search space as a dict ({"log": True, ...}).


def sweep_objective_figure(table: pd.DataFrame, spaces: dict, metric: str) -> Markup | None:
    """Objective vs each hyperparameter (completed trials; failed and pruned ones as marks on
    the axis), log-scaled where the search space is.

    table: a sweep's trials (columns status, objective, param.*). None without param.* columns.
    """
    params = [c for c in table.columns if c.startswith("param.")]
    if not params:
        return None
    plt = _pyplot()
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
    return _svg(fig)


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
    plt = _pyplot()
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
    return _svg(fig)


def sweep_history_figure(table: pd.DataFrame, direction: str, metric: str) -> Markup | None:
    """Objective by trial order with the best so far (how fast the search found it).

    table: a sweep's trials (columns status, objective, order); direction: "maximize" or
    "minimize". None with fewer than two completed trials.
    """
    done = table[table["status"] == "completed"].sort_values("order")
    if len(done) < 2:
        return None
    plt = _pyplot()
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
    return _svg(fig)


def variants_figure(table: pd.DataFrame, confidence: float) -> Markup:
    """Mean score per mission variant, a line per policy, with CIs.

    table: a `variants` table, one row per (policy, mission); columns policy, mission, mean,
    ci_low, ci_high. Variants are categories on the x axis, in the table's order.
    """
    plt = _pyplot()
    missions = list(dict.fromkeys(table["mission"]))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(missions) + 2), 3.8))
    policies = sorted(table["policy"].unique())
    offsets = np.linspace(-0.12, 0.12, len(policies)) if len(policies) > 1 else [0.0]
    for color, offset, policy in zip(COLORS * 10, offsets, policies):
        part = table[table["policy"] == policy].set_index("mission").reindex(missions)
        x = np.arange(len(missions)) + offset
        mean = part["mean"].to_numpy(dtype=np.float64)
        err = [mean - part["ci_low"].to_numpy(dtype=np.float64), part["ci_high"].to_numpy(dtype=np.float64) - mean]
        ax.errorbar(x, mean, yerr=err, fmt="o", capsize=3, color=color, label=policy)  # variants are categories
    ax.set_xticks(range(len(missions)), missions, rotation=20)
    ax.set_ylabel("mean reward per agent per episode")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Across mission variants, {confidence:.0%} bootstrap CI", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


# --- cross-play ----------------------------------------------------------------------------

HEAT_SCALE = ("#f7fbff", "#6baed6", "#08306b")  # sequential, lowest to highest (ColorBrewer Blues)
SKIPPED_STYLE = "background:#d9d9d9;color:#555555"  # a cell not played: grey, off the scale
DARK_TEXT, LIGHT_TEXT = "#1b1b1b", "#ffffff"


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def heat_color(value: float, low: float, high: float, scale: tuple[str, ...] = HEAT_SCALE) -> str:
    """The background of `value` on the sequential `scale`: `low` gets its first colour, `high`
    its last, linear in RGB between the stops (values outside are clipped); the middle of the
    scale when low == high, so one played cell is not mistaken for an extreme."""
    t = 0.5 if not high > low else min(1.0, max(0.0, (value - low) / (high - low)))
    position = t * (len(scale) - 1)
    i = min(int(position), len(scale) - 2)
    start, end, f = _rgb(scale[i]), _rgb(scale[i + 1]), position - i
    return "#" + "".join(f"{round(s + (e - s) * f):02x}" for s, e in zip(start, end))


def _luminance(color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in _rgb(color))]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(background: str) -> str:
    """The page's dark text or white, whichever has the higher WCAG contrast on `background`
    (white on the dark end of the scale)."""
    bg, dark = _luminance(background), _luminance(DARK_TEXT)
    return LIGHT_TEXT if 1.05 / (bg + 0.05) > (bg + 0.05) / (dark + 0.05) else DARK_TEXT


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _cell_title(r: dict) -> str:
    """A played cell's hover text: score, CI, sample sizes and each side's own mean."""
    a, b = r["policy_a"], r["policy_b"]
    score = (f"{num(r['team_mean'])} [{num(r['team_ci_low'])}, {num(r['team_ci_high'])}] team reward per agent, "
             f"{_plural(int(r['episodes']), 'episode')} x {_plural(int(r['runs']), 'run')}")  # fmt: skip
    if a == b:
        return f"{a} self-play (all {r['num_agents']} agents): {score}"
    return f"{a} with {b} ({_seats(r)}): {score}; {a}'s agents {num(r['a_mean'])}, {b}'s {num(r['b_mean'])}"


def _seats(r: dict) -> str:
    """'half: 2 of 4 agents' (a numeric split is just the count: '3 of 4 agents')."""
    split = str(r["split"])
    seats = f"{r['agents_a']} of {r['num_agents']} agents"
    return seats if split.isdigit() else f"{split}: {seats}"


def _note(r: dict) -> str:
    """Why a cell was skipped ('' when it was played; a missing note reads as '')."""
    note = r.get("note")
    return note if isinstance(note, str) else ""


def _played(r: dict) -> bool:
    return not _note(r) and not pd.isna(r["team_mean"])


def crossplay_heatmap(cells: pd.DataFrame) -> dict:
    """The cross-play matrix of one mission x split, as the contents of an HTML table.

    Rows are the row policy A (on `agents_a` agents), columns its partner B (the rest); a cell
    shows the team's mean reward per agent, its background on `HEAT_SCALE` from the lowest to
    the highest played cell of this matrix, its `title` (hover) the CI, episodes x runs and
    each side's own mean. The diagonal (self-play) has css "self"; a cell that was skipped
    (a note) or is absent from the table is grey (`SKIPPED_STYLE`), css "skipped", its title
    the note.

    cells: the cross-play table's rows of one mission and split; columns policy_a, policy_b,
    split, agents_a, num_agents, episodes, runs, team_mean, team_ci_low, team_ci_high, a_mean,
    b_mean, note. Policies are ordered by first appearance (the table follows the config's
    order); a duplicated (A, B) keeps its first row.

    Returns {"split", "agents_a" (A's agents off the diagonal), "num_agents", "columns": [B],
    "rows": [{"policy": A, "cells": [{"text", "title", "style", "css"}]}], "low", "high" (the
    scale's ends, NaN when nothing was played), "low_style", "high_style" (their cells'
    style, None when nothing was played)}.
    """
    records = cells.to_dict("records")
    by_pair = {}
    for r in records:
        by_pair.setdefault((r["policy_a"], r["policy_b"]), r)
    order = list(dict.fromkeys([r["policy_a"] for r in records] + [r["policy_b"] for r in records]))
    row_policies = [p for p in order if p in {r["policy_a"] for r in records}]
    columns = [p for p in order if p in {r["policy_b"] for r in records}]
    played = [r["team_mean"] for r in records if _played(r)]
    low, high = (min(played), max(played)) if played else (float("nan"), float("nan"))
    mixed = [r for r in records if r["policy_a"] != r["policy_b"]] or records
    split = str(records[0]["split"]) if records else ""

    def style(value: float) -> str:
        background = heat_color(value, low, high)
        return f"background:{background};color:{text_color(background)}"

    def cell(a: str, b: str) -> dict:
        r = by_pair.get((a, b))
        if r is not None and _played(r):
            css = "self" if a == b else ""
            return {"text": num(r["team_mean"]), "title": _cell_title(r), "style": style(r["team_mean"]), "css": css}
        who = f"{a} self-play" if a == b else f"{a} with {b} ({split if r is None else _seats(r)})"
        why = "not in the cross-play table" if r is None else f"skipped: {_note(r) or 'not played'}"
        css = "self skipped" if a == b else "skipped"
        return {"text": num(None), "title": f"{who}: {why}", "style": SKIPPED_STYLE, "css": css}

    return {
        "split": split,
        "agents_a": int(mixed[0]["agents_a"]) if records else 0,
        "num_agents": int(records[0]["num_agents"]) if records else 0,
        "columns": columns,
        "rows": [{"policy": a, "cells": [cell(a, b) for b in columns]} for a in row_policies],
        "low": low,
        "high": high,
        "low_style": style(low) if played else None,
        "high_style": style(high) if played else None,
    }
