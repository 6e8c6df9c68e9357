"""What every option combination generates: the exact files, valid syntax, clean lint, no leftovers."""

import ast
import difflib
import importlib.util
import json
import re
import subprocess
import sys
import tomllib

import jsonschema
import pytest
import yaml

from .conftest import (
    ADDON_COMBINATIONS,
    BOARD,
    BOARD_COMBINATIONS,
    COMBINATIONS,
    DEFAULTS,
    TEMPLATE,
    UV_COMBINATIONS,
    combination_param,
    uv,
)

# Files every project gets (with the default slug my_project).
CORE_FILES = {
    ".env",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "LICENSE",
    "Procfile",
    "README.md",
    "app.json",
    "conftest.py",
    "gunicorn.conf.py",
    "manage.py",
    "pyproject.toml",
    "my_project/__init__.py",
    "my_project/env.py",
    "my_project/outage.py",
    "my_project/public/favicon.ico",
    "my_project/settings.py",
    "my_project/static/css/site.css",
    "my_project/templates/503.html",
    "my_project/templates/base.html",
    "my_project/templates/home.html",
    "my_project/urls.py",
    "my_project/views.py",
    "my_project/wsgi.py",
    "tests/__init__.py",
    "tests/test_cache.py",
    "tests/test_deploy.py",
    "tests/test_headers.py",
    "tests/test_methods.py",
    "tests/test_security.py",
    "tests/test_server.py",
    "tests/test_settings.py",
    "tests/test_static.py",
    "tests/test_views.py",
}
# Files that exist only when their option is on.
OPTION_FILES = {
    "use_rest": {
        f"my_project/api/{name}.py"
        for name in ["__init__", "apps", "exceptions", "schema", "serializers", "urls", "views"]
        + ["tests/__init__", "tests/conftest", "tests/test_api", "tests/test_login_guessing"]
    }
    | {"my_project/api/templates/api/docs.html", "my_project/api/templates/rest_framework/api.html"},
    "use_realtime": {
        f"my_project/realtime/{name}"
        for name in [
            "README.md",
            "__init__.py",
            "__main__.py",
            "apps.py",
            "broker.py",
            "protocol.py",
            "publish.py",
            "server.py",
            "static/realtime/realtime.js",
            "templates/realtime/demo.html",
            "tests/__init__.py",
            "tests/conftest.py",
            "tests/test_broker.py",
            "tests/test_demo.py",
            "tests/test_processes.py",
            "tests/test_readme.py",
            "tests/test_resume.py",
            "tests/test_server.py",
            "tokens.py",
            "urls.py",
            "views.py",
        ]
    },
    "example_app": {
        f"my_project/board/{name}"
        for name in [
            "README.md",
            "__init__.py",
            "admin.py",
            "apps.py",
            "conditional.py",
            "events.py",
            "migrations/0001_initial.py",
            "migrations/__init__.py",
            "models.py",
            "serializers.py",
            "static/board/board.css",
            "static/board/board.js",
            "templates/board/board.html",
            "templates/board/login.html",
            "tests/__init__.py",
            "tests/conftest.py",
            "tests/test_api.py",
            "tests/test_caching.py",
            "tests/test_events.py",
            "tests/test_login_guessing.py",
            "urls.py",
            "views.py",
        ]
    },
    "use_github_actions": {
        ".github/dependabot.yml",
        ".github/workflows/ci.yml",
        ".github/workflows/template-update.yml",
    },
    "init_git": set(),
}
# The package manager's files: exactly one set in each project (Heroku's buildpack refuses two).
PACKAGE_MANAGER_FILES = {"pip": {"requirements.txt", "requirements-dev.txt"}, "uv": {"uv.lock"}}
# Words that must not appear anywhere in a project whose option is off.
OPTION_TRACES = {
    "use_rest": ["rest_framework", "spectacular", "/api/"],
    "use_realtime": ["tornado", "websocket", "REALTIME_", ".realtime"],
    "use_github_actions": [".github", "workflow"],
    "example_app": [".board", "board/", "Task board"],
}


def project_files(project):
    return {
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def text_files(project):
    """Every generated file but the one binary, public/favicon.ico, as text."""
    return {name: (project / name).read_text() for name in project_files(project) if not name.endswith(".ico")}


def chosen(answers, option):
    """Whether a combination has this option: a yes, or a choice other than "none"."""
    return answers.get(option, "none") not in (False, "none")


@pytest.fixture(params=[combination_param(answers) for answers in COMBINATIONS + BOARD_COMBINATIONS + UV_COMBINATIONS])
def baked(request, bake):
    return request.param, bake(**request.param)


def test_the_exact_files_are_generated(baked):
    answers, project = baked
    expected = CORE_FILES | PACKAGE_MANAGER_FILES[answers.get("package_manager", "pip")]
    expected |= set().union(*(files for option, files in OPTION_FILES.items() if chosen(answers, option)))
    assert project_files(project) == expected


def readme_paths(readme):
    """The paths the README's "Where things are" table names. A row's first cell lists them in backticks; a bare
    name sits beside the first path (`app/urls.py`, `views.py`), and a path that ends in / is a whole folder."""
    table = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    named = set()
    for first_cell in re.findall(r"^\| (.+?) \|", table, re.MULTILINE):
        paths = re.findall(r"`([^`]+)`", first_cell)
        folder = paths[0].rstrip("/").rpartition("/")[0] if paths else ""
        named |= {f"{folder}/{path}" if folder and "/" not in path.rstrip("/") else path for path in paths}
    return named


def test_the_readme_names_every_file_a_reader_meets(baked):
    answers, project = baked
    named = readme_paths((project / "README.md").read_text())
    assert named and all((project / path).exists() for path in named), "a row names a file that is not there"
    unnamed = [
        file
        for file in sorted(project_files(project))
        if not any(file == path or (path.endswith("/") and file.startswith(path)) for path in named)
    ]
    assert unnamed == [], "add these to the README's table"


def test_unchosen_options_leave_no_trace(baked):
    answers, project = baked
    for option, words in OPTION_TRACES.items():
        if not chosen(answers, option):
            for name, text in text_files(project).items():
                for word in words:
                    assert word not in text, f"{word!r} in {name} although {option} is off"


def test_the_ci_and_git_options_change_nothing_but_their_own_files(baked, bake):
    answers, project = baked
    addons = {
        name: value
        for name, value in answers.items()
        if name in ("use_rest", "use_realtime", "example_app", "package_manager")
    }
    same_addons = bake(**{**DEFAULTS, **addons})

    def outside_ci(files):  # .env differs anyway: each bake gets its own secret; README.md names .github/ in a row
        readme_without_ci_row = re.sub(r"^\| `\.github/` \|.*\n", "", files["README.md"], flags=re.MULTILINE)
        files = {**files, "README.md": readme_without_ci_row}
        return {name: text for name, text in files.items() if not name.startswith(".github/") and name != ".env"}

    assert outside_ci(text_files(project)) == outside_ci(text_files(same_addons))


def test_no_template_syntax_is_left(baked):
    _, project = baked
    for name, text in text_files(project).items():
        assert "cookiecutter." not in text and "{{ cookiecutter" not in text, name
        if "/templates/" not in f"/{name}":  # Django templates use {% %} themselves
            if name.endswith(".md"):  # and so do the Django templates a README shows
                text = re.sub(r"^```html\n.*?^```$", "", text, flags=re.DOTALL | re.MULTILINE)
            assert "{%" not in text and "{{" not in text.replace("${{", ""), name


def test_every_file_parses(baked):
    _, project = baked
    for name, text in text_files(project).items():
        if name.endswith(".py"):
            ast.parse(text, filename=name)
        elif name.endswith(".toml"):
            tomllib.loads(text)
        elif name.endswith(".json"):
            json.loads(text)
        elif name.endswith((".yml", ".yaml")):
            yaml.safe_load(text)


def test_app_json_is_valid_for_heroku(baked):
    answers, project = baked
    app = json.loads((project / "app.json").read_text())
    schema = json.loads((TEMPLATE / "tests" / "fixtures" / "app-json.schema.json").read_text())
    jsonschema.validate(app, schema)
    assert app["env"]["SECRET_KEY"] == {"description": app["env"]["SECRET_KEY"]["description"], "generator": "secret"}
    assert "heroku-postgresql" in app["addons"]
    assert ("heroku-redis" in app["addons"]) == answers["use_realtime"]
    # Every variable in .env.example is declared, except those Heroku and its add-ons set.
    documented = {
        line.lstrip("# ").split("=")[0]
        for line in (project / ".env.example").read_text().splitlines()
        if "=" in line and line.lstrip("# ").split("=")[0].isupper()
    }
    assert documented - {"DATABASE_URL", "REDIS_URL", "PORT"} == set(app["env"])


def test_lint_and_format_are_clean(baked):
    _, project = baked
    ruff = [sys.executable, "-m", "ruff"]
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run([*ruff, *command], cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


OFFERED_PYTHONS = sorted(
    json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"],
    key=lambda version: tuple(map(int, version.split("."))),
)


@pytest.mark.parametrize("version", OFFERED_PYTHONS)
def test_ci_tests_the_projects_python_and_each_newer_one_offered(bake, version):
    project = bake(use_github_actions=True, python_version=version)
    job = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]
    matrix = job["strategy"]["matrix"]["python-version"]
    assert matrix == OFFERED_PYTHONS[OFFERED_PYTHONS.index(version) :]
    assert matrix[0] == (project / ".python-version").read_text().strip()  # what deploys run
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{version.replace('.', '')}"
    setup = job["steps"][1]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"


# What the README's first command and its *Test it* install with, for each package manager.
INSTALL = {
    "pip": "python{python} -m venv .venv && .venv/bin/pip install -r requirements-dev.txt",
    "uv": "uv sync --locked",
}
TEST_IT = {"pip": ".venv/bin/pip install -q -r requirements-dev.txt", "uv": "uv sync --locked"}


@pytest.mark.parametrize("manager", PACKAGE_MANAGER_FILES)
@pytest.mark.parametrize("version", OFFERED_PYTHONS)
def test_ci_workflow_runs_the_same_commands_as_the_readme(bake, version, manager):
    project = bake(use_github_actions=True, python_version=version, package_manager=manager)
    steps = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]["steps"]
    commands = [step["run"] for step in steps if "run" in step]
    readme = (project / "README.md").read_text()
    # Set-up: the first half of the README's run command, with the Python of the matrix entry.
    setup = commands[0].replace("${{ matrix.python-version }}", version)
    if manager == "uv":  # the README's uv reads .python-version; CI names each Python of its matrix
        assert setup == f"uv sync --locked --python {version}"
        setup_uv = next(step for step in steps if step.get("uses", "").startswith("astral-sh/setup-uv@"))
        pinned = re.search(r"^uv==(\S+)", (TEMPLATE / "requirements.txt").read_text(), re.M)[1]
        assert setup_uv["with"]["version"] == pinned, "CI's uv is the one that writes the template's locks"
        setup = setup.removesuffix(f" --python {version}")
    assert setup == INSTALL[manager].format(python=version) and f"; {setup} && " in readme
    assert commands[-1] == ".venv/bin/pytest" and f"{TEST_IT[manager]} && .venv/bin/pytest\n```" in readme


def requirement_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith(("#", "-r "))]


@pytest.mark.parametrize("answers", [combination_param(answers) for answers in ADDON_COMBINATIONS])
def test_a_uv_project_declares_exactly_the_pins_a_pip_project_installs(bake, answers):
    pip_project, uv_project = (bake(**answers, package_manager=manager) for manager in ("pip", "uv"))
    pyproject = tomllib.loads((uv_project / "pyproject.toml").read_text())
    runtime, dev = (
        requirement_lines((pip_project / name).read_text()) for name in ("requirements.txt", "requirements-dev.txt")
    )
    assert pyproject["project"]["dependencies"] == runtime
    assert pyproject["dependency-groups"] == {"dev": dev}
    assert "dependencies" not in tomllib.loads((pip_project / "pyproject.toml").read_text())["project"]


LOCK_COMBINATIONS = [
    {"use_rest": rest, "use_realtime": realtime, "python_version": version}
    for version in OFFERED_PYTHONS
    for rest in (False, True)
    for realtime in (False, True)
]


def lock_script():
    spec = importlib.util.spec_from_file_location("uv_locks", TEMPLATE / "scripts" / "uv_locks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lock_id(answers):
    addons = [name.removeprefix("use_") for name in ("use_rest", "use_realtime") if answers[name]]
    return "-".join([f"py{answers['python_version']}", *addons])


@pytest.mark.parametrize("answers", LOCK_COMBINATIONS, ids=lock_id)
def test_the_templates_uv_lock_of_each_combination_is_fresh(bake, answers):
    """scripts/uv_locks.py refreshes them; `uv lock --check` fails once a pin changes without a refresh."""
    project = bake(**answers, package_manager="uv", project_slug="zz_top")  # sorts after every package
    stored = (TEMPLATE / "templates" / "locks" / lock_script().lock_name(answers)).read_text()
    assert (project / "uv.lock").read_text() == stored.replace(lock_script().NAME, "zz-top")
    result = subprocess.run([uv(), "lock", "--check"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_template_keeps_one_uv_lock_per_combination_and_nothing_else():
    stored = {path.name for path in (TEMPLATE / "templates" / "locks").iterdir()}
    assert stored == {lock_script().lock_name(answers) for answers in LOCK_COMBINATIONS}


def test_the_refresh_script_writes_the_locks_the_template_keeps(tmp_path):
    """scripts/uv_locks.py run on today's pins changes no lock (it writes into a scratch folder here)."""
    script = lock_script()
    script.LOCKS = tmp_path / "locks"
    script.LOCKS.mkdir()
    for answers in LOCK_COMBINATIONS:
        written = script.refresh(answers, upgrade=False, scratch=str(tmp_path / lock_id(answers)))
        assert written.read_text() == (TEMPLATE / "templates" / "locks" / written.name).read_text(), written.name


def test_a_stale_lock_fails_the_check(bake, tmp_path):
    """The check above can fail: a project whose pins no longer match its lock."""
    project = bake(**DEFAULTS, package_manager="uv")
    stale = tmp_path / "stale"
    subprocess.run(["cp", "-r", str(project), str(stale)], check=True)
    check = [uv(), "lock", "--check"]
    assert subprocess.run([*check, "--offline"], cwd=stale, capture_output=True).returncode == 0
    pyproject = stale / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"whitenoise==', '"whitenoise<=', 1))
    # Not offline: to say what the lock should be, uv reads the index (offline, only its cache, which a fresh
    # machine has not filled yet).
    result = subprocess.run(check, cwd=stale, capture_output=True, text=True)
    assert result.returncode != 0 and "needs to be updated" in result.stderr, result.stderr


# The example app


def generate(output, *answers):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--default-config", str(TEMPLATE), "-o", str(output)]
    return subprocess.run([*command, *answers], capture_output=True, text=True)


@pytest.mark.parametrize("addons", [[], ["use_rest=true"], ["use_realtime=true"]], ids=["neither", "rest", "realtime"])
def test_the_board_without_both_add_ons_is_refused_in_one_line_and_writes_nothing(tmp_path, addons):
    result = generate(tmp_path, "example_app=board", *addons)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("ERROR: example_app")]
    assert ours == ["ERROR: example_app 'board' needs use_rest=true and use_realtime=true; e.g. example_app=none"]
    assert list(tmp_path.iterdir()) == []


def test_a_project_with_the_board_cannot_be_named_board_one_without_it_can(tmp_path):
    both = ["use_rest=true", "use_realtime=true"]
    refused = generate(tmp_path, "project_slug=board", "example_app=board", *both)
    assert refused.returncode != 0
    assert "ERROR: project_slug 'board' is the app label of a chosen add-on; e.g." in refused.stderr
    assert list(tmp_path.iterdir()) == []
    assert generate(tmp_path, "project_slug=board", *both).returncode == 0


def test_the_board_is_its_folder_and_one_line_in_settings_and_urls(bake):
    with_board = text_files(bake(**BOARD))
    without = text_files(bake(**{option: value for option, value in BOARD.items() if option != "example_app"}))
    outside = {name: text for name, text in with_board.items() if not name.startswith("my_project/board/")}
    assert set(outside) == set(without)
    changed = {name for name in outside if name != ".env" and outside[name] != without[name]}
    assert changed == {"my_project/settings.py", "my_project/urls.py", "README.md"}
    # README: its row in the table, and one section that introduces the board, removed with the folder.
    section = "## The task board" + outside["README.md"].split("## The task board", 1)[1].split("\n## ", 1)[0]
    readme_without_section = outside["README.md"].replace(section, "")
    for name in changed:
        text = readme_without_section if name == "README.md" else outside[name]
        lines = difflib.ndiff(without[name].splitlines(), text.splitlines())
        added = [line for line in lines if line[0] != " " and line.strip() not in ("+", "-")]
        named = "my_project/board/" if name == "README.md" else "my_project.board"
        assert len(added) == 1 and added[0].startswith("+ ") and named in added[0], added
