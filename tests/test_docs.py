"""The README is the front door and the site under docs/ is the documentation: the README
stays short and links every page of the site, and the site builds strictly (mkdocs fails on
a broken link or anchor), so a moved section cannot leave a dangling link behind.

The README checks need nothing but the files. The build checks need mkdocs, which the unit
env does not install: `tox -e docs` (in `tox -m ci`) builds the site and runs this file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 150

#: a Markdown link's target: [text](target)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
#: an entry of mkdocs.yml's nav, `  - Title: page.md` (the nav is flat)
NAV_ENTRY = re.compile(r"^  - [^:]+: (\S+\.md)$", re.MULTILINE)


def nav_pages() -> list[str]:
    """The pages mkdocs.yml's nav names, in order (read without YAML: .venv has no PyYAML)."""
    text = (ROOT / "mkdocs.yml").read_text()
    return NAV_ENTRY.findall(text[text.index("\nnav:\n") :])


def slug(heading: str) -> str:
    """The anchor mkdocs' toc extension gives a heading (its default slugify)."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, outside fenced code."""
    found, fence = set(), False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def readme_doc_links() -> list[str]:
    return [t for t in LINK.findall(README.read_text()) if t.startswith("docs/")]


def test_readme_is_at_most_150_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_docs_link_of_the_readme_resolves_to_a_page_of_the_site():
    links = readme_doc_links()
    assert links, "the README links into the site"
    pages = set(nav_pages())
    for target in links:
        path, _, anchor = target.removeprefix("docs/").partition("#")
        assert path in pages, f"README links {target}, which is not a page in mkdocs.yml's nav"
        assert (DOCS / path).is_file(), f"README links {target}, which does not exist"
        if anchor:
            assert anchor in anchors(DOCS / path), f"README links {target}: no such heading"


def test_the_readme_links_every_page_of_the_site():
    linked = {t.removeprefix("docs/").partition("#")[0] for t in readme_doc_links()}
    assert set(nav_pages()) - linked == set()


def test_every_page_of_the_nav_exists():
    assert len(nav_pages()) >= 13
    assert [p for p in nav_pages() if not (DOCS / p).is_file()] == []


def test_the_slug_is_mkdocs_own():
    assert slug("The survival horizon: how long `live-restore` protects") == (
        "the-survival-horizon-how-long-live-restore-protects"
    )
    assert "the-matrix-file" in anchors(DOCS / "configuration.md")


def strict_build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of the site under ``root``, as `tox -e docs` runs it."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed here: tox -e docs runs this")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    """A copy of the site's sources, to break."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs")
    return tmp_path


def test_the_site_builds_strictly(tmp_path: Path):
    res = strict_build(ROOT, tmp_path / "site")
    assert res.returncode == 0, res.stderr
    assert {p.removesuffix(".md") for p in nav_pages()} - {"index"} <= {
        p.name for p in (tmp_path / "site").iterdir()
    }


@pytest.mark.parametrize(
    ("link", "said"),
    [
        ("[gone](no-such-page.md)", "no-such-page.md"),
        ("[gone](configuration.md#no-such-heading)", "no-such-heading"),
    ],
)
def test_a_broken_link_fails_the_build(site_copy: Path, link: str, said: str):
    page = site_copy / "docs" / "engines.md"
    page.write_text(page.read_text() + f"\nSee {link}.\n")
    res = strict_build(site_copy, site_copy / "site")
    assert res.returncode != 0
    assert said in res.stderr


def test_the_readmes_test_command_is_the_one_ci_runs():
    """`.ci/run` must run the README's test command, not a cousin of it (-p 2 against -p 3)."""
    readme = (ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.startswith("./scripts/bootstrap --test"))
    assert command in (ROOT / ".ci" / "run").read_text()
