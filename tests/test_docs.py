"""The docs stand alone (issue 23, item 5): every relative link resolves inside the repository, the README's first
screen holds the three commands a newcomer needs, CITATION.cff is complete, and the Snakemake workflow catalog
finds the workflow where it looks while `snakemake` at the root still runs it."""
import re
import shlex

import pytest
import yaml

from workflow_helpers import ROOT, SMOKE, copy_workflow, job_counts, snakemake

DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")),
        "config/README.md", "results/README.md"]
FIRST_SCREEN = 40  # lines
TEST_COMMAND = 'pip install -e ".[test]" && pytest'  # what CI runs (.ci/run), word for word

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets and parentheses are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose_keep_headings(markdown), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _prose_keep_headings(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # a `# comment` in a code block is no heading


def _links(doc: str) -> list[str]:
    return LINK.findall(_prose((ROOT / doc).read_text()))


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_resolves_inside_the_repository(doc):
    source = ROOT / doc
    links = [t for t in _links(doc) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]  # http:, https:, mailto: ...
    for target in links:
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        assert resolved.is_relative_to(ROOT), f"{doc}: {target} points outside the repository"
        assert resolved.exists(), f"{doc}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved.read_text()), f"{doc}: {target}: no heading with that anchor"
    assert "../shared" not in (ROOT / doc).read_text(), f"{doc} refers to a folder outside the repository"


def test_the_link_check_sees_links():
    """The checker finds the README's links, including a broken one, so the test above can fail."""
    assert "docs/USAGE.md" in _links("README.md") and "#install" in _links("README.md")
    assert LINK.findall("see [a](../shared/x.md#y) and `[b](c)`") == ["../shared/x.md#y", "c"]
    assert LINK.findall(_prose("see `[b](c)` and\n```\n[d](e)\n```\n")) == []


def _config_readme_command(config: str) -> str:
    """The run command config/README.md's table gives for one of the shipped configs."""
    for row in (ROOT / "config/README.md").read_text().splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if cells and cells[0] == f"`{config}`":
            return cells[-1].strip("`")
    raise AssertionError(f"config/README.md has no row for {config}")


def _torch_pin() -> str:
    """The torch and torchvision versions CI installs before the package (.ci/run)."""
    words = shlex.split(next(line for line in (ROOT / ".ci/run").read_text().splitlines()
                             if "torch==" in line and not line.lstrip().startswith("#")))
    return " ".join(w for w in words if w.startswith(("torch==", "torchvision==")))


def test_the_readme_first_screen_holds_the_three_commands():
    """Demo (after the tested torch pin), tests and paper run, within the first 40 lines, as the configs' README
    and CI spell them."""
    lines = (ROOT / "README.md").read_text().splitlines()[:FIRST_SCREEN]
    screen = "\n".join(lines)
    demo = _config_readme_command("smoke.yaml")
    assert demo == "snakemake " + " ".join(SMOKE)  # the demo the tests run
    assert f"pip install -e . && {demo}" in lines
    assert TEST_COMMAND in lines
    assert _config_readme_command("config.yaml") in lines
    pin = f"pip install {_torch_pin()}"
    assert pin in lines and screen.index(pin) < screen.index("pip install -e ."), "install the tested torch first"


def test_citation_cff_is_complete():
    """CITATION.cff: Citation File Format 1.2.0's required keys, the licence, and the papers of the objectives and
    metrics (GAN, WGAN, WGAN-GP, FID, clean-fid, KID) as references with an arXiv identifier."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["title"] and cff["authors"]
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert cff["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()
    refs = {r["doi"].removeprefix("10.48550/arXiv."): r for r in cff["references"]}
    papers = {"1406.2661": "GAN", "1701.07875": "WGAN", "1704.00028": "WGAN-GP", "1706.08500": "FID",
              "2104.11222": "clean-fid", "1801.01401": "KID"}
    assert set(papers) <= set(refs), f"missing: {[papers[k] for k in set(papers) - set(refs)]}"
    for ref in refs.values():
        assert ref["type"] and ref["title"] and ref["authors"] and ref["year"]
    references_md = (ROOT / "docs/REFERENCES.md").read_text()
    assert all(f"arXiv:{arxiv}" in references_md for arxiv in refs), "docs/REFERENCES.md lists every cited paper"


def test_the_workflow_catalog_finds_the_workflow():
    """The catalog's generator looks for workflow/Snakefile once a workflow/ folder exists, .smk rule files,
    config/README.md and the usage file; the README must mention Snakemake and a workflow."""
    assert (ROOT / "workflow/Snakefile").is_file() and list((ROOT / "workflow/rules").glob("*.smk"))
    assert (ROOT / "config/README.md").is_file()
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["software-stack-deployment"] and usage["mandatory-flags"]["flags"]
    readme = (ROOT / "README.md").read_text().lower()
    assert "snakemake" in readme and "workflow" in readme


def test_the_catalog_entry_plans_what_the_root_snakefile_plans(tmp_path):
    """`snakemake -s workflow/Snakefile` (the catalog's and snakedeploy's entry) and `snakemake` at the root plan
    the same jobs: one definition, included, with the same default target."""
    workdir = copy_workflow(tmp_path)
    root = job_counts(snakemake(workdir, "-n", *SMOKE).stdout)
    entry = job_counts(snakemake(workdir, "-n", "-s", "workflow/Snakefile", *SMOKE).stdout)
    assert root.pop("all") == 1 and entry.pop("default") == 1
    assert root == entry and root["train"] > 0
