"""Sphinx configuration for the documentation of cookiecutter-lightweight-django.

Build: sphinx-build -W --keep-going -b html docs docs/_build/html

Before Sphinx reads a page, this file generates a project from the template (the "bake")
into docs/_build/bake/, and the pages quote its files with {literalinclude}. Snippets are
therefore always the files a user gets today, never copies that can drift.
"""

import shutil
from pathlib import Path

from cookiecutter.main import cookiecutter

# The answers of the bake the pages quote: every option on, so every file is shown.
# init_git stays off: it adds a .git folder, not a file of the project, and needs git.
# tests/test_docs.py reads this dict too: every file this bake produces must have a row in
# generated-files.md. (Until the REST and real-time add-ons are merged, this bake already
# renders their lines in settings.py and urls.py but has no api/ or realtime/ folder yet.)
BAKE_OPTIONS = {
    "project_name": "My Project",
    "use_rest": True,
    "use_realtime": True,
    "use_github_actions": True,
    "init_git": False,
}
BAKE_SLUG = "my_project"  # what "My Project" becomes; pages quote paths under _build/bake/my_project/

DOCS_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = DOCS_DIR.parent
BAKE_DIR = DOCS_DIR / "_build" / "bake"


def bake(output_dir=BAKE_DIR):
    """Generate the project with BAKE_OPTIONS into output_dir (emptied first) and return its path."""
    shutil.rmtree(output_dir, ignore_errors=True)  # no stale files from an earlier bake
    project = cookiecutter(
        str(TEMPLATE_DIR),
        no_input=True,
        output_dir=str(output_dir),
        extra_context=BAKE_OPTIONS,
        overwrite_if_exists=True,
        default_config=True,  # ignore the builder's ~/.cookiecutterrc
    )
    return Path(project)


bake()

project = "cookiecutter-lightweight-django"
author = "cookiecutter-lightweight-django contributors"
copyright = "the cookiecutter-lightweight-django contributors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_theme_options = {"description": "A small 12-factor Django 5.2 project from one command", "fixed_sidebar": True}
html_show_sourcelink = False
