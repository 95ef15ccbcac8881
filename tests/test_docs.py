"""The documentation holds together: every relative link in the README, docs/ and benchmarks/ points
to a file and heading that exist, the README stays a short guide without dated measurements, the
verdict rules have one source, and docs/development.md names every module of the package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md"))]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a link inside a code sample is not a link)."""
    lines, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if not in_code:
            lines.append(line)
    return lines


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated heading numbered -1, -2, ..."""
    anchors: set[str] = set()
    for line in _prose_lines(text):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file or heading does not exist, as 'target: why'."""
    problems = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked
                continue
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                problems.append(f"{target}: no file {linked}")
                continue
            if anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
                problems.append(f"{target}: no heading #{anchor} in {linked.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Where a run's time went\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\nGood: [a](other.md), [b](other.md#where-a-runs-time-went), [c](#page), [d](https://x.org/y).\n"
        "Bad: [e](missing.md), [f](other.md#no-such-heading).\n\n```\n[g](inside-code.md)\n```\n"
    )
    problems = broken_links(page)
    assert len(problems) == 2
    assert problems[0].startswith("missing.md: no file")
    assert problems[1] == "other.md#no-such-heading: no heading #no-such-heading in other.md"


def test_heading_anchors_follow_github():
    text = "# A\n## 2026-12-03 — quick study (`make ablation`)\n## Notes\n## Notes\n```\n# not a heading\n```\n"
    assert heading_anchors(text) == {"a", "2026-12-03--quick-study-make-ablation", "notes", "notes-1"}


def test_the_readme_is_a_short_guide_without_dated_measurements():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert DATE.findall(text) == [], "dated measurements belong in benchmarks/RESULTS.md or PERFORMANCE.md"


@pytest.mark.parametrize("study", sorted((ROOT / "experiments").rglob("*.yaml")), ids=lambda p: p.name)
def test_experiment_headers_say_how_to_run_not_what_was_found(study):
    header = [line for line in study.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert header, f"{study.name} has no header comment"
    assert not DATE.search("\n".join(header)), f"{study.name}: findings go to benchmarks/RESULTS.md"
    cites_readme = re.search(r"(?<!data/)README", "\n".join(header))
    assert not cites_readme, f"{study.name} cites the README; cite the docs/ page"


def test_the_verdict_rules_are_written_out_once():
    rule = re.compile(r"\|g\| >= 0\.8|p <= 0\.05, \|g\|")
    written = [p.name for p in PAGES if rule.search(p.read_text(encoding="utf-8"))]
    assert written == ["statistics.md"]


def test_development_names_every_module_in_its_layer_row():
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| (?:`([\w/]+)/`|(bottom)) \|(.*)$", line)
        if match:
            rows[match.group(1) or ""] = match.group(3)
    package = ROOT / "cyclegan"
    missing = []
    for module in sorted(package.rglob("*.py")):
        if module.name in ("__init__.py", "__main__.py"):
            continue
        layer = module.parent.relative_to(package).as_posix()
        layer = "" if layer == "." else layer
        if f"`{module.name}`" not in rows.get(layer, ""):
            missing.append(module.relative_to(ROOT).as_posix())
    assert missing == [], f"add these modules to the layer table of docs/development.md: {missing}"
