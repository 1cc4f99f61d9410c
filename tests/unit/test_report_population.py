"""The report's Population rankings section: context (ranking differences, α-Rank per mission x
split), template (escaped names, byte-identical reruns) and the readers' errors."""

from types import SimpleNamespace

import pandas as pd
import pytest

from daf.errors import UserError
from daf.report import _environment
from daf.report.context import population_context, ranking_difference
from daf.report.readers import read_tables
from daf.stats.population_tables import ALPHARANK_COLUMNS, NASH_COLUMNS

SCALE = "normalised (random = 0, baseline = 1)"


def _nash(rank_uniform=(2, 1, 3)) -> pd.DataFrame:
    """Three policies whose Nash ranks are 1, 2, 3; two missions, one with all the weight."""
    rows = [
        ("policy", "ppo", 0.8, 0.6, 0.9, 0.7, 1, rank_uniform[0], 3, 64),
        ("policy", "<b>sly</b>", 0.5, 0.3, 0.5, 0.9, 2, rank_uniform[1], 1, 64),
        ("policy", "random", 0.0, -0.1, 0.1, 0.0, 3, rank_uniform[2], 1, 64),
        ("mission", "cogs.small", 1.0, 0.5, 1.0, 0.5, 1, 1, 0, 32),
        ("mission", "cogs.tiny", 0.0, 0.0, 0.5, 0.5, 2, 1, 0, 32),
    ]
    frame = pd.DataFrame(rows, columns=NASH_COLUMNS[:10])
    return frame.assign(game_value=0.8, scale=SCALE)[NASH_COLUMNS]


def _alpharank(mission="cogs.small", split="half") -> pd.DataFrame:
    rows = [
        (mission, split, 2, "ppo", 0.7, 0.4, 0.9, 1, 7.4, 3, 16),
        (mission, split, 2, "baseline", 0.3, 0.1, 0.6, 2, 18.8, 1, 16),
        (mission, split, 2, "random", 0.0, 0.0, 0.0, 3, 0.3, 1, 16),
    ]
    frame = pd.DataFrame(rows, columns=ALPHARANK_COLUMNS[:11])
    return frame.assign(alpha=12.5, alpha_source="sweep", population_size=50, selection="population",
                        payoff="team")[ALPHARANK_COLUMNS]  # fmt: skip


def _inputs(nash: pd.DataFrame, ranked: pd.DataFrame):
    study = SimpleNamespace(compare=SimpleNamespace(confidence=0.95))
    return SimpleNamespace(study=study, nash=nash, alpharank=ranked)


def _render(context: dict) -> str:
    return _environment().get_template("sections/population.html.j2").render(confidence=0.95, **context)


def test_ranking_difference_names_each_policy_that_moves():
    policies = _nash()[lambda t: t["kind"] == "policy"]
    assert ranking_difference(policies) == [
        "ppo: rank 1 by Nash averaging, 2 by the mean over missions",
        "<b>sly</b>: rank 2 by Nash averaging, 1 by the mean over missions",
    ]
    assert ranking_difference(_nash((1, 2, 3))[lambda t: t["kind"] == "policy"]) == []


def test_population_section_renders_both_rankings():
    ranked = pd.concat([_alpharank(), _alpharank("cogs.tiny", "one")], ignore_index=True)
    context = population_context(_inputs(_nash(), ranked))
    nash = context["nash"]
    assert [r["name"] for r in nash["policies"]] == ["ppo", "<b>sly</b>", "random"]
    assert [r["name"] for r in nash["missions"]] == ["cogs.small", "cogs.tiny"]
    assert nash["value"] == 0.8 and nash["scale"] == SCALE and nash["figure"].startswith("<svg")
    assert [(a["mission"], a["split"]) for a in context["alpharank"]] == [("cogs.small", "half"), ("cogs.tiny", "one")]
    assert context["alpharank"][0]["top_by_self_play"] == "baseline"
    html = _render(context)
    assert '<h2 id="population">' in html and "game's value, 0.8," in html and SCALE in html
    assert "The Nash ranking differs from the mean over missions: ppo: rank 1" in html
    assert "&lt;b&gt;sly&lt;/b&gt;" in html and "<b>sly</b>" not in html  # names are escaped
    assert "The top policy by self-play (baseline) is not the top by α-Rank." in html
    assert "α = 12.5 (sweep), m = 50, selection: population, payoff: team." in html
    assert html.count("<h4>") == 2 and "cogs.tiny, split one (A on 2 agents)" in html
    assert html == _render(population_context(_inputs(_nash(), ranked)))  # byte-identical on a rerun
    agree = _render(population_context(_inputs(_nash((1, 2, 3)), pd.DataFrame())))
    assert "order the policies the same way" in agree and "α-Rank over cross-play" not in agree
    assert _render(population_context(_inputs(pd.DataFrame(), pd.DataFrame()))) == ""


def test_readers_name_the_rule_and_the_missing_columns(tmp_path):
    path = tmp_path / "nash.parquet"
    with pytest.raises(UserError, match=r"Nash-averaging table '.*nash.parquet' does not exist \(the `nash` rule"):
        read_tables([str(path)], "Nash-averaging table", NASH_COLUMNS, "nash")
    _nash().drop(columns="scale").to_parquet(path)
    with pytest.raises(UserError, match="is not a Nash-averaging table \\(it lacks columns scale\\)"):
        read_tables([str(path)], "Nash-averaging table", NASH_COLUMNS, "nash")
    assert read_tables([], "Nash-averaging table", NASH_COLUMNS, "nash").empty
