"""The repository keeps its promises: two README commands, CI runs the second, its own code is lint-clean."""

import json
import re
import subprocess
import sys

from .conftest import TEMPLATE


def readme_commands():
    return re.findall(r"```sh\n(.+?)\n```", (TEMPLATE / "README.md").read_text())


def test_the_readme_has_exactly_two_commands_and_ci_runs_the_test_command():
    generate, test = readme_commands()
    assert "cookiecutter --no-input" in generate and "runserver" in generate
    assert test.endswith("pytest")
    # The project's venv is made with the Python its .python-version names: the default answer.
    default_python = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"][0]
    assert f"cd build/my_project && python{default_python} -m venv .venv" in generate
    ci = (TEMPLATE / ".ci" / "run").read_text().splitlines()
    assert test in ci
    assert "export REQUIRE_SERVICES=1  # a test that would skip for a missing service fails instead" in ci


def test_the_templates_own_code_is_lint_clean():
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=TEMPLATE, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
