"""
One list of environment variables, `.env.example`; the code, app.json and the docs agree with it, defaults included.

How `.env.example` is read (docs/template_facts.py reads it the same way to render the docs' table):

- `# NAME=value`, commented, shows the default: uncommenting the line changes nothing. An empty value
  means "not set"; the comment above says what happens then.
- `NAME=value`, not commented, is a value for local work, which a `.env` copied from the file starts with.

Each claim is checked against the code itself, for every add-on combination: the names by reading the
generated code (settings.py, gunicorn.conf.py, the Procfile, ...), the defaults by loading the real
settings.py, the real-time server's own variables (realtime/server.py) and gunicorn.conf.py in the project's
own virtualenv with and without each value.
"""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ADDON_COMBINATIONS, PRODUCTION_ENV, combination_param, project_venv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))
from template_facts import variables  # noqa: E402  (the docs' own reader of .env.example)

DOCS = Path(__file__).resolve().parent.parent / "docs"

# Variables the code reads only when another variable says so: the values that make it read them.
CONDITIONS = {
    "REDIS_SSL_CERT_REQS": {"REDIS_URL": "rediss://127.0.0.1:6379/0"},
    "DATABASE_POOL_SIZE": {"DATABASE_URL": "postgres://127.0.0.1:5432/postgres"},  # the pool is PostgreSQL's
}
# Variables Heroku sets itself: app.json must not set them, or it would override the platform.
PLATFORM_SET = {
    "PORT": "the port the router sends requests to",
    "WEB_CONCURRENCY": "the Python buildpack sets it to fit the dyno's size, unless the app sets it",
}
# app.json values that are not the project's defaults, on purpose.
HEROKU_VALUES = {
    "ALLOWED_HOSTS": "required, so there is no default; every Heroku app answers on a *.herokuapp.com name",
    "REDIS_SSL_CERT_REQS": "Heroku Redis serves rediss:// with a self-signed certificate",
}

# Loads settings.py, the real-time server's own variables (with use_realtime) and gunicorn.conf.py once per
# environment given on stdin, in one process, and prints what each load produced (every setting's repr, or the
# error) and which variables it read.
LOADER = r"""
import importlib, json, os, runpy, sys, types

slug, environments = json.load(sys.stdin)
reads = set()


class Recording(type(os.environ)):
    def __getitem__(self, name):
        reads.add(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        reads.add(name)
        return super().__contains__(name)


os.environ.__class__ = Recording


def shown(value):
    # A function (AXES_USERNAME_CALLABLE) is a new object in each load: compare it by its name.
    return f"<function {value.__qualname__}>" if isinstance(value, types.FunctionType) else repr(value)

sys.path.insert(0, os.getcwd())
results = []
for environment in environments:
    os.environ.clear()
    os.environ.update(environment)
    reads.clear()
    for name in [name for name in sys.modules if name == slug or name.startswith(slug + ".")]:
        del sys.modules[name]
    sys.argv = ["manage.py", "check"]
    outcome = {}
    try:
        settings = importlib.import_module(slug + ".settings")
        outcome["settings"] = {name: shown(value) for name, value in vars(settings).items() if name.isupper()}
    except (Exception, SystemExit) as error:  # env.py's EnvVarError is a SystemExit
        outcome["settings"] = f"{type(error).__name__}: {error}"
    if os.path.exists(os.path.join(slug, "realtime", "server.py")) and isinstance(outcome["settings"], dict):
        # The Tornado process reads its own variables on top of settings.py's.
        try:
            server = importlib.import_module(slug + ".realtime.server")
            own = server.own_variables(settings.ALLOWED_HOSTS)
            outcome["realtime"] = {name: repr(value) for name, value in own.items()}
        except (Exception, SystemExit) as error:
            outcome["realtime"] = f"{type(error).__name__}: {error}"
    try:
        config = runpy.run_path("gunicorn.conf.py")
        outcome["gunicorn"] = {
            name: repr(value)
            for name, value in config.items()
            if not name.startswith("_") and not callable(value) and not isinstance(value, types.ModuleType)
        }
    except SystemExit as error:
        outcome["gunicorn"] = f"SystemExit: {error}"
    results.append({"outcome": outcome, "reads": sorted(reads)})
print(json.dumps(results))
"""


def is_test_file(path):
    return "tests" in path.parts[:-1] or path.name in {"tests.py", "conftest.py"} or path.name.startswith("test_")


def environ_read(node):
    """The expression naming the variable if node reads os.environ (get, getenv, [...], in), else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        owner = ast.unparse(node.func.value)
        if (owner, node.func.attr) in {("os.environ", "get"), ("os", "getenv")} or owner == "env":
            return node.args[0]
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        return node.slice
    if isinstance(node, ast.Compare) and [ast.unparse(c) for c in node.comparators] == ["os.environ"]:
        return node.left
    return None


def reads_in_code(project):
    """{variable: files} for every environment variable the generated code (not its tests) reads."""
    found = {}
    for path in sorted(project.rglob("*.py")):
        relative = path.relative_to(project)
        if is_test_file(relative):
            continue
        tree = ast.parse(path.read_text())
        # Helpers such as gunicorn.conf.py's _whole_number(name, default) read the variable they are given.
        helpers = {
            function.name
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef) and function.args.args
            for node in ast.walk(function)
            if isinstance(read := environ_read(node), ast.Name) and read.id == function.args.args[0].arg
        }
        for node in ast.walk(tree):
            name = environ_read(node)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
                name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.isupper():
                found.setdefault(name.value, set()).add(str(relative))
    for name in re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", (project / "Procfile").read_text()):
        found.setdefault(name, set()).add("Procfile")
    return found


def load(project, environments):
    """What settings.py, the real-time server and gunicorn.conf.py make of each environment, in the project's own
    virtualenv."""
    copy = project.parent / f"{project.name}-variables" / project.name
    if not copy.exists():
        # Without .env, which would fill in what an environment leaves out.
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".env", ".git"))
    python = project_venv(project) / "python"
    result = subprocess.run(
        [str(python), "-c", LOADER],
        input=json.dumps([project.name, environments]),
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def difference(unset, set_):
    """What changed between two loads, in a few lines: the settings that differ, or the errors."""
    lines = []
    for part in ("settings", "realtime", "gunicorn"):
        before, after = unset["outcome"].get(part), set_["outcome"].get(part)
        if isinstance(before, dict) and isinstance(after, dict):
            lines += [
                f"{part}.{k}: {before.get(k)} -> {after.get(k)}"
                for k in sorted(before | after)
                if before.get(k) != after.get(k)
            ]
        elif before != after:
            lines.append(
                f"{part}: {before if isinstance(before, str) else 'loads'}"
                f" -> {after if isinstance(after, str) else 'loads'}"
            )
    return "; ".join(lines)


def without(environment, name):
    return {key: value for key, value in environment.items() if key != name}


def baseline(name):
    """The environment a variable's default is checked in: production, plus what makes the code read it."""
    return without({**PRODUCTION_ENV, **CONDITIONS.get(name, {})}, name)


@pytest.fixture(scope="module", params=[combination_param(answers) for answers in ADDON_COMBINATIONS])
def project(request, bake):
    return bake(**request.param)


def example(project):
    return variables((project / ".env.example").read_text())


def app_json_values(project):
    """{name: value} for every variable app.json gives a value (not generated secrets)."""
    env = json.loads((project / "app.json").read_text())["env"]
    return {name: entry["value"] for name, entry in env.items() if isinstance(entry, dict) and "value" in entry}


def test_env_example_lists_exactly_the_variables_the_code_reads(project):
    read = reads_in_code(project)
    assert {"SECRET_KEY", "PORT", "DATABASE_URL"} <= set(read), "the reader no longer finds the variables"
    listed = set(example(project))
    missing = {name: sorted(files) for name, files in read.items() if name not in listed}
    assert not missing, f"add these to .env.example (read in): {missing}"
    assert not listed - set(read), f"nothing reads these; remove them from .env.example: {listed - set(read)}"
    declared = set(json.loads((project / "app.json").read_text())["env"])
    assert declared <= listed, f"app.json declares variables .env.example does not list: {declared - listed}"


def test_uncommenting_any_line_of_env_example_changes_nothing(project):
    read = reads_in_code(project)
    python_read = {name for name, files in read.items() if files != {"Procfile"}}
    shown = [variable for variable in example(project).values() if variable.commented]
    for variable in shown:
        if variable.name not in python_read:
            # Only the Procfile reads it: no default could be checked here, so none may be shown.
            assert variable.value == "", f"{variable.name}: show no value, or read it in Python"
    checked = [variable for variable in shown if variable.name in python_read]
    environments = []
    for variable in checked:
        environments += [baseline(variable.name), {**baseline(variable.name), variable.name: variable.value}]
    results = load(project, environments)
    for index, variable in enumerate(checked):
        unset, uncommented = results[2 * index], results[2 * index + 1]
        assert variable.name in unset["reads"], (
            f"{variable.name} is not read with {sorted(baseline(variable.name))} set, so its default cannot be"
            " checked; if the code reads it only when another variable says so, add that to CONDITIONS"
        )
        assert uncommented["outcome"] == unset["outcome"], (
            f".env.example shows `# {variable.name}={variable.value}`, but uncommenting it changes"
            f" {difference(unset, uncommented)}"
        )


def test_app_json_gives_the_defaults_except_where_heroku_needs_its_own(project):
    values = app_json_values(project)
    overridden = {name: PLATFORM_SET[name] for name in values if name in PLATFORM_SET}
    assert not overridden, f"app.json must leave these to Heroku: {overridden}"
    shown = {name: variable.value for name, variable in example(project).items() if variable.commented}
    names = sorted(values)
    environments = []
    for name in names:
        environments += [baseline(name), {**baseline(name), name: values[name]}]
    results = load(project, environments)
    for index, name in enumerate(names):
        unset, set_ = results[2 * index], results[2 * index + 1]
        same = set_["outcome"] == unset["outcome"]
        if name in HEROKU_VALUES:
            assert not same, f"app.json's {name}={values[name]} is the default now; drop it from HEROKU_VALUES"
            continue
        assert same, (
            f"app.json sets {name}={values[name]}, which is not the project's default: {difference(unset, set_)}"
        )
        if shown.get(name):
            assert values[name] == shown[name], f"app.json says {name}={values[name]}, .env.example {shown[name]}"


# "| `NAME` | value |" rows and "`NAME` (value" mentions, where the value is a number or in backticks;
# checked where .env.example shows a value (where it shows none, the prose may describe the default).
TABLE_ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|\s*(?P<value>`[^`|]*`|\d[\w/.]*)\s*\|", re.M)
MENTION = re.compile(r"`(?P<name>[A-Z][A-Z0-9_]*)` \((?P<value>`[^`]*`|\d[\w/.]*)[;,) ]")


def test_defaults_written_in_prose_are_the_ones_env_example_shows(bake):
    project = bake(use_rest=True, use_realtime=True)
    shown = {
        name: variable.value for name, variable in example(project).items() if variable.commented and variable.value
    }
    pages = [*project.rglob("*.md"), *DOCS.glob("*.md")]
    claims = []
    for page in pages:
        text = page.read_text()
        for match in [*TABLE_ROW.finditer(text), *MENTION.finditer(text)]:
            if match["name"] in shown:
                claims.append((page.name, match["name"], match["value"].strip("`")))
    assert claims, "the patterns no longer find the defaults written in the READMEs"
    wrong = [
        f"{page}: {name} {value} (.env.example: {shown[name]!r})"
        for page, name, value in claims
        if value != shown[name]
    ]
    assert not wrong, "defaults in prose that differ from .env.example:\n" + "\n".join(wrong)
