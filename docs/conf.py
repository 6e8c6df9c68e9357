"""Sphinx configuration for the documentation of cookiecutter-lightweight-django.

Build: sphinx-build -W --keep-going -b html docs docs/_build/html

Before Sphinx reads a page, this file generates a project from the template (the "bake")
into docs/_build/bake/, and the pages quote its files with {literalinclude}. Snippets are
therefore always the files a user gets today, never copies that can drift. Facts that only
running the code can tell (the hook's error lines, what cookiecutter prints, the table of
environment variables) come from template_facts.py, this folder's Sphinx extension.
"""

import fcntl
import json
import re
import shutil
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

# The answers of the bake the pages quote: every option on, so every file is shown.
# init_git stays off: it adds a .git folder, not a file of the project, and needs git.
# tests/test_docs.py reads this dict too: every file this bake produces must have a row in
# generated-files.md.
BAKE_OPTIONS = {
    "project_name": "My Project",
    "use_rest": True,
    "use_realtime": True,
    "example_app": "board",
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


# Every build of these docs bakes into _build/bake and reads it until it ends: builds at the same time (the
# test suite's xdist workers, a developer's beside them) would remove each other's bake. One at a time: the lock
# is held until this process exits.
BAKE_DIR.parent.mkdir(parents=True, exist_ok=True)
BUILD_LOCK = open(BAKE_DIR.parent / "build.lock", "w")  # noqa: SIM115 (open for the life of the build)
fcntl.flock(BUILD_LOCK, fcntl.LOCK_EX)
PROJECT = bake()


def pinned_version(package):
    """The version the generated requirements.txt pins for a package, e.g. "6.1.3" for Django."""
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", (PROJECT / "requirements.txt").read_text(), re.M)
    )
    return pins[package]


DJANGO_VERSION = pinned_version("Django")
DJANGO_SERIES = ".".join(DJANGO_VERSION.split(".")[:2])  # "6.1": the line the docs links and the README name
PYTHONS = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["python_version"]
PACKAGE_MANAGERS = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["package_manager"]
UV_VERSION = re.search(r"^uv==(\S+)", (TEMPLATE_DIR / "requirements.txt").read_text(), re.M)[1]

# {{ name }} in a page's text (not in code blocks) is replaced by these, so versions are never typed by hand.
myst_enable_extensions = ["substitution"]
myst_substitutions = {
    "django_version": DJANGO_VERSION,
    "django_series": DJANGO_SERIES,
    "python_default": f"`{PYTHONS[0]}`",
    "python_choices": ", ".join(f"`{version}`" for version in PYTHONS),
    "python_other": f"`{PYTHONS[-1]}`",
    "package_manager_default": f"`{PACKAGE_MANAGERS[0]}`",
    "uv_version": UV_VERSION,
    "drf_series": ".".join(pinned_version("djangorestframework").split(".")[:2]),
    "spectacular_series": ".".join(pinned_version("drf-spectacular").split(".")[:2]),
}

sys.path.insert(0, str(DOCS_DIR))  # for template_facts

project = "cookiecutter-lightweight-django"
author = "cookiecutter-lightweight-django contributors"
copyright = "the cookiecutter-lightweight-django contributors"

extensions = ["myst_parser", "template_facts"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_theme_options = {
    "description": f"A small 12-factor Django {DJANGO_SERIES} project from one command",
    "fixed_sidebar": True,
}
html_show_sourcelink = False
smartquotes = False  # commands in the text (e.g. from .env.example) must stay copyable: "..." not “...”
