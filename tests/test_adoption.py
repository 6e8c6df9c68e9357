"""What a team expects in a repository it adopts, for every generated project.

- A licence: the `license` answer's SPDX text in LICENSE, named in pyproject.toml; "none"
  (private or classroom work) leaves neither.
- Dependabot (with the GitHub option) proposes the pins' updates weekly, in sensible groups,
  and its file is valid against Dependabot's schema.
- pre-commit runs the same ruff commands as CI, from the project's own venv (no download),
  and passes on a fresh project.
- Every generated GitHub Actions workflow is valid against the workflow schema.

The schemas are the ones check-jsonschema vendors, so the checks work offline.
"""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch

import pytest
import yaml
from packaging.licenses import canonicalize_license_expression

from .conftest import COMBINATIONS, DEFAULTS, TEMPLATE, UV_COMBINATIONS, project_venv, require, run

CHOICES = json.loads((TEMPLATE / "cookiecutter.json").read_text())
LICENSES = [name for name in CHOICES["license"] if name != "none"]
SPDX = TEMPLATE / "tests" / "fixtures" / "spdx"
NOTICE = re.compile(r"^Copyright \(c\) .*$", re.MULTILINE)
YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def same_licence_text(text, reference):
    """SPDX's matching rules: whitespace and line wrapping do not count, the copyright line is the holder's."""

    def words(licence):
        return " ".join(NOTICE.sub("Copyright (c) <holder>", licence, count=1).split())

    return words(text) == words(reference)


def check_schema(schema, *files):
    """check-jsonschema with one of its vendored schemas; returns its output, asserting success."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", f"vendor.{schema}", *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def pinned_names(path):
    """The lower-case names of the exact pins in one requirements file (not those it includes)."""
    names = re.findall(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==", path.read_text(), flags=re.MULTILINE)
    return {name.lower() for name in names}


def runtime_and_tool_pins(project):
    """The names of the runtime pins and of the development tools' pins, from whichever files the project has."""
    if not (project / "pyproject.toml").exists() or not (project / "uv.lock").exists():
        return pinned_names(project / "requirements.txt"), pinned_names(project / "requirements-dev.txt")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    names = [pyproject["project"]["dependencies"], pyproject["dependency-groups"]["dev"]]
    return tuple({re.match(r"[A-Za-z0-9._-]+", pin)[0].lower() for pin in pins} for pins in names)


# Licence


def test_the_licence_choices_are_spdx_identifiers_and_none():
    assert CHOICES["license"][-1] == "none"
    assert all(canonicalize_license_expression(name) == name for name in LICENSES)
    assert {path.stem for path in SPDX.glob("*.txt")} == set(LICENSES)  # a reference text for each


@pytest.mark.parametrize("licence", LICENSES)
def test_each_licence_is_the_spdx_text_for_the_author_and_pyproject_names_it(bake, licence):
    project = bake(license=licence, author_name="Ada Lovelace")
    text, reference = (project / "LICENSE").read_text(), (SPDX / f"{licence}.txt").read_text()
    assert same_licence_text(text, reference), f"LICENSE is not the SPDX text of {licence}"
    if NOTICE.search(reference):  # MIT and BSD name the holder; Apache-2.0's text names none
        assert NOTICE.findall(text) == ["Copyright (c) Ada Lovelace"]
    # Nothing dated is rendered (it would conflict in every later `cruft update`): only the licence's own years.
    assert set(YEAR.findall(text)) == set(YEAR.findall(reference))
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["license"] == canonicalize_license_expression(licence) == licence  # PEP 639: an SPDX expression
    assert metadata["license-files"] == ["LICENSE"]


def test_license_none_leaves_no_licence_file_and_no_licence_field(bake):
    private, default = bake(license="none"), bake()
    assert not (private / "LICENSE").exists() and (default / "LICENSE").exists()
    metadata = tomllib.loads((private / "pyproject.toml").read_text())["project"]
    assert "license" not in metadata and "license-files" not in metadata
    # Nothing else differs: the same pyproject.toml without the two lines.
    default_lines = (default / "pyproject.toml").read_text().splitlines()
    kept = [line for line in default_lines if not line.startswith(("license =", "license-files ="))]
    assert (private / "pyproject.toml").read_text().splitlines() == kept


def test_an_unknown_licence_is_refused_and_nothing_is_written(tmp_path):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--default-config", str(TEMPLATE)]
    result = subprocess.run([*command, "-o", str(tmp_path), "license=GPL-3.0-only"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "GPL-3.0-only provided for choice variable license, but the choices are" in result.stderr
    assert list(tmp_path.iterdir()) == []


# Dependabot


@pytest.mark.parametrize("manager", CHOICES["package_manager"])
def test_dependabot_updates_pip_and_actions_weekly_and_is_valid(bake, manager):
    project = bake(use_github_actions=True, package_manager=manager)
    config = project / ".github" / "dependabot.yml"
    assert "ok -- validation done" in check_schema("dependabot", config)
    updates = yaml.safe_load(config.read_text())["updates"]
    assert {update["package-ecosystem"] for update in updates} == {manager, "github-actions"}
    for update in updates:
        assert update["directory"] == "/" and update["schedule"]["interval"] == "weekly"
        assert update["groups"], "every ecosystem groups its updates into few pull requests"


@pytest.mark.parametrize("manager", CHOICES["package_manager"])
@pytest.mark.parametrize("addons", [{}, {"use_rest": True, "use_realtime": True}], ids=["core", "rest-realtime"])
def test_dependabot_groups_the_dev_tools_apart_from_the_runtime(bake, addons, manager):
    project = bake(**{**DEFAULTS, **addons, "package_manager": manager})
    pip = next(
        u
        for u in yaml.safe_load((project / ".github/dependabot.yml").read_text())["updates"]
        if u["package-ecosystem"] == manager
    )
    development = pip["groups"]["development"]["patterns"]
    runtime, tools = runtime_and_tool_pins(project)
    assert tools and runtime and not tools & runtime
    assert [name for name in tools if not any(fnmatch(name, pattern) for pattern in development)] == []
    assert [name for name in runtime if any(fnmatch(name, pattern) for pattern in development)] == []
    # The rest: minor and patch releases in one pull request; a major one (Django 7, say) alone.
    assert pip["groups"]["runtime"] == {"update-types": ["minor", "patch"]}


# pre-commit


@pytest.mark.parametrize("manager", CHOICES["package_manager"])
def test_pre_commit_runs_the_same_ruff_commands_as_ci_and_the_readme(bake, manager):
    project = bake(use_github_actions=True, package_manager=manager)
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())["repos"]
    assert [repo["repo"] for repo in hooks] == ["local"]  # nothing to fetch from GitHub
    entries = [hook["entry"] for hook in hooks[0]["hooks"]]
    assert all(hook["language"] == "system" for hook in hooks[0]["hooks"])  # the venv's own ruff, CI's version
    lint = " && ".join(f"{entry} ." for entry in entries)
    assert lint == ".venv/bin/ruff check . && .venv/bin/ruff format --check ."
    steps = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]["steps"]
    assert lint in [step.get("run") for step in steps]
    assert f"`{lint}`" in (project / "README.md").read_text()
    assert "pre-commit" in runtime_and_tool_pins(project)[1]


@pytest.mark.parametrize("manager", CHOICES["package_manager"])
def test_pre_commit_passes_on_a_fresh_project_and_stops_a_badly_formatted_file(bake, tmp_path, manager):
    require(shutil.which("git"), "git is not installed: pre-commit runs only inside a git repository")
    project = bake(use_rest=True, use_realtime=True, package_manager=manager)
    bin_dir = project_venv(project)
    copy = tmp_path / project.name
    shutil.copytree(project, copy)
    (copy / ".venv").mkdir()  # a real folder, so .gitignore's ".venv/" keeps it out of git
    (copy / ".venv" / "bin").symlink_to(bin_dir)
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}  # not the user's cache
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    assert ".venv/bin/ruff" not in run(["git", "ls-files"], copy).stdout
    run([str(bin_dir / "pre-commit"), "validate-config", ".pre-commit-config.yaml"], copy, env=env)

    clean = run([str(bin_dir / "pre-commit"), "run", "--all-files"], copy, env=env, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert re.findall(r"^(ruff .+?)\.+Passed$", clean.stdout, flags=re.MULTILINE) == [
        "ruff check",
        "ruff format --check",
    ]

    (copy / project.name / "sloppy.py").write_text("import os\nx=1\n")
    run(["git", "add", "-A"], copy)
    sloppy = run([str(bin_dir / "pre-commit"), "run", "--all-files"], copy, env=env, check=False)
    assert sloppy.returncode == 1
    assert re.findall(r"^(ruff .+?)\.+Failed$", sloppy.stdout, flags=re.MULTILINE) == [
        "ruff check",
        "ruff format --check",
    ]
    assert "F401" in sloppy.stdout and f"{project.name}/sloppy.py" in sloppy.stdout


# GitHub Actions


def test_every_generated_workflow_is_valid_against_the_github_workflow_schema(bake):
    workflows = [
        bake(**answers, python_version=python) / ".github" / "workflows" / "ci.yml"
        for answers in COMBINATIONS
        if answers["use_github_actions"]
        for python in CHOICES["python_version"]
    ]
    assert len(workflows) == 8 * len(CHOICES["python_version"])
    workflows += [
        bake(**answers, python_version=python) / ".github" / "workflows" / "ci.yml"
        for answers in UV_COMBINATIONS
        for python in CHOICES["python_version"]
    ]
    assert "ok -- validation done" in check_schema("github-workflows", *workflows)
