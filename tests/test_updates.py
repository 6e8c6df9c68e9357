"""Updates proven: a project generated from an older template updates to the working tree.

Where each tool's project starts (the fixed choices are explained in docs/updates.md):
- cruft: the latest release tag whose files differ from the working tree; until there is one (before
  the first release, and on the commit of the first release itself), commit de9e11c (2026-11-30), the
  last one on Django 5.2, so the update crosses a Django feature release and a month of template work.
- copier: the latest such release tag that has copier.yml; until then commit 8a93ed2, the first whose
  copier.yml runs the post-generation hook only when a project is made. copier can only update from
  a template commit it can read, and an update from 9bdac14 (the first copier.yml, which ran the hook
  in update's scratch copies too) deletes .env: copier removes from the project whatever only its
  render of the older template has.

The update goes to the working tree, uncommitted changes included (three_tools.template_repository()
commits it in a throwaway clone). An untouched project must come out as a fresh project from the
working tree would be; an edited one the same plus its edits; both with no conflict, no .rej file
and nothing secret or machine-specific left behind.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import pytest
import yaml

from .conftest import ADDON_COMBINATIONS, DEFAULTS, TEMPLATE, combination_param, fresh_database, project_venv, run
from .released import on_a_terminal
from .three_tools import ANSWERS_FILES, environment, generate, git, project_tree, release, template_repository

FIXED_CRUFT_BASE = "de9e11c"  # until the first release tag; see the module docstring
FIXED_COPIER_BASE = "8a93ed2"  # until the first release tag with copier.yml; see the module docstring


def latest_tag(repository, having=None):
    """The newest tag reachable from HEAD that holds other files than HEAD (and has the file `having`), or None.
    A release of exactly the files under test would update nothing, so the one before it is the base then."""
    tree = git("rev-parse", "HEAD^{tree}", cwd=repository).strip()
    for tag in git("tag", "--merged", "HEAD", "--sort=-creatordate", cwd=repository).split():
        if git("rev-parse", f"{tag}^{{tree}}", cwd=repository).strip() == tree:
            continue
        if having is None or git("ls-tree", "--name-only", tag, "--", having, cwd=repository).strip():
            return tag
    return None


def base_commit(tool, repository):
    if tool == "cruft":
        return latest_tag(repository) or FIXED_CRUFT_BASE
    return latest_tag(repository, having="copier.yml") or FIXED_COPIER_BASE


def test_updates_start_from_the_newest_release_whose_files_differ_from_the_working_tree(tmp_path):
    template = released_template(tmp_path / "template", version="9.0.0")  # a release of exactly the files under test
    assert (base_commit("cruft", template), base_commit("copier", template)) == (FIXED_CRUFT_BASE, FIXED_COPIER_BASE)
    (template / "CHANGELOG.md").write_text("A change after the release.\n")
    git("commit", "-qam", "after the release", cwd=template)
    assert (base_commit("cruft", template), base_commit("copier", template)) == ("v9.0.0", "v9.0.0")


UPDATE = {
    "cruft": [sys.executable, "-m", "cruft", "update", "-y", "--checkout", "HEAD"],
    "copier": [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--vcs-ref", "HEAD"],
}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return template_repository(tmp_path_factory.mktemp("updates") / "template")


def generate_and_commit(tool, template, output, answers, ref="HEAD"):
    result = generate(tool, template, output, answers, ref=ref)
    assert result.returncode == 0, f"{tool} at {ref}:\n{result.stdout}\n{result.stderr}"
    project = output / "my_project"
    if not (project / ".git").exists():  # init_git=true made it already
        git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "--allow-empty", "-m", "Generated", cwd=project)
    return project


def update(tool, project):
    result = subprocess.run(UPDATE[tool], cwd=project, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, f"{tool} update:\n{result.stdout}\n{result.stderr}"
    return result


def assert_clean_update(tool, project, secret, expected):
    """No conflict, no rejected hunk, nothing secret or machine-specific; the files are `expected`."""
    leave_out = {".env", ANSWERS_FILES[tool]}
    status = git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=project).splitlines()
    assert not [line for line in status if line[:2] in {"UU", "AA", "DU", "UD", "AU", "UA", "DD"}], status
    # Untracked: only the template's new files (cruft's fallback to `git apply --reject` does not stage them).
    untracked = {line[3:] for line in status if line.startswith("??")}
    assert untracked <= expected.keys(), f"left behind: {untracked - expected.keys()}"
    assert [line for line in status if line.startswith("!!")] == ["!! .env"], status
    assert not list(project.rglob("*.rej")) and not list(project.rglob("*.orig"))
    files = project_tree(project, leave_out=leave_out)
    scratch = tempfile.gettempdir()
    for name, (_, content) in files.items():
        text = content.decode(errors="replace")
        assert not re.search(r"^(<{7}|>{7})( |$)", text, re.M), f"conflict markers in {name}"
        assert secret not in text, f"the .env secret is in {name}"
        assert scratch + "/" not in text, f"{name} names a scratch folder"
    assert (project / ".env").read_text().count(secret) == 1
    assert files == expected


def env_secret(project):
    return re.search(r"^SECRET_KEY=(\S+)$", (project / ".env").read_text(), re.M)[1]


def recorded_answers(tool, project):
    """The answers the tool's answers file holds (the old template's defaults for what was not given)."""
    if tool == "cruft":
        answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    else:
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return {name: value for name, value in answers.items() if not name.startswith("_")}


def recorded_commit(tool, project, template):
    """The template commit the answers file names: cruft writes the hash, copier `git describe`'s
    name for it (v1.0.0-1-g01ad960) once the template has a release tag."""
    if tool == "cruft":
        recorded = json.loads((project / ".cruft.json").read_text())["commit"]
    else:
        recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    return git("rev-parse", f"{recorded}^{{commit}}", cwd=template).strip()


def test_a_commit_recorded_in_quotes_is_read_as_the_commit(template, tmp_path):
    # copier quotes a short hash of digits only ('7833145'), which YAML would read as a number;
    # Every copier update test failed in CI on a template copy whose hash was one.
    head = git("rev-parse", "HEAD", cwd=template).strip()
    (tmp_path / ".copier-answers.yml").write_text(f"_commit: '{head[:7]}'\n_src_path: {template}\n")
    assert recorded_commit("copier", tmp_path, template) == head


def fresh(tool, template, tmp_path, project):
    """What the working tree generates with the project's recorded answers, without its answers file and .env."""
    result = generate(tool, template, tmp_path / "fresh", recorded_answers(tool, project))
    assert result.returncode == 0, result.stderr
    return project_tree(tmp_path / "fresh" / "my_project", leave_out={".env", ANSWERS_FILES[tool]})


@pytest.mark.parametrize("tool", ["cruft", "copier"])
@pytest.mark.parametrize(
    "answers",
    [combination_param(answers) for answers in ADDON_COMBINATIONS]
    + [combination_param({**DEFAULTS, "init_git": True})],
)
def test_an_untouched_project_updates_to_what_the_template_generates_now(template, tmp_path, tool, answers):
    # cruft cannot update an init_git project from before [tool.cruft] skipped .git (it diffs the .git/ of its
    # scratch copies); that skip came with copier.yml, before copier's base.
    base = base_commit("copier" if answers["init_git"] else tool, template)
    project = generate_and_commit(tool, template, tmp_path / "old", answers, ref=base)
    secret = env_secret(project)
    update(tool, project)
    assert_clean_update(tool, project, secret, expected=fresh(tool, template, tmp_path, project))
    head = git("rev-parse", "HEAD", cwd=template).strip()
    assert recorded_commit(tool, project, template) == head, "the answers file names the commit it updated to"


# A team's typical edits: a new view (in a module of its own) with its route and test, a changed setting, an
# extra requirement. They sit where the template's own changes do not: a view appended to views.py right
# after a function the template changed, or a route beside one it added, would be a real conflict.
NEW_VIEW = '''"""The team's own pages."""

from django.http import JsonResponse

from .views import PROJECT_NAME


def about(request):
    return JsonResponse({"project": PROJECT_NAME})
'''
NEW_TEST = """def test_the_teams_own_page_answers(client):
    assert client.get("/about").json() == {"project": "My Project"}
"""


def replace_once(text, old, new):
    assert text.count(old) == 1, f"the edit expects {old!r} once"
    return text.replace(old, new)


EDITS = {
    "my_project/pages.py": lambda text: NEW_VIEW,
    "my_project/urls.py": lambda text: (
        replace_once(text, "from . import views\n", "from . import pages, views\n")
        + '\nurlpatterns += [path("about", pages.about, name="about")]\n'
    ),
    "my_project/settings.py": lambda text: replace_once(text, 'TIME_ZONE = "UTC"', 'TIME_ZONE = "Europe/Paris"'),
    "requirements.txt": lambda text: text + "# The team's own addition\nrequests==2.34.2\n",
    "tests/test_about.py": lambda text: NEW_TEST,
}


def edit(files):
    """Apply EDITS to {path: (mode, bytes)}."""
    edited = dict(files)
    for name, change in EDITS.items():
        mode, content = files.get(name, (0o100644, b""))
        new = change(content.decode()).encode()
        assert new != content, f"the edit of {name} found nothing to change"
        edited[name] = (mode, new)
    return edited


@pytest.mark.parametrize("tool", ["cruft", "copier"])
def test_a_project_with_local_edits_updates_keeping_them_and_passes_its_tests(template, tmp_path, tool):
    project = generate_and_commit(tool, template, tmp_path / "old", DEFAULTS, ref=base_commit(tool, template))
    for name, (_, content) in edit(project_tree(project, leave_out={".env", ANSWERS_FILES[tool]})).items():
        (project / name).write_bytes(content)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "Our own page, time zone and library", cwd=project)
    secret = env_secret(project)
    update(tool, project)
    # The 3-way merge: the template's changes and the team's edits, both whole.
    assert_clean_update(tool, project, secret, expected=edit(fresh(tool, template, tmp_path, project)))
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "Update from the template", cwd=project)
    bin_dir = project_venv(project)
    env = {name: os.environ[name] for name in ("REDIS_URL", "REQUIRE_SERVICES") if name in os.environ}
    suite = run(["pytest", "-q"], project, bin_dir, {**env, "DATABASE_URL": fresh_database(f"ldj_update_{tool}")})
    assert re.search(r"\d+ passed", suite.stdout) and " failed" not in suite.stdout, suite.stdout
    if os.environ.get("REQUIRE_SERVICES") == "1":
        assert " skipped" not in suite.stdout, suite.stdout
    assert "test_the_teams_own_page_answers" in run(["pytest", "--collect-only", "-q"], project, bin_dir).stdout


@pytest.mark.parametrize("commit", [FIXED_CRUFT_BASE, FIXED_COPIER_BASE])
def test_the_fixed_bases_are_older_commits_of_this_repository(commit):
    full = subprocess.run(["git", "rev-parse", f"{commit}^{{commit}}"], cwd=TEMPLATE, capture_output=True)
    assert full.returncode == 0, f"{commit} is not a commit of this repository"
    assert subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=TEMPLATE).returncode == 0


@pytest.mark.parametrize("tool", ["cruft", "copier"])
def test_an_update_keeps_what_a_team_added_where_an_unchosen_option_would_go(tmp_path, tool):
    template = template_repository(tmp_path / "template")
    project = generate_and_commit(
        tool, template, tmp_path, {**DEFAULTS, "use_github_actions": False, "license": "none"}
    )
    own = {".github/workflows/deploy.yml": "name: Our own deploy\n", "LICENSE": "Proprietary: Example Ltd.\n"}
    for name, text in own.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "Our own workflow and licence", cwd=project)
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA line from a newer template.\n")
    git("commit", "-qam", "A newer template", cwd=template)
    update(tool, project)
    assert "A line from a newer template." in (project / "README.md").read_text()
    assert {name: (project / name).read_text() for name in own} == own


@pytest.mark.parametrize(
    ("tool", "labels"), [("cruft", ("ours", "theirs")), ("copier", ("before updating", "after updating"))]
)
def test_a_change_where_the_template_changed_too_is_a_conflict_in_the_file_as_the_page_shows(tmp_path, tool, labels):
    template = template_repository(tmp_path / "template")
    project = generate_and_commit(tool, template, tmp_path, DEFAULTS)
    settings = project / "my_project" / "settings.py"
    settings.write_text(settings.read_text().replace('TIME_ZONE = "UTC"', 'TIME_ZONE = "Europe/Paris"'))
    git("commit", "-qam", "Our time zone", cwd=project)
    in_template = template / "{{cookiecutter.project_slug}}" / "{{cookiecutter.project_slug}}" / "settings.py"
    in_template.write_text(in_template.read_text().replace('TIME_ZONE = "UTC"', 'TIME_ZONE = "Etc/UTC"'))
    git("commit", "-qam", "The template's time zone", cwd=template)
    update(tool, project)  # exit status 0 all the same
    assert "UU my_project/settings.py" in git("status", "--short", cwd=project).splitlines()
    (shown,) = re.findall(
        r"```text\n(<<<<<<< .*?>>>>>>> .*?\n)```", (TEMPLATE / "docs" / "updates.md").read_text(), re.S
    )
    expected = shown.replace("before updating", labels[0]).replace("after updating", labels[1])
    assert expected in settings.read_text()
    assert not list(project.rglob("*.rej"))


def test_answering_crufts_question_stops_cruft_so_the_pages_update_with_y(template, tmp_path):
    """docs/updates.md keeps `-y`: with the typer installed beside cruft 2.16.0, its question crashes cruft.
    When a cruft or typer release fixes it, this fails: then the page can offer the question again."""
    project = generate_and_commit("cruft", template, tmp_path, DEFAULTS, ref=FIXED_CRUFT_BASE)
    before = (project / ".cruft.json").read_text()
    env = {
        **environment(),
        "TERM": "xterm",
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
    }
    status, output = on_a_terminal("cruft update --checkout HEAD", project, env, r"Apply diff and update\?")
    assert status != 0 and "AssertionError" in output, output
    assert (project / ".cruft.json").read_text() == before  # no update
    assert "Keep `-y`" in (TEMPLATE / "docs" / "updates.md").read_text()


def conflict_shapes():
    """{shape: (commands, the lines they print)} of docs/updates.md's block of cruft's two conflict shapes."""
    (block,) = re.findall(r"```text\n(# .*?)```", (TEMPLATE / "docs" / "updates.md").read_text(), re.S)
    shapes = {}
    for comment, lines in re.findall(r"^# (.*)\n((?:[^#].*\n)+)", block, re.M):
        commands = [line[2:] for line in lines.splitlines() if line.startswith("$ ")]
        shapes[comment] = (commands, [line for line in lines.splitlines() if not line.startswith("$ ")])
    return shapes


@pytest.mark.parametrize("committed_as_generated", [True, False], ids=["committed-first", "changed-first"])
def test_crufts_conflict_shape_depends_on_whether_the_project_as_generated_was_committed(
    tmp_path, committed_as_generated
):
    shapes = conflict_shapes()
    assert len(shapes) == 2, shapes
    comment = next(name for name in shapes if name.startswith("committed") == committed_as_generated)
    commands, shown = shapes[comment]
    template = template_repository(tmp_path / "template")
    result = generate("cruft", template, tmp_path, DEFAULTS)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "my_project"
    git("init", "-q", "-b", "main", cwd=project)
    if committed_as_generated:
        git("add", "-A", cwd=project)
        git("commit", "-q", "-m", "Generated", cwd=project)
    settings = project / "my_project" / "settings.py"
    settings.write_text(settings.read_text().replace('TIME_ZONE = "UTC"', 'TIME_ZONE = "Europe/Paris"'))
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "Our time zone", cwd=project)
    in_template = template / "{{cookiecutter.project_slug}}" / "{{cookiecutter.project_slug}}" / "settings.py"
    in_template.write_text(in_template.read_text().replace('TIME_ZONE = "UTC"', 'TIME_ZONE = "Etc/UTC"'))
    git("commit", "-qam", "The template's time zone", cwd=template)
    update("cruft", project)  # exit status 0 in both shapes
    printed = [
        subprocess.run(["bash", "-c", command], cwd=project, capture_output=True, text=True, check=True).stdout
        for command in commands
    ]
    assert "".join(printed).splitlines() == shown
    if committed_as_generated:
        assert "<<<<<<< ours" in settings.read_text()
    else:  # the file as it was, the template's change only in the .rej file
        assert 'TIME_ZONE = "Europe/Paris"' in settings.read_text() and "<<<<<<<" not in settings.read_text()
        assert '+TIME_ZONE = "Etc/UTC"' in (project / "my_project" / "settings.py.rej").read_text()


@pytest.mark.parametrize(
    ("tool", "change"),
    [("cruft", ["--variables-to-update", '{"use_rest": true}']), ("copier", ["--data", "use_rest=true"])],
)
def test_an_update_can_change_an_answer_and_add_an_add_on(template, tmp_path, tool, change):
    project = generate_and_commit(tool, template, tmp_path, DEFAULTS)
    secret = env_secret(project)
    result = subprocess.run([*UPDATE[tool], *change], cwd=project, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert recorded_answers(tool, project)["use_rest"] is True
    assert_clean_update(tool, project, secret, expected=fresh(tool, template, tmp_path, project))
    assert (project / "my_project" / "api" / "views.py").exists()


def test_an_init_git_project_from_before_the_git_skip_updates_once_cruft_json_skips_git(template, tmp_path):
    project = generate_and_commit("cruft", template, tmp_path, {**DEFAULTS, "init_git": True}, ref=FIXED_CRUFT_BASE)
    stopped = subprocess.run(UPDATE["cruft"], cwd=project, env=environment(), capture_output=True, text=True)
    assert stopped.returncode != 0 and "ChangesetUnicodeError" in stopped.stdout + stopped.stderr
    state = json.loads((project / ".cruft.json").read_text())
    (project / ".cruft.json").write_text(json.dumps({**state, "skip": [".git"]}, indent=2) + "\n")
    git("commit", "-qam", "cruft: skip .git", cwd=project)  # what docs/updates.md and the changelog say to do
    secret = env_secret(project)
    update("cruft", project)
    assert_clean_update("cruft", project, secret, expected=fresh("cruft", template, tmp_path, project))


# The generated workflow that tells a team its project is behind the template


def behind_check(project):
    """The shell script of the template-update workflow's check step."""
    workflow = yaml.safe_load((project / ".github" / "workflows" / "template-update.yml").read_text())
    (step,) = [step for step in workflow["jobs"]["behind"]["steps"] if step.get("name") == "Compare with the template"]
    return step["run"]


def run_behind_check(project, tmp_path):
    """The step as GitHub runs it (bash -e), with this venv's cruft and copier instead of a pip install."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "python").write_text(f'#!/bin/sh\n[ "$1 $2" = "-m pip" ] && exit 0\nexec {sys.executable} "$@"\n')
    (shim / "python").chmod(0o755)
    path = f"{shim}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", behind_check(project)]
    return subprocess.run(command, cwd=project, env={**environment(), "PATH": path}, capture_output=True, text=True)


@pytest.mark.parametrize(("tool", "behind"), [("cruft", "out of date"), ("copier", "Run copier update --trust.")])
def test_the_weekly_workflow_fails_once_the_template_has_a_newer_commit(tmp_path, tool, behind):
    template = template_repository(tmp_path / "template")
    # As from the repository's URL: copier keeps a git+file:// URL; cruft records a file:// one as a path.
    project = generate_and_commit(tool, f"git+file://{template}" if tool == "copier" else template, tmp_path, DEFAULTS)
    if tool == "cruft":
        recorded = json.loads((project / ".cruft.json").read_text())
        (project / ".cruft.json").write_text(json.dumps({**recorded, "template": f"file://{template}"}, indent=2))
        git("commit", "-qam", "The template's URL", cwd=project)
    checked = run_behind_check(project, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA newer template.\n")
    release(template, "A newer template")
    checked = run_behind_check(project, tmp_path)
    assert checked.returncode != 0 and behind in checked.stdout, checked.stdout + checked.stderr


@pytest.mark.parametrize("tool", ["cruft", "copier", "cookiecutter"])
def test_the_weekly_workflow_passes_when_there_is_no_template_to_compare_with(template, tmp_path, tool):
    project = generate_and_commit(tool, template, tmp_path, DEFAULTS)  # from a local folder
    checked = run_behind_check(project, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ("no record of the template" if tool == "cookiecutter" else "from a local folder") in checked.stdout


def test_the_weekly_workflow_is_valid_runs_on_no_push_and_installs_the_template_tools_own_pins(bake):
    path = bake(use_github_actions=True) / ".github" / "workflows" / "template-update.yml"
    workflow = yaml.safe_load(path.read_text())
    assert set(workflow[True]) == {"schedule", "workflow_dispatch"}  # YAML reads `on:` as True; never on a push
    pins = (TEMPLATE / "requirements-dev.txt").read_text()
    for tool in ("cruft", "copier"):
        (pin,) = re.findall(rf"{tool}==\S+", behind_check(path.parent.parent.parent))
        assert re.search(rf"^{re.escape(pin)}\b", pins, re.M), (
            f"the workflow installs {pin}; requirements-dev.txt differs"
        )
    # check-jsonschema's vendored copy of the schema GitHub uses, so the check runs offline.
    schema = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)]
    checked = subprocess.run(schema, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# The update workflow as docs/updates.md and the generated README show it, replayed


def console_commands(text):
    """[(command, [the output lines shown under it])] of every ```console block, in order."""
    found = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            else:
                found[-1][1].append(line)
    return found


def assert_shown(command, shown, printed):
    """Every line shown under a command is in what it printed, in order; "..." stands for lines left out."""
    lines = [line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", printed).splitlines()]
    position = 0
    for line in (line.rstrip() for line in shown if line != "..."):
        assert line in lines[position:], (
            f"$ {command} did not print {line!r} (after line {position}); it printed:\n{printed}"
        )
        position = lines.index(line, position) + 1


class Session:
    """A reader typing the page's commands: TEMPLATE set, cruft's commands in one folder, copier's in another."""

    def __init__(self, template, folder):
        self.env = {**environment(), "TEMPLATE": str(template)}
        self.env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
        self.cwd = {tool: folder / tool for tool in ("cruft", "copier")}
        for path in self.cwd.values():
            path.mkdir()
        self.tool = "cruft"

    def run(self, command, shown):
        self.tool = next((tool for tool in self.cwd if command.startswith(tool)), self.tool)
        if match := re.match(r"cd (\S+) && ", command):
            self.cwd[self.tool] /= match[1]
        full = ["bash", "-c", command.removeprefix(match[0]) if match else command]
        result = subprocess.run(
            full, cwd=self.cwd[self.tool], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        expected = 1 if command == "cruft check" and "FAILURE" in "".join(shown) else 0
        assert result.returncode == expected, f"$ {command} exited {result.returncode}:\n{result.stdout}"
        assert_shown(command, shown, result.stdout)


def released_template(path, version="1.0.0"):
    """A template repository whose one release, v<version>, is the working tree; new_release() makes v1.1.0."""
    template = template_repository(path)
    for tag in git("tag", cwd=template).split():
        git("tag", "-d", tag, cwd=template)
    git("tag", "-a", f"v{version}", "-m", version, cwd=template)
    return template


def new_release(template):
    """Release 1.1.0: a line added to .env.example, the change the pages' runs show."""
    example = template / "{{cookiecutter.project_slug}}" / ".env.example"
    example.write_text(example.read_text() + "# A line from a newer template.\n")
    git("commit", "-qam", "A newer template", cwd=template)
    git("tag", "-a", "v1.1.0", "-m", "1.1.0", cwd=template)


def test_the_updates_page_shows_what_the_commands_print(tmp_path):
    template = released_template(tmp_path / "template")
    commands = console_commands((TEMPLATE / "docs" / "updates.md").read_text())
    session = Session(template, tmp_path)
    created = [
        index
        for index, (command, _) in enumerate(commands)
        if command.startswith(("cruft check", "copier check-update"))
    ]
    first_after_release = created[2]  # the page checks each project once, then shows the release's checks
    for command, shown in commands[:first_after_release]:
        session.run(command, shown)
    new_release(template)
    for command, shown in commands[first_after_release:]:
        session.run(command, shown)


def test_the_generated_readme_shows_what_the_update_commands_print(tmp_path):
    template = released_template(tmp_path / "template")
    session = Session(template, tmp_path)
    session.run('cruft create --no-input "$TEMPLATE"', [])
    session.run('copier copy --trust --defaults "$TEMPLATE" my_project', [])
    for tool in ("cruft", "copier"):
        session.tool = tool
        session.run('cd my_project && git init -q -b main && git add -A && git commit -qm "Start"', [])
    new_release(template)
    readme = (session.cwd["copier"] / "README.md").read_text()
    for command, shown in console_commands(readme[readme.index("## Update from the template") :]):
        session.run(command, shown)
    assert "my_project/.env" not in git("status", "--short", "--ignored", cwd=session.cwd["copier"])


def test_the_pages_install_the_versions_the_template_pins(bake):
    pins = dict(re.findall(r"^([a-z-]+)==(\S+)", (TEMPLATE / "requirements-dev.txt").read_text(), re.M))
    pages = [TEMPLATE / "docs" / "updates.md", bake(use_github_actions=True) / "README.md"]
    for page in pages:
        named = re.findall(r"\b(cruft|copier|copier-template-extensions|python-slugify)==(\S+?)[`\s]", page.read_text())
        assert {"cruft", "copier"} <= {name for name, _ in named}, page
        for name, version in named:
            assert pins[name] == version, (
                f"{page.name} installs {name}=={version}; requirements-dev.txt pins {pins[name]}"
            )


@pytest.mark.parametrize("tool", ["cruft", "copier"])
def test_a_pip_project_moves_to_uv_by_an_update_that_changes_the_answer(template, tmp_path, tool):
    """CHANGELOG.md's way from pip to uv: the update leaves exactly the files of a project generated with uv."""
    project = generate_and_commit(tool, template, tmp_path / "pip", DEFAULTS)
    change = {
        "cruft": ["--variables-to-update", '{"package_manager": "uv"}'],
        "copier": ["--data", "package_manager=uv"],
    }
    result = subprocess.run([*UPDATE[tool], *change[tool]], cwd=project, env=environment(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    fresh = generate(tool, template, tmp_path / "uv", {**DEFAULTS, "package_manager": "uv"})
    assert fresh.returncode == 0, fresh.stderr
    leave_out = {".env", ANSWERS_FILES[tool]}
    assert project_tree(project, leave_out) == project_tree(tmp_path / "uv" / "my_project", leave_out)
    assert recorded_answers(tool, project)["package_manager"] == "uv"
