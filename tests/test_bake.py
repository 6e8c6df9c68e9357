"""What every option combination generates: the exact files, valid syntax, clean lint, no leftovers."""

import ast
import difflib
import json
import re
import subprocess
import sys
import tomllib

import jsonschema
import pytest
import yaml

from .conftest import BOARD, BOARD_COMBINATIONS, COMBINATIONS, DEFAULTS, TEMPLATE, combination_param

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
    "requirements-dev.txt",
    "requirements.txt",
    "my_project/__init__.py",
    "my_project/env.py",
    "my_project/outage.py",
    "my_project/settings.py",
    "my_project/static/css/site.css",
    "my_project/static/favicon.svg",
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
    return {name: (project / name).read_text() for name in project_files(project)}


def chosen(answers, option):
    """Whether a combination has this option: a yes, or a choice other than "none"."""
    return answers.get(option, "none") not in (False, "none")


@pytest.fixture(params=[combination_param(answers) for answers in COMBINATIONS + BOARD_COMBINATIONS])
def baked(request, bake):
    return request.param, bake(**request.param)


def test_the_exact_files_are_generated(baked):
    answers, project = baked
    expected = CORE_FILES.union(*(files for option, files in OPTION_FILES.items() if chosen(answers, option)))
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
    addons = {name: value for name, value in answers.items() if name in ("use_rest", "use_realtime", "example_app")}
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


@pytest.mark.parametrize("version", OFFERED_PYTHONS)
def test_ci_workflow_runs_the_same_commands_as_the_readme(bake, version):
    project = bake(use_github_actions=True, python_version=version)
    steps = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"]["steps"]
    commands = [step["run"] for step in steps if "run" in step]
    readme = (project / "README.md").read_text()
    # Set-up: the first half of the README's run command, with the Python of the matrix entry.
    assert commands[0].startswith("python${{ matrix.python-version }} -m venv .venv")
    assert commands[0].replace("${{ matrix.python-version }}", version) in readme
    assert commands[-1] == ".venv/bin/pytest" and "-r requirements-dev.txt && .venv/bin/pytest\n```" in readme


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
