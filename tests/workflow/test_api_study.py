"""The Python API on a finished study: docs/api.md's examples run as doctests (their numbers
are what the runs give), and `daf.Study` reads the study's own files."""

import doctest

import pandas as pd
import pytest
from workflow_runs import REPO, build_study

import daf
from daf.errors import UserError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return build_study(tmp_path_factory)


def test_api_doc_examples_run(study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `daf.doctor()` checks the free disk under ./results
    result = doctest.testfile(
        str(REPO / "docs/api.md"), module_relative=False, globs={"tmp": tmp_path, "study_dir": study, "pd": pd},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False, report=True,
    )  # fmt: skip
    assert result.attempted >= 30
    assert result.failed == 0, f"{result.failed} of docs/api.md's examples failed (the doctest output above says which)"


def test_study_tables_are_the_files_the_rules_wrote(study):
    s = daf.Study(study / "results")  # results/ itself works too
    assert s.root == study
    assert s.missions == sorted(p.stem for p in (study / "results/evals/random").glob("*.parquet"))
    merged = pd.read_parquet(study / "results/evals/random/cogs.tiny.parquet")
    pd.testing.assert_frame_equal(s.evals("random", "cogs.tiny"), merged)
    assert set(s.evals(mission="cogs.tiny")["policy"]) == set(s.policies)
    chunks = s.provenance[(s.provenance["policy"] == "ppo_a") & (s.provenance["mission"] == "cogs.tiny")]
    assert sorted(chunks["run"].unique()) == [0, 1] and chunks["mission_sha256"].str.len().eq(64).all()
    pd.testing.assert_frame_equal(s.pairwise, pd.read_parquet(study / "results/comparison/pairwise.parquet"))


def test_study_errors_name_the_file_and_the_section(study, tmp_path):
    with pytest.raises(UserError, match="is not a study directory: it has no results/"):
        daf.Study(tmp_path)
    s = daf.Study(study)
    with pytest.raises(UserError, match=r"no 'results/crossplay/nowhere.parquet' \(the config's `crossplay` section"):
        s.crossplay("nowhere")
    with pytest.raises(UserError, match="no evaluation of ghost; evaluated policies: baseline, ppo_a, ppo_b, random"):
        s.evals("ghost")
    with pytest.raises(UserError, match="this study has no sweep 'lr'; its sweeps: none"):
        s.sweep("lr")


def test_sweep_errors_before_running(tmp_path):
    config = {"policies": {"random": {"spec": "random"}}, "missions": ["cogs.tiny"]}
    with pytest.raises(UserError, match="defines no sweeps"):
        daf.sweep(config, directory=tmp_path)
    with pytest.raises(UserError, match="invalid config the sweep config: "):
        daf.sweep({"policies": {}, "missions": ["nowhere"]}, directory=tmp_path)


def test_example_notebook_runs(study, monkeypatch, tmp_path):
    """examples/study.ipynb executes top to bottom on the finished tiny study (outputs are not
    committed: the test runs it in memory)."""
    import nbformat
    from nbclient import NotebookClient

    path = REPO / "examples/study.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "strip outputs"
    monkeypatch.setenv("DAF_STUDY", str(study))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend returns the figures
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "leader baseline over random" in text and "gate PASS: baseline vs random" in text
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the leaderboard and the learning curve
