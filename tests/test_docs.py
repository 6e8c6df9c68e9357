"""The documentation builds without a warning and keeps up with what the template generates.

- docs/ builds with Sphinx in -W mode (warnings are errors), so a snippet whose file or marker
  disappeared from the template breaks the build instead of going stale;
- every file of the project the docs quote (docs/conf.py's BAKE_OPTIONS, all options on) has a
  row in the table of docs/generated-files.md;
- every variable of that project's .env.example has a row in docs/settings.md, and every
  option of cookiecutter.json a row in docs/options.md.
"""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SLUG = "<slug>"  # how the pages write the project's package folder


def bake_options():
    """The BAKE_OPTIONS dict of docs/conf.py, read without running conf.py (it bakes on import)."""
    for node in ast.parse((DOCS / "conf.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "BAKE_OPTIONS" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("docs/conf.py has no BAKE_OPTIONS = {...} dict")


def table_entries(page):
    """The code spans (`...`) in the first column of every Markdown table row of a page."""
    entries = set()
    for line in (DOCS / page).read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            entries.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return entries


@pytest.fixture(scope="module")
def baked(bake):
    """The project docs/conf.py quotes (the session's bake with the same answers)."""
    return bake(**bake_options())


def test_docs_build_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(tmp_path / "html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,  # the assertion below shows Sphinx's warnings
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "html" / "generated-files.html").exists()


def test_every_generated_file_has_a_row_in_the_generated_files_table(baked):
    package = baked.name  # the project folder and its package share the slug
    documented = table_entries("generated-files.md")
    missing = []
    for path in sorted(p for p in baked.rglob("*") if p.is_file()):
        relative = path.relative_to(baked).as_posix()
        shown = re.sub(rf"^{re.escape(package)}/", f"{SLUG}/", relative)
        if shown not in documented:
            missing.append(shown)
    assert not missing, f"add a row to docs/generated-files.md for: {', '.join(missing)}"


def test_every_variable_of_env_example_has_a_row_on_the_settings_page(baked):
    text = (baked / ".env.example").read_text()
    variables = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)
    assert "SECRET_KEY" in variables and "DATABASE_URL" in variables, "the pattern no longer finds the variables"
    documented = table_entries("settings.md")
    missing = [name for name in variables if name not in documented]
    assert not missing, f"add a row to the table in docs/settings.md for: {', '.join(missing)}"


def test_every_option_has_a_row_on_the_options_page():
    options = [key for key in json.loads((ROOT / "cookiecutter.json").read_text()) if not key.startswith("_")]
    documented = table_entries("options.md")
    missing = [key for key in options if key not in documented]
    assert not missing, f"add a row to the table in docs/options.md for: {', '.join(missing)}"
