"""A newcomer's path: what a generated project first tells its reader works as printed and starts all it needs.

The template's README names every option; the core's home page says how to get each add-on; a real-time
project's first command (the README's *Run it*, which generation prints as its next steps) starts Django and
the real-time server, so the demo page goes live instead of waiting for a server nobody started.
"""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from .conftest import BOARD, DEFAULTS, TEMPLATE, find_python, wait_for_http
from .readme import reader_env, readme_command, readme_commands, start_as_a_reader
from .three_tools import template_repository

ADDON_ANSWERS = ["use_rest=true", "use_realtime=true", "example_app=board"]


def run_it(project):
    return readme_command(project, "## Run it")


def test_the_readme_options_table_names_every_option():
    options = [name for name in json.loads((TEMPLATE / "cookiecutter.json").read_text()) if not name.startswith("_")]
    table = (TEMPLATE / "README.md").read_text().split("## Options at a glance", 1)[1].split("\n\n", 2)[1]
    named = {name for row in table.splitlines() for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert set(options) - named == set(), "options missing from the README's table"


def test_the_core_home_page_says_how_to_get_each_add_on_and_the_board(bake):
    project = bake()
    page = (project / project.name / "templates" / "home.html").read_text()
    assert [answer for answer in ADDON_ANSWERS if f"<code>{answer}</code>" not in page] == []


def test_the_board_projects_readme_introduces_the_board(bake):
    readme = (bake(**BOARD) / "README.md").read_text()
    board = readme.split("## The task board", 1)[1].split("\n## ", 1)[0]
    assert "<http://127.0.0.1:5000/board/>" in board
    assert ".venv/bin/python manage.py createsuperuser" in board
    assert "my_project/board/README.md" in board


@pytest.mark.parametrize(
    "answers",
    [DEFAULTS, {**DEFAULTS, "use_realtime": True}, {**BOARD, "init_git": True}],
    ids=["core", "realtime", "board, git init"],
)
def test_generation_prints_the_readmes_run_it_command_as_its_next_steps(tmp_path, answers):
    context = [f"{name}={str(value).lower()}" for name, value in answers.items()]
    generate = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(tmp_path), *context]
    printed = subprocess.run(generate, capture_output=True, text=True, check=True).stdout
    project = tmp_path / "my_project"
    assert f"  cd my_project\n  {run_it(project)}\n" in printed
    if answers.get("use_realtime"):
        assert "honcho start web realtime" in run_it(project)
    # The first commit holds the project as generated, so that updates from the template merge with markers.
    commit = 'Commit it as generated, before any change: git init -q -b main && git add -A && git commit -qm "Gen'
    assert (commit in printed) is not answers["init_git"]


def test_a_realtime_projects_first_command_starts_django_and_the_real_time_server(tmp_path):
    """Run as a reader would (a fresh venv, little of the caller's environment: readme.start_as_a_reader)."""
    generate = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(tmp_path)]
    subprocess.run([*generate, "use_realtime=true"], capture_output=True, check=True)
    project = tmp_path / "my_project"
    python = find_python((project / ".python-version").read_text().strip())
    assert python, "the project's Python is not installed"
    log = tmp_path / "run-it.log"
    process = start_as_a_reader(run_it(project), project, log, path_first=os.path.dirname(python))
    try:
        # Generous bounds on the event: a first pip install on a loaded machine comes before it.
        home = wait_for_http("http://127.0.0.1:5000/", process, log, timeout=600).read().decode()
        assert "<title>My Project</title>" in home
        assert json.load(wait_for_http("http://127.0.0.1:8001/healthz", process, log, timeout=60))["status"] == "ok"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def test_the_templates_first_command_can_be_run_again(tmp_path):
    """After a failure (a missing Python, say) the reader fixes it and runs the same line: it must not stop at
    "directory already exists". The second run keeps the project's database and .env."""
    clone = template_repository(tmp_path / "clone")
    generate = readme_commands(clone)[0].split(" && cd build/", 1)[0]
    env = reader_env()
    first = subprocess.run(["bash", "-c", generate], cwd=clone, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    dotenv = (clone / "build" / "my_project" / ".env").read_text()
    (clone / "build" / "my_project" / "db.sqlite3").write_text("the reader's data")
    again = subprocess.run(["bash", "-c", generate], cwd=clone, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert (clone / "build" / "my_project" / ".env").read_text() == dotenv
    assert (clone / "build" / "my_project" / "db.sqlite3").read_text() == "the reader's data"
