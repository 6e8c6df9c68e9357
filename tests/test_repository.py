"""The repository keeps its promises: two README commands, CI runs the second, its own code is lint-clean.

It is also a repository a team can adopt: a licence, GitHub Actions running the README's test
command, and releases whose CHANGELOG.md, git tags and documented procedure agree.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from .conftest import TEMPLATE, uv
from .readme import FIRST_PAGE, first_page, reader_env, readme_command, readme_commands, uv_first_command
from .test_adoption import SPDX, check_schema, same_licence_text
from .test_install_commands import pins
from .three_tools import template_repository


def test_the_readme_has_exactly_two_commands_and_ci_runs_the_test_command():
    generate, test = readme_commands()
    assert "uvx cookiecutter@" in generate and " --no-input " in generate and "runserver" in generate
    assert test.endswith("pytest")
    # uv makes the project's venv with the Python its .python-version names (the first page test checks which).
    assert "cd build/my_project && ../../.venv/bin/uv venv --seed && " in generate
    ci = (TEMPLATE / ".ci" / "run").read_text().splitlines()
    assert test in ci
    assert "export REQUIRE_SERVICES=1  # a test that would skip for a missing service fails instead" in ci


def test_the_readme_first_command_serves_the_default_project_in_a_fresh_clone(tmp_path):
    """Python and pip give uv, uv runs the pinned cookiecutter and installs the project's runtime requirements into
    a venv of the Python its .python-version names. The generated README's *Test it* then runs the suite there."""
    generate, _ = readme_commands()
    assert (
        f"pip install -r requirements.txt && .venv/bin/uvx cookiecutter@{pins()['cookiecutter']} --no-input" in generate
    )
    assert re.fullmatch(r"# .*\nuv==\S+\n", (TEMPLATE / "requirements.txt").read_text())
    assert "-r requirements.txt" in (TEMPLATE / "requirements-dev.txt").read_text().splitlines()
    clone = template_repository(tmp_path / "clone")  # a clone holding the working tree
    # A generous bound on a first install on a loaded machine; the README has the measured time.
    _, page = first_page(clone, tmp_path / "first-command.log", timeout=600)
    assert "<title>My Project</title>" in page, page
    project = clone / "build" / "my_project"
    assert (project / "db.sqlite3").exists()  # migrate ran
    version = subprocess.run(
        [project / ".venv/bin/python", "-c", "import sys; print(sys.version)"], capture_output=True, text=True
    )
    assert version.stdout.startswith(f"{(project / '.python-version').read_text().strip()}.")
    pip = subprocess.run(
        [project / ".venv/bin/pip", "--version"], capture_output=True, text=True
    )  # the generated README's pip commands
    assert pip.stdout.startswith("pip "), pip.stderr
    assert FIRST_PAGE in (TEMPLATE / "README.md").read_text()
    test_it = readme_command(project, "## Test it")
    result = subprocess.run(["bash", "-c", test_it], cwd=project, env=reader_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)


def test_the_readme_first_command_done_with_uv_serves_a_uv_project_in_a_fresh_clone(tmp_path, monkeypatch):
    """The README's uv line: the cookiecutter the template pins, run by uvx, and the project's lock installed."""
    command = uv_first_command()
    assert command.startswith(
        f"uvx cookiecutter@{pins()['cookiecutter']} --no-input --overwrite-if-exists . -o build package_manager=uv"
    )
    assert "uv sync --locked --no-dev && .venv/bin/python manage.py migrate" in command
    clone = template_repository(tmp_path / "clone")
    monkeypatch.setenv("PATH", f"{Path(uv()).parent}:{os.environ['PATH']}")  # the uv requirements.txt pins
    _, page = first_page(clone, tmp_path / "first-command.log", timeout=600, command=command)
    assert "<title>My Project</title>" in page, page
    project = clone / "build" / "my_project"
    assert (project / "uv.lock").exists() and (project / "db.sqlite3").exists()  # a uv project, migrated


def test_the_templates_own_code_is_lint_clean():
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=TEMPLATE, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def readme_test_command():
    return next(command for command in readme_commands() if command.endswith("/pytest"))


def test_the_github_workflow_runs_the_readme_test_command_with_the_services_and_is_valid():
    workflows = sorted((TEMPLATE / ".github" / "workflows").glob("*.yml"))
    assert [path.name for path in workflows] == ["ci.yml", "release.yml"]  # release.yml: tests/test_releases.py
    workflows = workflows[:1]
    assert "ok -- validation done" in check_schema("github-workflows", *workflows)
    job = yaml.safe_load(workflows[0].read_text())["jobs"]["test"]
    assert job["steps"][-1]["run"] == readme_test_command()
    assert {"postgres", "redis"} <= set(job["services"])
    assert job["env"]["REQUIRE_SERVICES"] == "1"  # as .ci/run: a test that would skip fails instead
    assert job["env"]["DATABASE_URL"].startswith("postgres://") and job["env"]["REDIS_URL"].startswith("redis://")
    # Every Python a project can choose is installed, so every project's venv can be made.
    setup = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
    offered = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    assert sorted(setup["with"]["python-version"].split()) == sorted(offered)
    # The real-time browser test needs /usr/bin/chromium, and the generated tests a redis-server binary.
    setup_commands = "\n".join(step.get("run", "") for step in job["steps"][:-1])
    assert "/usr/bin/chromium" in setup_commands and "redis-server" in setup_commands


def test_the_template_is_mit_licensed_to_its_contributors():
    text = (TEMPLATE / "LICENSE").read_text()
    assert same_licence_text(text, (SPDX / "MIT.txt").read_text())
    assert "Copyright (c) the cookiecutter-lightweight-django contributors\n" in text


# Releases: versions are MAJOR.MINOR.PATCH, tagged vMAJOR.MINOR.PATCH (docs/releases.md says why).
RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+) \((\d{4}-\d{2}-\d{2})\)")
ENTRY_PARTS = ["What changes for an existing project", "What to do"]


def git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)


def changelog_problems(root):
    """What keeps root's CHANGELOG.md, its git tags and its HEAD from agreeing; [] when they agree."""
    text = re.sub(r"<!--.*?-->", "", (root / "CHANGELOG.md").read_text(), flags=re.DOTALL)
    sections = [section.partition("\n") for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]]
    problems = [] if sections[:1] and sections[0][0] == "Unreleased" else ["the first section is not '## Unreleased'"]
    releases = []  # (version, date, heading), newest first
    for heading, _, body in sections:
        parts = re.split(r"^### (.*)$", body, flags=re.MULTILINE)[1:]
        named = dict(zip(parts[::2], parts[1::2], strict=True))
        problems += [
            f"'### {name}' under '## {heading}' is not one of {ENTRY_PARTS}"
            for name in named
            if name not in ENTRY_PARTS
        ]
        if heading == "Unreleased":
            continue
        if not (match := RELEASE.fullmatch(heading)):
            problems.append(f"'## {heading}' is not '## MAJOR.MINOR.PATCH (YYYY-MM-DD)'")
            continue
        try:
            day = date.fromisoformat(match[4])
        except ValueError:
            problems.append(f"'## {heading}' has no real date")
            continue
        problems += [
            f"'## {heading}' says nothing under '### {name}'" for name in ENTRY_PARTS if not named.get(name, "").strip()
        ]
        releases.append((tuple(map(int, match.groups()[:3])), day, heading))
    for (newer, newer_day, heading), (older, older_day, below) in itertools.pairwise(releases):
        if not (newer > older and newer_day >= older_day):
            problems.append(f"'## {heading}' is not newer than '## {below}' below it")
    if releases and releases[0][1] > date.today():
        problems.append(f"'## {releases[0][2]}' is dated in the future")
    versions = [".".join(map(str, version)) for version, _, _ in releases]
    newest = versions[0] if versions else "none"
    for page in ("README.md", "docs/releases.md"):  # their examples generate from the newest release
        if (root / page).exists():
            problems += [
                f"{page} checks out {tag}, but the newest release in CHANGELOG.md is {newest}"
                for tag in sorted(set(re.findall(r"(?:--checkout|--vcs-ref) (v\S+)", (root / page).read_text())))
                if not versions or tag != f"v{versions[0]}"
            ]
    if git(root, "rev-parse", "--git-dir").returncode == 0:  # a clone, not an unpacked archive
        problems += [
            f"tag {tag} has no '## {tag[1:]} (...)' section in CHANGELOG.md"
            for tag in git(root, "tag", "--list", "v*").stdout.split()
            if tag[1:] not in versions
        ]
        problems += [
            f"HEAD is tagged {tag}, but the newest release in CHANGELOG.md is {newest}"
            for tag in git(root, "tag", "--points-at", "HEAD", "--list", "v*").stdout.split()
            if not versions or tag != f"v{versions[0]}"
        ]
    return problems


def test_the_changelog_and_the_release_tags_agree():
    assert changelog_problems(TEMPLATE) == []


IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Test",
    "GIT_AUTHOR_EMAIL": "release@example.com",
    "GIT_COMMITTER_NAME": "Release Test",
    "GIT_COMMITTER_EMAIL": "release@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,  # no signing or hooks from the machine's git config
}


RELEASED_PAGES = ["CHANGELOG.md", "README.md", "docs/releases.md"]  # what a release edits


@pytest.fixture
def scratch(tmp_path):
    """A repository holding today's CHANGELOG.md and the pages naming a release, with a bare 'origin'."""
    if not shutil.which("git"):
        pytest.skip("SKIPPED LOUDLY: git is not installed")
    repo, origin = tmp_path / "repo", tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for page in RELEASED_PAGES:
        (repo / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TEMPLATE / page, repo / page)
    for command in (["add", *RELEASED_PAGES], ["commit", "-qm", "start"], ["remote", "add", "origin", str(origin)]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env={**os.environ, **IDENTITY})
    return repo, origin


def test_the_changelog_check_finds_what_disagrees(scratch):
    repo, _ = scratch
    (repo / "CHANGELOG.md").write_text(
        "## 1.1.0 (2026-01-02)\n\n### What changes for an existing project\n\n- A new option.\n\n"
        "## 1.2.0 (2025-12-31)\n\n### What changes for an existing project\n\n- Faster.\n\n"
        "### What to do\n\n- Nothing.\n\n"
        "## 1.0 (2025-12-01)\n\n### How to upgrade\n\n- Regenerate.\n\n"
        "## 0.9.0 (2025-02-30)\n"
    )
    subprocess.run(["git", "-C", str(repo), "tag", "v99.0.0"], check=True)
    assert changelog_problems(repo) == [
        "the first section is not '## Unreleased'",
        "'## 1.1.0 (2026-01-02)' says nothing under '### What to do'",
        f"'### How to upgrade' under '## 1.0 (2025-12-01)' is not one of {ENTRY_PARTS}",
        "'## 1.0 (2025-12-01)' is not '## MAJOR.MINOR.PATCH (YYYY-MM-DD)'",
        "'## 0.9.0 (2025-02-30)' has no real date",
        "'## 1.1.0 (2026-01-02)' is not newer than '## 1.2.0 (2025-12-31)' below it",
        "README.md checks out v1.0.0, but the newest release in CHANGELOG.md is 1.1.0",
        "docs/releases.md checks out v1.0.0, but the newest release in CHANGELOG.md is 1.1.0",
        "tag v99.0.0 has no '## 99.0.0 (...)' section in CHANGELOG.md",
        "HEAD is tagged v99.0.0, but the newest release in CHANGELOG.md is 1.1.0",
    ]


def release_procedure():
    """The commands of docs/releases.md's 'How to release' block, without comments."""
    page = (TEMPLATE / "docs" / "releases.md").read_text()
    block = re.search(r"^## How to release$.*?^```sh\n(.*?)^```$", page, flags=re.MULTILINE | re.DOTALL)[1]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_following_the_release_procedure_leaves_changelog_and_tags_agreeing(scratch):
    repo, origin = scratch
    commands = release_procedure()
    assert [command.split()[:2] for command in commands] == [
        ["bash", ".ci/run"],
        [".venv/bin/pytest", "tests/test_repository.py"],
        ["git", "commit"],
        ["git", "push"],
    ]
    # The checks name real things: .ci/run, and tests of this file that -k selects.
    assert (TEMPLATE / ".ci" / "run").is_file()
    for check in (command for command in commands if command.startswith(".venv/bin/pytest")):
        selected = check.split("-k ")[1].strip("'\"")
        assert [name for name in globals() if name.startswith("test_") and selected in name], check

    # The edits the page asks for: the Unreleased entries become the new version's section, dated
    # today, and the --checkout (cruft, cookiecutter) and --vcs-ref (copier) examples name the new tag.
    text = (repo / "CHANGELOG.md").read_text()
    newest = re.search(f"^## {RELEASE.pattern}$", text, flags=re.MULTILINE)
    major, minor, patch = map(int, newest.groups()[:3])
    version = f"{major}.{minor}.{patch + 1}"
    entry = "### What changes for an existing project\n\n- A fix.\n\n### What to do\n\n- Nothing.\n\n"
    (repo / "CHANGELOG.md").write_text(
        f"{text[: newest.start()]}## {version} ({date.today()})\n\n{entry}{text[newest.start() :]}"
    )
    for page in RELEASED_PAGES[1:]:
        text = (repo / page).read_text()
        for option in ("--checkout", "--vcs-ref"):
            text = text.replace(f"{option} v{major}.{minor}.{patch}", f"{option} v{version}")
        (repo / page).write_text(text)
    assert changelog_problems(repo) == []  # the first check

    for command in (command.replace("X.Y.Z", version) for command in commands if command.startswith("git ")):
        subprocess.run(["bash", "-c", command], cwd=repo, check=True, env={**os.environ, **IDENTITY})
        assert changelog_problems(repo) == [], command
    assert git(repo, "status", "--porcelain").stdout == ""  # the release commit holds every edit
    assert git(origin, "rev-parse", "main").stdout == git(repo, "rev-parse", "HEAD").stdout  # main is published

    # What the release workflow does on that push: its step, in a fresh clone of main, makes the tag.
    runner = repo.parent / "runner"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(origin), str(runner)], check=True)
    step = subprocess.run(
        [sys.executable, str(TEMPLATE / "scripts" / "release.py"), "tag"],
        cwd=runner,
        env={**os.environ, **IDENTITY},
        capture_output=True,
        text=True,
    )
    assert step.returncode == 0, step.stderr
    assert git(runner, "describe", "--exact-match", "HEAD").stdout.strip() == f"v{version}"
    assert git(runner, "cat-file", "-t", f"v{version}").stdout.strip() == "tag"  # annotated: a date and a message
    assert changelog_problems(runner) == []


def test_two_suite_runs_against_one_postgresql_server_keep_their_own_databases():
    """A second run's fresh_database must not drop the first run's; each run drops its own when it ends."""
    import psycopg

    from .conftest import service_url

    admin_url = service_url("DATABASE_URL")
    make = "from tests.conftest import fresh_database; print(fresh_database('ldj_probe'), flush=True); input()"
    command = [sys.executable, "-c", make]
    with subprocess.Popen(command, cwd=TEMPLATE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as first:
        first_url = first.stdout.readline().strip()
        second_url = subprocess.run(command, cwd=TEMPLATE, input="\n", capture_output=True, text=True).stdout.strip()
        assert first_url != second_url
        with psycopg.connect(first_url) as connection:  # still there while its run goes on
            assert connection.execute("select current_database()").fetchone()[0] == first_url.rsplit("/", 1)[1]
        first.communicate("\n")
    with psycopg.connect(admin_url) as connection:
        names = {url.rsplit("/", 1)[1] for url in (first_url, second_url)}
        left = connection.execute("select datname from pg_database where datname = any(%s)", [list(names)]).fetchall()
    assert left == [], "a run leaves no database behind"
