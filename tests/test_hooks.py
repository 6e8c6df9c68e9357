"""Answers: bad ones stop with one clear line and no files; odd but valid ones give a working project."""

import ast
import json
import subprocess
import sys
import tomllib

import jinja2
import pytest
import yaml

from .conftest import ADDON_COMBINATIONS, TEMPLATE, find_python, project_venv, require, run

COOKIECUTTER = [sys.executable, "-m", "cookiecutter", "--no-input", "--default-config", str(TEMPLATE)]


def generate(output, *answers):
    return subprocess.run([*COOKIECUTTER, "-o", str(output), *answers], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("project_slug=My-Site", "ERROR: project_slug 'My-Site' must be a lowercase ASCII Python identifier"),
        ("project_slug=2fast", "ERROR: project_slug '2fast' must be a lowercase ASCII Python identifier"),
        ("project_slug=café", "ERROR: project_slug 'café' must be a lowercase ASCII Python identifier"),
        ("project_slug=class", "ERROR: project_slug 'class' is a Python keyword"),
        ("project_slug=match", "ERROR: project_slug 'match' is a Python keyword"),
        ("project_slug=json", "ERROR: project_slug 'json' would shadow a module of that name"),
        ("project_slug=django", "ERROR: project_slug 'django' would shadow a module of that name"),
        ("project_slug=tornado", "ERROR: project_slug 'tornado' would shadow a module of that name"),
        ("project_slug=tests", "ERROR: project_slug 'tests' would shadow a module of that name"),
        ("project_slug=asgiref", "ERROR: project_slug 'asgiref' would shadow a module of that name"),
        ("project_slug=sqlparse", "ERROR: project_slug 'sqlparse' would shadow a module of that name"),
        ("project_slug=jsonschema", "ERROR: project_slug 'jsonschema' would shadow a module of that name"),
        ("project_slug=conftest", "ERROR: project_slug 'conftest' would shadow a module of that name"),
        ("project_name=🚀🚀", "ERROR: project_name '🚀🚀' has no letters to make a package name from"),
        ("project_name= ", "ERROR: project_name ' ' must not be empty"),
        ("description=two\nlines", "ERROR: description 'two\\nlines' must be one line of plain text"),
        ("email=not-an-email", "ERROR: email 'not-an-email' is not an email address (name@domain)"),
        ('email=a"b@example.com', "ERROR: email 'a\"b@example.com' is not an email address (name@domain)"),
    ],
)
def test_a_bad_answer_stops_with_one_line_and_writes_nothing(tmp_path, answer, message):
    result = generate(tmp_path, answer)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ") and "Stopping" not in line]
    assert len(ours) == 1 and ours[0].startswith(message), result.stderr
    assert "; e.g. " in ours[0]  # and a valid example to copy
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("slug", "option"), [("api", "use_rest"), ("realtime", "use_realtime")])
def test_a_project_cannot_share_the_app_label_of_a_chosen_add_on(tmp_path, slug, option):
    refused = generate(tmp_path, f"project_slug={slug}", f"{option}=true")
    assert refused.returncode != 0
    assert f"ERROR: project_slug '{slug}' is the app label of a chosen add-on; e.g." in refused.stderr
    assert list(tmp_path.iterdir()) == []
    assert generate(tmp_path, f"project_slug={slug}", f"{option}=false").returncode == 0  # free without it


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("use_rest=maybe", "maybe provided for variable use_rest could not be converted to a boolean"),
        ("python_version=3.9", "3.9 provided for choice variable python_version, but the choices are"),
        ("package_manager=conda", "conda provided for choice variable package_manager, but the choices are"),
    ],
)
def test_answers_cookiecutter_itself_rejects_write_nothing_either(tmp_path, answer, message):
    result = generate(tmp_path, answer)
    assert result.returncode != 0
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


ODD_TEXT = {
    "project_name": 'Café "Ünïcode" \\ 🚀',
    "description": 'It\'s a "quoted" \\back\\slash — ünïcode ✨ description',
    "author_name": 'Zoë O\'Brien "Z" 🦄',
}


def test_quotes_backslashes_and_emoji_make_valid_files_and_a_working_project(bake):
    project = bake(**ODD_TEXT, project_slug="odd_text", use_rest=True, use_realtime=True)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == ODD_TEXT["description"]
    assert pyproject["project"]["authors"][0]["name"] == ODD_TEXT["author_name"]
    assert json.loads((project / "app.json").read_text())["description"] == ODD_TEXT["description"]
    yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    assert f"# {ODD_TEXT['project_name']}" in (project / "README.md").read_text()
    bin_dir = project_venv(project)
    run(["ruff", "check", "."], project, bin_dir)
    run(["ruff", "format", "--check", "."], project, bin_dir)
    shown = run(["pytest", "-q", "tests/test_views.py"], project, bin_dir)
    assert "passed" in shown.stdout
    name = run(["python", "-c", "from odd_text.views import PROJECT_NAME; print(PROJECT_NAME)"], project, bin_dir)
    assert name.stdout.strip() == ODD_TEXT["project_name"]


def tree(project):
    """{relative path: bytes} of every file, except the per-bake secret in .env."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.name != ".env"
    }


def test_a_config_file_and_key_value_answers_give_identical_projects(tmp_path):
    answers = {"project_name": "Class Demo", "use_rest": True, "python_version": "3.13", "email": "t@school.example"}
    config = tmp_path / "answers.yaml"
    config.write_text(yaml.safe_dump({"default_context": answers}))
    with_file = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "--config-file", str(config)]
    from_file = subprocess.run([*with_file, "-o", str(tmp_path / "a")], check=True)
    pairs = [f"{key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in answers.items()]
    from_args = generate(tmp_path / "b", *pairs)
    assert from_file.returncode == from_args.returncode == 0, from_args.stderr
    first, second = tree(tmp_path / "a" / "class_demo"), tree(tmp_path / "b" / "class_demo")
    assert first == second
    assert "3.13" in first[".python-version"].decode()


def test_each_project_gets_its_own_secret_in_a_git_ignored_env_file(bake, tmp_path):
    secrets = []
    for output in ("one", "two"):
        assert generate(tmp_path / output).returncode == 0
        env = (tmp_path / output / "my_project" / ".env").read_text()
        secrets.append(env.split("SECRET_KEY=")[1].strip())
        assert "DEBUG=true" in env.splitlines()
    assert secrets[0] != secrets[1]
    assert all(len(secret) >= 50 and "$" not in secret for secret in secrets)
    assert ".env\n" in (tmp_path / "one" / "my_project" / ".gitignore").read_text()


def test_init_git_makes_one_commit_without_the_env_file_and_a_rerun_changes_nothing(tmp_path):
    answers = ["init_git=true", "author_name=Ada Lovelace", "email=ada@example.com"]
    assert generate(tmp_path, *answers).returncode == 0
    project = tmp_path / "my_project"
    git = ["git", "-C", str(project)]
    log = subprocess.run([*git, "log", "--format=%an <%ae>|%s"], capture_output=True, text=True, check=True)
    assert log.stdout.splitlines() == ["Ada Lovelace <ada@example.com>|Start from cookiecutter-lightweight-django"]
    tracked = subprocess.run([*git, "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert "manage.py" in tracked and ".env" not in tracked
    env_before = (project / ".env").read_text()
    rerun = subprocess.run([*COOKIECUTTER, "-o", str(tmp_path), "--overwrite-if-exists", *answers], text=True)
    assert rerun.returncode == 0
    assert (project / ".env").read_text() == env_before
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout == ""
    assert len(subprocess.run([*git, "log", "--oneline"], capture_output=True, text=True).stdout.splitlines()) == 1


def test_cruft_creates_checks_and_updates_a_project_keeping_its_secret(tmp_path):
    template = tmp_path / "template"
    subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(template)], check=True)
    cruft = [sys.executable, "-m", "cruft"]
    subprocess.run([*cruft, "create", str(template), "--no-input", "--output-dir", str(tmp_path / "out")], check=True)
    project = tmp_path / "out" / "my_project"
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "generated"], cwd=project, check=True)
    checked = subprocess.run([*cruft, "check"], cwd=project, capture_output=True, text=True)
    assert checked.returncode == 0 and "up to date" in checked.stdout, checked.stdout + checked.stderr

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA line from a newer template.\n")
    subprocess.run([*git, "commit", "-qam", "newer template"], cwd=template, check=True)
    env_before = (project / ".env").read_text()
    updated = subprocess.run([*cruft, "update", "-y"], cwd=project, capture_output=True, text=True)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "A line from a newer template." in (project / "README.md").read_text()
    assert (project / ".env").read_text() == env_before
    assert not list(project.rglob("*.rej"))


def test_a_cruft_update_that_rejects_the_env_file_leaves_nothing_secret_for_git_add(tmp_path):
    """Projects made before `[tool.cruft] skip` get .env's rejected hunks in .env.rej: git must ignore them."""
    template = tmp_path / "template"
    subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(template)], check=True)
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    pyproject = template / "{{cookiecutter.project_slug}}" / "pyproject.toml"
    current = pyproject.read_text()
    skip = next(line for line in current.splitlines(keepends=True) if line.startswith("skip = "))
    pyproject.write_text(current.replace(skip, ""))  # as the template was before it told cruft to skip .env
    subprocess.run([*git, "commit", "-qam", "older template"], cwd=template, check=True)
    cruft = [sys.executable, "-m", "cruft"]
    subprocess.run([*cruft, "create", str(template), "--no-input", "--output-dir", str(tmp_path / "out")], check=True)
    project = tmp_path / "out" / "my_project"
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "generated"]):
        subprocess.run([*git, *command], cwd=project, check=True)
    env_before = (project / ".env").read_text()

    pyproject.write_text(current)
    subprocess.run([*git, "commit", "-qam", "newer template"], cwd=template, check=True)
    updated = subprocess.run([*cruft, "update", "-y"], cwd=project, capture_output=True, text=True)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / ".env").read_text() == env_before
    assert (project / ".env.rej").exists()  # cruft's diff of two bakes' secrets, which cannot apply
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project, capture_output=True)
    changed = {line[3:] for line in status.stdout.decode().splitlines()}
    assert changed == {".cruft.json", "pyproject.toml"}, "what `git add -A` would commit: the update, no secret"
    ignored = subprocess.run(["git", "check-ignore", ".env.rej", "README.md.orig"], cwd=project, capture_output=True)
    assert ignored.stdout.decode().split() == [".env.rej", "README.md.orig"]


def test_interactive_questions_are_labelled_and_enter_gives_the_defaults(tmp_path):
    labels = json.loads((TEMPLATE / "cookiecutter.json").read_text())["__prompts__"]
    asked = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--default-config", str(TEMPLATE), "-o", str(tmp_path / "asked")],
        input="\n" * len(labels),
        capture_output=True,
        text=True,
    )
    assert asked.returncode == 0, asked.stderr
    for label in labels.values():
        assert label in asked.stdout.replace("\n", "")
    assert generate(tmp_path / "defaults").returncode == 0
    assert tree(tmp_path / "asked" / "my_project") == tree(tmp_path / "defaults" / "my_project")


def test_the_hook_accepts_exactly_the_pythons_cookiecutter_json_offers():
    offered = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    hook = ast.parse((TEMPLATE / "hooks" / "pre_gen_project.py").read_text())
    pythons = next(node.value for node in hook.body if isinstance(node, ast.Assign) and node.targets[0].id == "PYTHONS")
    assert ast.literal_eval(pythons) == offered


def test_the_hook_refuses_an_unknown_package_manager_in_one_line():
    """Answers that reach the hook without cookiecutter's or copier's choice check (a replay file, an edited
    .cruft.json) stop there too, before a file is written."""
    defaults = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    answers = {key: value[0] if isinstance(value, list) else value for key, value in defaults.items()}
    answers |= {"project_slug": "my_project", "package_manager": "conda"}
    hook = jinja2.Environment().from_string((TEMPLATE / "hooks" / "pre_gen_project.py").read_text())
    result = subprocess.run([sys.executable, "-c", hook.render(cookiecutter=answers)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "ERROR: package_manager 'conda' must be one of pip, uv; e.g. package_manager=pip\n"


def test_the_hook_accepts_exactly_the_package_managers_cookiecutter_json_offers():
    offered = json.loads((TEMPLATE / "cookiecutter.json").read_text())["package_manager"]
    assert hook_constant("PACKAGE_MANAGERS") == offered


def hook_constant(name):
    """The value of a constant of the pre-generation hook, read without running it (it is a template)."""
    hook = ast.parse((TEMPLATE / "hooks" / "pre_gen_project.py").read_text())
    return next(
        ast.literal_eval(node.value)
        for node in hook.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name
    )


# Prints the import names a virtualenv's distributions install: top_level.txt where a wheel has one,
# and the first part of every path in its RECORD (packages, single modules, compiled modules).
IMPORT_NAMES = r"""
import importlib.metadata, json, re
names = set()
for dist in importlib.metadata.distributions():
    found = (dist.read_text("top_level.txt") or "").split()
    paths = [file.parts for file in dist.files or [] if file.parts[0] not in ("..", "__pycache__")]
    found += [parts[0] for parts in paths if len(parts) > 1 and not parts[0].endswith((".dist-info", ".data"))]
    found += [parts[0].split(".")[0] for parts in paths if len(parts) == 1 and parts[0].endswith((".py", ".so"))]
    names |= {name for name in found if re.fullmatch(r"[a-z][a-z0-9_]*", name)}  # the names a slug could take
print(json.dumps(sorted(names)))
"""


def test_the_hook_refuses_every_name_that_any_generated_project_installs(bake):
    installed = set()
    for python_version in json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]:
        python = find_python(python_version)
        require(python, f"Python {python_version} (offered by cookiecutter.json) is not installed on this machine")
        for answers in ADDON_COMBINATIONS:
            project = bake(**answers, python_version=python_version)
            bin_dir = project_venv(project, python)
            installed |= set(json.loads(run(["python", "-c", IMPORT_NAMES], project, bin_dir).stdout))
    assert {"django", "asgiref", "sqlparse", "rest_framework", "jsonschema", "tornado"} <= installed  # the reader works
    listed = hook_constant("INSTALLED")
    assert not installed - listed, f"add to INSTALLED in hooks/pre_gen_project.py: {sorted(installed - listed)}"
    assert not listed - installed, f"nothing installs these; remove from INSTALLED: {sorted(listed - installed)}"
