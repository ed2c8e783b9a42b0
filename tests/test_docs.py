"""The documentation site builds with warnings as errors, and documents every public name."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import griffe
import pytest

import smspartner_async
import smspartner_async.testing

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = [("smspartner_async", name) for name in smspartner_async.__all__] + [
    ("smspartner_async.testing", name) for name in smspartner_async.testing.__all__
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once by ``mkdocs build --strict`` (any warning fails the build)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner, not a warning
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, f"mkdocs build failed:\n{build.stdout}\n{build.stderr}"
    return out


def test_the_site_builds_strictly(site: Path) -> None:
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert {"index.html", "quickstart.html", "reference/api.html", "reference/testing.html"} <= (
        pages
    )
    assert len([p for p in pages if p.startswith("guides/")]) == 9


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_every_public_name_is_in_the_reference(site: Path, module: str, name: str) -> None:
    page = "api.html" if module == "smspartner_async" else "testing.html"
    html = (site / "reference" / page).read_text(encoding="utf-8")
    assert f'id="{module}.{name}"' in html


def test_the_reference_renders_markdown_not_rest(site: Path) -> None:
    for page in ("api.html", "testing.html"):
        html = (site / "reference" / page).read_text(encoding="utf-8")
        # Sphinx roles and bare doctest prompts would show up as literal text or blockquotes.
        assert not re.search(r":(class|meth|func|attr|data):", html), page
        assert "<blockquote>" not in html, page
        assert "doctest:" not in html, page


def python_blocks(path: Path) -> list[str]:
    """The fenced ``python`` blocks of a Markdown file, as written."""
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_testing_example_passes_under_pytest(tmp_path: Path) -> None:
    [example] = [b for b in python_blocks(ROOT / "README.md") if "smspartner_emulator" in b]
    (tmp_path / "test_readme_example.py").write_text(example)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\b\d+ passed", done.stdout), done.stdout  # run, not skipped
    assert "skipped" not in done.stdout


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


MODELS = [name for name in smspartner_async.__all__ if attrs.has(getattr(smspartner_async, name))]


@pytest.mark.parametrize("name", MODELS)
def test_the_reference_shows_each_field_of_a_model_with_type_and_meaning(
    site: Path, packages: dict[str, griffe.Module], name: str
) -> None:
    html = (site / "reference" / "api.html").read_text(encoding="utf-8")
    model = packages["smspartner_async"][name]
    model = model.final_target if isinstance(model, griffe.Alias) else model
    for field in attrs.fields(getattr(smspartner_async, name)):
        anchor = f'id="smspartner_async.{name}.{field.name}"'
        assert anchor in html, f"{name}.{field.name} is not in the reference"
        entry = _text(html[html.index(anchor) :])[:600]
        assert f" {field.name} : " in entry, f"{name}.{field.name}: no type shown"
        docstring = model.members[field.name].docstring
        assert docstring is not None, f"{name}.{field.name} has no meaning"
        words = " ".join(re.sub(r"[`*]", "", docstring.value).split()[:2])
        assert words in entry, f"{name}.{field.name}: {words!r} not shown"


def test_the_reference_shows_public_types_and_one_signature(site: Path) -> None:
    text = _text((site / "reference" / "api.html").read_text(encoding="utf-8"))
    assert "FetchPage" not in text  # the paginator's private alias
    for alias in ("BulkItems", "ProgressCallback", "ResultCallback"):
        assert alias not in text
    assert "= ..." not in text  # overloads, shown with their `...` defaults
    assert len(re.findall(r"bulk_add_credit \( self", text)) <= 1


@pytest.fixture(scope="module")
def packages() -> dict[str, griffe.Module]:
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    modules = {name: loader.load(name) for name in ("smspartner_async", "smspartner_async.testing")}
    loader.resolve_aliases(implicit=False, external=False)
    return {name: module for name, module in modules.items() if isinstance(module, griffe.Module)}


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_every_public_name_has_a_docstring(
    packages: dict[str, griffe.Module], module: str, name: str
) -> None:
    obj = packages[module][name]
    target = obj.final_target if isinstance(obj, griffe.Alias) else obj
    assert target.docstring is not None, f"{module}.{name} has no docstring"
    if isinstance(target, griffe.Class):
        for member_name, member in target.members.items():
            if member_name.startswith("_"):
                continue
            resolved = member.final_target if isinstance(member, griffe.Alias) else member
            documented = isinstance(resolved, griffe.Function) or "property" in resolved.labels
            if documented:
                assert resolved.docstring is not None, f"{module}.{name}.{member_name}"


# -- code that fits ------------------------------------------------------------------------------
# At a 1400 px window the site's code blocks are 688 px wide and show 80 characters of code
# (measured in Chromium: 81 scroll); inside an admonition or a collapsed example they are 662 px
# in a smaller font and show 96. What a program prints (console, text, pycon output) cannot be
# re-flowed by hand, so docs/css/extra.css wraps those blocks instead.
CODE_WIDTH, NESTED_CODE_WIDTH = 80, 96
WRAPPED = {"console", "text", "pycon"}
ANY_FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
SNIPPET = re.compile(r'--8<-- "([^"]+)"')


def too_wide(text: str, where: str, *, top_width: int = CODE_WIDTH) -> list[str]:
    """The code lines of ``text``'s fenced blocks that would scroll sideways on the site."""
    found = []
    for fence in ANY_FENCE.finditer(text):
        indent, language, body = len(fence.group(1)), fence.group(2), fence.group(3)
        width = top_width if indent == 0 else NESTED_CODE_WIDTH
        lines = [line[indent:] for line in body.splitlines()]
        for snippet in SNIPPET.findall(body):
            lines += (ROOT / snippet).read_text(encoding="utf-8").splitlines()
        if language in WRAPPED:  # only what a person types must fit
            lines = [line for line in lines if line.startswith((">>> ", "... "))]
        first = text.count("\n", 0, fence.start()) + 2
        found += [
            f"{where}:{first}: {len(line)} > {width}: {line}" for line in lines if len(line) > width
        ]
    return found


def test_no_code_sample_scrolls_sideways_at_1400_px() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = [
        line
        for page in pages
        for line in too_wide(page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix())
    ]
    # Docstrings are the reference's pages: their samples, dedented, follow the same rule.
    for module in sorted((ROOT / "smspartner_async").rglob("*.py")):
        for doc in re.findall(r'"""(.*?)"""', module.read_text(encoding="utf-8"), re.DOTALL):
            found += too_wide(inspect.cleandoc(doc), module.relative_to(ROOT).as_posix())
    assert not found, "\n".join(found)


def test_the_site_wraps_what_programs_print() -> None:
    css = (ROOT / "docs" / "css" / "extra.css").read_text(encoding="utf-8")
    for language in WRAPPED:
        assert f".language-{language} pre > code" in css
    assert "white-space: pre-wrap" in css
    assert "css/extra.css" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
