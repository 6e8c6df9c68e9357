"""docs/instructors.md, run as an instructor would: every command on the page, in order, printing what it shows.

The page's files (class.yaml, roster.csv) are written from its own code blocks. Its `gh` commands talk to
GitHub, so they are checked for shell syntax and, where GitHub's CLI is installed, for options it knows;
in their place the test gives each repository a local bare remote, as `gh repo create --push` would.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from .conftest import TEMPLATE, find_python, uv
from .three_tools import git, release, template_repository

PAGE = TEMPLATE / "docs" / "instructors.md"
SCRIPT = TEMPLATE / "scripts" / "classroom.py"
MARK = "@@cwd:"


def page_steps(text):
    """The page's files and console commands, in order: ("file", name, content) or ("run", command, shown)."""
    steps = []
    pattern = r"^```\{code-block\} \w+\n:caption: (\S+)\n\n(.*?)^```|^```console\n(.*?)^```"
    for match in re.finditer(pattern, text, re.S | re.M):
        if match[1]:
            steps.append(("file", match[1], match[2]))
            continue
        for line in match[3].splitlines():
            if line.startswith("$ "):
                steps.append(("run", line[2:], []))
            else:
                steps[-1][2].append(line)
    return steps


class Shell:
    """Commands typed one after another: the folder a `cd` leads to is where the next one runs."""

    def __init__(self, cwd, env):
        self.cwd, self.env = cwd, env

    def run(self, command):
        script = "\n".join(
            [
                f"cd {shlex.quote(str(self.cwd))} || exit 99",
                f"{{ {command}",
                "} 2>&1",
                "status=$?",
                f'echo "{MARK}$PWD"',
                "exit $status",
            ]
        )
        result = subprocess.run(["bash", "-c", script], env=self.env, stdout=subprocess.PIPE, text=True)
        output, _, cwd = result.stdout.rpartition(MARK)
        self.cwd = cwd.strip() or self.cwd
        assert result.returncode == 0, f"$ {command} exited {result.returncode}:\n{output}"
        return output


def assert_shown(command, shown, printed):
    """Every line shown under a command is in what it printed, in order; "..." stands for lines left out."""
    lines = [line.rstrip() for line in printed.splitlines()]
    position = 0
    for line in (line.rstrip() for line in shown if line != "..."):
        assert line in lines[position:], f"$ {command} did not print {line!r}; it printed:\n{printed}"
        position = lines.index(line, position) + 1


def github_commands():
    return [
        command
        for kind, command, _ in page_steps(PAGE.read_text())
        if kind == "run" and re.search(r"(^|\s)gh ", command)
    ]


def test_the_pages_github_commands_are_valid_shell():
    assert len(github_commands()) == 3
    for command in github_commands():
        syntax = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        assert syntax.returncode == 0, f"$ {command}: {syntax.stderr}"


def test_the_pages_github_commands_use_options_githubs_cli_knows():
    if not shutil.which("gh"):
        pytest.skip(
            "SKIPPED LOUDLY: GitHub's CLI is not installed (apt-get install gh): the page's gh options are unchecked"
        )
    for command in github_commands():
        for subcommand, arguments in re.findall(r"\bgh ((?:[a-z]+ )+)([^;]*)", command):
            known = subprocess.run(["gh", *subcommand.split(), "--help"], capture_output=True, text=True).stdout
            for option in re.findall(r"(?<!\S)(--[a-z-]+)", arguments):
                assert re.search(rf"{option}\b", known), f"gh {subcommand}has no option {option}"


def instructor_environment(tmp_path, python_bin):
    """No machine's git identity: the instructor's own, in a git config of their home, and the tools on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Prof. Ada Lovelace\n\temail = ada@school.example\n")
    path = os.pathsep.join([str(python_bin), os.path.dirname(sys.executable), os.environ["PATH"]])
    return {"HOME": str(home), "PATH": path, "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C.UTF-8"}


def give_remotes(folder, remotes):
    """What `gh repo create --source REPO --push` does for each repository: a remote, pushed, tracked."""
    for repository in sorted(folder.iterdir()):
        remote = remotes / f"{repository.name}.git"
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
        subprocess.run(["git", "remote", "add", "origin", str(remote)], cwd=repository, check=True)
        subprocess.run(["git", "push", "-q", "-u", "origin", "main"], cwd=repository, check=True, capture_output=True)


def template_fix(template):
    """A fix during the term, released: copier-made repositories update to the newest release."""
    example = template / "{{cookiecutter.project_slug}}" / ".env.example"
    example.write_text(example.read_text() + "# A fix from the template during the term.\n")
    release(template, "A fix during the term")


def test_every_command_of_the_instructors_page_runs_and_prints_what_it_shows(tmp_path):
    python = find_python("3.13") or pytest.skip("SKIPPED LOUDLY: the offline section needs Python 3.13")
    venv = tmp_path / "students-venv"  # the pip commands install into it, as into a student's virtualenv
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    template = template_repository(work / "cookiecutter-lightweight-django")
    env = {**instructor_environment(tmp_path, venv / "bin"), "TEMPLATE": str(template)}
    shell = Shell(work, env)
    for kind, name, content in page_steps(PAGE.read_text()):
        if kind == "file":
            (work / name).write_text(content)
        elif name in github_commands():
            continue  # checked by the two tests above, without GitHub
        else:
            if "classroom.py update" in name:  # later in the term: a fix, and the repositories on "GitHub"
                template_fix(template)
                give_remotes(work / "class", tmp_path / "github")
            assert_shown(name, content, shell.run(name))
    pushed = git("log", "--format=%s", "main", cwd=tmp_path / "github" / "alan-t.git").splitlines()
    assert pushed[0] == "Update from the template"
    assert (work / "offline" / "my_project" / "wheels").is_dir()


def run_script(*args, cwd, env):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True)


def generate_class(work, env):
    """The page's `generate` step in the classroom folder: a repository per roster line under class/."""
    return run_script("generate", "template", "--config", "class.yaml", "--roster", "roster.csv", "--output", "class",
                      cwd=work, env=env)  # fmt: skip


@pytest.fixture
def classroom(tmp_path):
    """(folder, environment): the template, class.yaml and roster.csv from the page, nothing generated yet."""
    work = tmp_path / "work"
    work.mkdir()
    template_repository(work / "template")
    for kind, name, content in page_steps(PAGE.read_text()):
        if kind == "file":
            (work / name).write_text(content)
    return work, instructor_environment(tmp_path, os.path.dirname(sys.executable))


def test_a_line_the_template_refuses_is_one_error_line_as_the_page_shows_and_the_others_are_made(classroom):
    work, env = classroom
    header, alan, grace = (work / "roster.csv").read_text().splitlines()
    (work / "roster.csv").write_text(f"{header}\n{alan}\nmallory,Mallory,mallory@\n{grace}\n")  # mallory between
    result = generate_class(work, env)
    assert result.returncode == 1
    (shown,) = re.findall(r"`(ERROR: mallory: [^`]+)`", PAGE.read_text())
    assert shown.count("ERROR") == 1
    assert result.stderr.splitlines() == [shown]
    assert sorted(path.name for path in (work / "class").iterdir()) == ["alan-t", "grace-h"]  # the good ones are made
    assert result.stdout.splitlines() == [
        "class/alan-t: Alan Turing <alan@students.example>",
        "class/grace-h: Grace Hopper <grace@students.example>",
    ]


def test_two_roster_lines_for_one_login_are_refused_naming_both_before_anything_is_made(classroom):
    work, env = classroom
    with (work / "roster.csv").open("a") as roster:
        roster.write("alan-t,Alan Mathison Turing,amt@students.example\n")
    result = generate_class(work, env)
    assert result.returncode == 1
    assert result.stderr == (
        "ERROR: roster.csv lines 2 and 4 are both for alan-t; "
        "each student needs a line with a GitHub login of their own\n"
    )
    assert not (work / "class").exists()


@pytest.mark.parametrize(
    ("roster", "message"),
    [
        ("github,name\nalan-t,Alan Turing\n", "roster.csv line 2 has no email; the columns are github,name,email"),
        ("github,name,email\nalan t,Alan,a@b.example\n", "github 'alan t' is not a GitHub user name"),
    ],
)
def test_a_roster_without_its_columns_is_refused_before_anything_is_made(classroom, roster, message):
    work, env = classroom
    (work / "roster.csv").write_text(roster)
    result = generate_class(work, env)
    assert result.returncode == 1 and message in result.stderr and result.stderr.startswith("ERROR: ")
    assert not (work / "class").exists()


def test_a_repository_where_the_student_changed_the_same_lines_is_left_unmerged_and_the_others_updated(classroom):
    work, env = classroom
    made = generate_class(work, env)
    assert made.returncode == 0, made.stderr
    example = work / "class" / "grace-h" / ".env.example"
    example.write_text(example.read_text() + "# Grace's own note.\n")
    subprocess.run(["git", "commit", "-qam", "My note"], cwd=example.parent, env=env, check=True)
    template_fix(work / "template")
    result = run_script("update", "class", cwd=work, env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "class/alan-t: updated",
        "class/grace-h: NOT UPDATED, conflict in .env.example; resolve it there, then commit",
    ]
    assert git("log", "-1", "--format=%s", cwd=example.parent) == "My note\n"  # nothing committed for Grace
    again = run_script("update", "class", cwd=work, env=env)
    assert again.stdout.splitlines()[0] == "class/alan-t: up to date"


def test_update_push_goes_through_every_repository_and_names_each_failed_push_with_gits_reason(classroom):
    work, env = classroom
    with (work / "roster.csv").open("a") as roster:
        roster.write("linus-t,Linus Torvalds,linus@students.example\n")
    made = generate_class(work, env)
    assert made.returncode == 0, made.stderr
    give_remotes(work / "class", work / "github")
    subprocess.run(["git", "remote", "remove", "origin"], cwd=work / "class" / "alan-t", check=True)  # no remote
    elsewhere = work / "elsewhere"  # grace-h's remote gets a commit the local repository does not have
    remote = work / "github" / "grace-h.git"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(elsewhere)], check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "From GitHub's web editor"], cwd=elsewhere,
                   env=env, check=True)  # fmt: skip
    subprocess.run(["git", "push", "-q"], cwd=elsewhere, check=True, capture_output=True)
    template_fix(work / "template")
    result = run_script("update", "class", "--push", cwd=work, env=env)
    assert result.returncode == 1
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "class/alan-t: updated, NOT PUSHED: fatal: No configured push destination.; push it from there",
        "class/grace-h: updated, NOT PUSHED: ! [rejected] main -> main (fetch first); push it from there",
        "class/linus-t: updated and pushed",
    ]
    assert f"`{result.stdout.splitlines()[1]}`" in PAGE.read_text()  # the line the page shows
    pushed = git("log", "-1", "--format=%s", "main", cwd=work / "github" / "linus-t.git")
    assert pushed == "Update from the template\n"


def test_an_update_that_fails_is_one_line_with_the_reason_and_the_others_are_updated(classroom):
    work, env = classroom
    made = generate_class(work, env)
    assert made.returncode == 0, made.stderr
    answers = work / "class" / "alan-t" / ".cruft.json"
    answers.write_text(answers.read_text().replace(str(work / "template"), str(work / "moved-away")))
    subprocess.run(["git", "commit", "-qam", "The template moved"], cwd=answers.parent, env=env, check=True)
    template_fix(work / "template")
    result = run_script("update", "class", cwd=work, env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "class/alan-t: NOT UPDATED, InvalidCookiecutterRepository: Unable to initialize the cookiecutter using "
        f"{work}/moved-away! Failed to clone the repo. stderr: 'fatal: repository '{work}/moved-away' does not "
        "exist '; resolve it there, then commit",
        "class/grace-h: updated",
    ]


def test_a_repository_made_by_copier_updates_with_copier(classroom):
    work, env = classroom
    project = work / "class" / "linus-t"
    copy = ["copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD", str(work / "template"), str(project)]
    made = subprocess.run([sys.executable, "-m", *copy], cwd=work, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "Start"]):
        subprocess.run(["git", *command], cwd=project, env=env, check=True)
    template_fix(work / "template")
    result = run_script("update", "class", cwd=work, env=env)
    assert result.stdout.splitlines() == ["class/linus-t: updated"], result.stdout + result.stderr
    assert "A fix from the template" in (project / ".env.example").read_text()


def test_generation_from_the_zip_needs_no_network(tmp_path):
    zipped = tmp_path / "template.zip"
    archive = [
        "git",
        "-C",
        str(TEMPLATE),
        "archive",
        "--prefix=cookiecutter-lightweight-django/",
        "-o",
        str(zipped),
        "HEAD",
    ]
    subprocess.run(archive, check=True)
    offline = [
        "unshare",
        "-n",
        sys.executable,
        "-m",
        "cookiecutter",
        "--no-input",
        str(zipped),
        "-o",
        str(tmp_path / "out"),
    ]
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip(f"SKIPPED LOUDLY: unshare -n is not permitted here: {probe.stderr.decode().strip()}")
    result = subprocess.run(offline, capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "my_project" / "manage.py").exists()


def test_a_class_on_uv_gets_locked_repositories_and_the_templates_fixes(classroom):
    """package_manager: uv in class.yaml: each repository has uv.lock (and no requirements.txt), fresh for its
    pyproject.toml, and `classroom.py update` brings the template's fixes as it does to pip repositories."""
    work, env = classroom
    config = work / "class.yaml"
    config.write_text(config.read_text() + '  package_manager: "uv"\n')
    made = generate_class(work, env)
    assert made.returncode == 0, made.stderr
    for repository in sorted((work / "class").iterdir()):
        assert (repository / "uv.lock").exists() and not (repository / "requirements.txt").exists()
        check = subprocess.run([uv(), "lock", "--check"], cwd=repository, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    template_fix(work / "template")
    result = run_script("update", "class", cwd=work, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["class/alan-t: updated", "class/grace-h: updated"]
    assert "# A fix from the template during the term." in (work / "class" / "alan-t" / ".env.example").read_text()
