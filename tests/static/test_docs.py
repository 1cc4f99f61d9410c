"""The documentation: the generated config reference matches the model, every relative link
and #anchor resolves, and CI runs the README's test command. Fast: no study, no subprocess."""

import re
from pathlib import Path

import pytest
from helpers import REPO

from daf.cli import main
from daf.config.reference import BEGIN, END, generated_block, reference_markdown
from daf.versions import RULE_VERSIONS

DOCS = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    + [REPO / d / "README.md" for d in ("config", "profiles", "benchmarks")]
)

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: markup and punctuation dropped, lower case, spaces
    to hyphens (letters, digits, `_` and `-` stay)."""
    text, pos = "", 0
    for span in CODE_SPAN.finditer(heading):  # code keeps its text; inline HTML elsewhere is dropped
        text += re.sub(r"<[^>]+>", "", heading[pos : span.start()]) + span.group(2)
        pos = span.end()
    text += re.sub(r"<[^>]+>", "", heading[pos:])
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a markdown file; repeated headings get -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """'FILE:LINE: TARGET (why)' for each relative link of `path` that does not resolve."""
    problems = []
    cache: dict[Path, set[str]] = {}
    for number, line in prose_lines(path.read_text()):
        line = CODE_SPAN.sub(lambda m: "x" * len(m.group(0)), line)  # `[a](b)` in code is not a link
        for match in LINK.finditer(line):
            target = match.group(2)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, …
                continue
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(root)}:{number}: {target}"
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                problems.append(f"{where} (no such file)")
                continue
            if anchor:
                if resolved.is_dir() or resolved.suffix != ".md":
                    problems.append(f"{where} (an anchor into a file that is not markdown)")
                    continue
                if anchor not in cache.setdefault(resolved, anchors(resolved)):
                    problems.append(f"{where} (no heading with this anchor)")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc):
    assert doc.is_file()
    problems = broken_links(doc)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_link_check_catches_broken_files_and_anchors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A title\n\n## `daf evaluate` output\n\n## Same\n\n## Same\n")
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Top\n\n"
        "[ok](docs/a.md) [ok](docs/a.md#a-title) [ok](docs/a.md#daf-evaluate-output) [ok](#top)\n"
        "[ok](docs/a.md#same-1) [ok](https://example.com/x.md#nowhere) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#a-titel) ![img](docs/missing.png) [self](#bottom)\n"
    )
    assert broken_links(doc, tmp_path) == [
        "README.md:8: docs/b.md (no such file)",
        "README.md:8: docs/a.md#a-titel (no heading with this anchor)",
        "README.md:8: docs/missing.png (no such file)",
        "README.md:8: #bottom (no heading with this anchor)",
    ]


def test_slugs_follow_github():
    assert slug("Quick start (two commands)") == "quick-start-two-commands"
    assert slug("`policies.<name>.train`") == "policiesnametrain"
    assert (
        slug("Rule versions: what a change to DAF's code reruns") == "rule-versions-what-a-change-to-dafs-code-reruns"
    )
    assert slug("Training (`daf train`)") == "training-daf-train"


def test_config_reference_matches_the_model():
    committed = generated_block((REPO / "config/README.md").read_text(), "config/README.md")
    assert committed == reference_markdown(), "regenerate with `daf schema --reference config/README.md`"


def test_schema_reference_rewrites_only_the_block(tmp_path, capsys):
    doc = tmp_path / "README.md"
    doc.write_text(f"# Keys\n\nprose before\n\n{BEGIN}\nstale\n{END}\n\nprose after\n")
    assert main(["schema", "--reference", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Keys\n\nprose before\n\n" + BEGIN + "\n")
    assert text.endswith(END + "\n\nprose after\n")
    assert "stale" not in text and generated_block(text) == reference_markdown()
    assert main(["schema", "--reference", str(doc)]) == 0  # idempotent
    assert doc.read_text() == text
    assert "already up to date" in capsys.readouterr().out

    doc.write_text("# no markers\n")
    assert main(["schema", "--reference", str(doc)]) == 2
    assert "BEGIN GENERATED" in capsys.readouterr().err
    assert doc.read_text() == "# no markers\n"


def test_every_config_key_is_in_the_reference():
    text = reference_markdown()
    from daf.config.study import StudyConfig
    from daf.config.sweeps import SweepConfig
    from daf.config.training import PPOConfig, TrainConfig

    for model, prefix in [
        (StudyConfig, ""),
        (TrainConfig, "policies.<name>.train."),
        (PPOConfig, "policies.<name>.train.hyperparameters."),
        (SweepConfig, "sweeps.<name>."),
    ]:
        for name in model.model_fields:
            assert f"| `{prefix}{name}` |" in text


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    lines = readme.splitlines()
    command = lines[lines.index("# 2. install and run the test suite") + 1]
    assert command == (
        "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]' && .venv/bin/pytest"
    )
    ci = (REPO / ".ci/run").read_text().splitlines()
    assert command in ci
    assert command in (REPO / "docs/development.md").read_text().splitlines()
    # the default run leaves out the tests marked slow; CI runs them too, after the default run
    slow = [i for i, line in enumerate(ci) if line.startswith(".venv/bin/pytest -m slow ")]
    assert len(slow) == 1 and slow[0] > ci.index(command)


def test_every_rule_family_is_documented():
    text = (REPO / "docs/development.md").read_text()
    assert [family for family in RULE_VERSIONS if f"`{family}`" not in text] == []
