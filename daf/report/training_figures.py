"""The report's training plots: training curves of every run, sample efficiency from the
periodic checkpoints' evaluations, and per-mission training rewards (SVG, as daf.report.figures).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from daf.report.figures import COLORS, pyplot, svg
from daf.stats.scores import ALL


def training_figure(logs: dict[str, pd.DataFrame]) -> Markup | None:
    """Per trained policy: episode reward (rolling mean with a 95% band), losses, entropy,
    explained variance and throughput against agent-steps.

    logs: run label -> its training log, one row per update; columns agent_steps,
    episode_reward (NaN in updates in which no episode ended), policy_loss, value_loss,
    entropy, explained_variance, sps. None when there are no logs.
    """
    if not logs:
        return None
    plt = pyplot()
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
    return svg(fig)


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
    plt = pyplot()
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
    return svg(fig)


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
    plt = pyplot()
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
    return svg(fig)
