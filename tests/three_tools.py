"""Generating a project with cookiecutter, cruft or copier, from a git repository of the template, as users run them.

The tools work from git (cruft and copier record the template's commit), but the tests must check the
working tree, uncommitted changes included: template_repository() clones this repository and commits
the working tree on top, so its history is the real one and its HEAD is what is on disk.
"""

import json
import os
import shutil
import subprocess
import sys

from .conftest import TEMPLATE

TOOLS = ["cookiecutter", "cruft", "copier"]
ANSWERS_FILES = {"cookiecutter": None, "cruft": ".cruft.json", "copier": ".copier-answers.yml"}
# Who commits in a scratch repository (copier's update commits in its own too); no machine's git config counts.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def environment():
    return {**os.environ, **GIT_ENV, "NO_COLOR": "1"}


def git(*args, cwd):
    result = subprocess.run(["git", *args], cwd=cwd, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, f"git {' '.join(args)} in {cwd}: {result.stderr}"
    return result.stdout


def template_repository(path):
    """A clone of this repository at `path` whose last commit, "working tree", is the files on disk now."""
    git("clone", "-q", str(TEMPLATE), str(path), cwd=TEMPLATE.parent)
    on_disk = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=TEMPLATE).split("\0")
    for name in git("ls-files", "-z", cwd=path).split("\0"):
        if name:
            (path / name).unlink()
    for name in filter(None, on_disk):
        if (TEMPLATE / name).is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, path / name)
    git("add", "-A", cwd=path)
    git("commit", "-q", "--allow-empty", "-m", "working tree", cwd=path)
    return path


def release(template, message):
    """Commit the template's changes and tag them as the next patch release: copier update and copier
    check-update follow release tags, not newer commits (cruft follows commits; a tag changes nothing for it)."""
    git("commit", "-qam", message, cwd=template)
    tags = git("tag", "--list", "v*", "--sort=-v:refname", cwd=template).split()
    major, minor, patch = map(int, tags[0][1:].split(".")) if tags else (0, 0, 0)
    git("tag", "-a", f"v{major}.{minor}.{patch + 1}", "-m", message, cwd=template)


def command_line(answers):
    """answers as key=value words, booleans as true/false."""
    return [f"{key}={json.dumps(value) if isinstance(value, bool) else value}" for key, value in answers.items()]


def generate(tool, template, output, answers, ref="HEAD", slug="my_project"):
    """Run `tool` on the template at git ref `ref` with these answers, without questions, into output/<slug>."""
    python = [sys.executable, "-m"]
    if tool == "cookiecutter":  # from the folder, which holds HEAD
        assert ref == "HEAD", "cookiecutter reads a local template folder as it is"
        command = [*python, "cookiecutter", "--no-input", "--default-config", str(template), "-o", str(output)]
        command += command_line(answers)
    elif tool == "cruft":
        command = [*python, "cruft", "create", str(template), "--no-input", "--default-config", "--checkout", ref]
        command += ["--output-dir", str(output), "--extra-context", json.dumps(answers)]
    elif tool == "copier":
        command = [*python, "copier", "copy", "--trust", "--defaults", "--vcs-ref", ref, str(template)]
        command += [str(output / slug), *[word for pair in command_line(answers) for word in ("-d", pair)]]
    else:
        raise ValueError(tool)
    return subprocess.run(command, env=environment(), capture_output=True, text=True, check=False)


def project_tree(project, leave_out=()):
    """{path: (mode, bytes)} of every file but .git/ and the names in leave_out."""
    return {
        str(path.relative_to(project)): (path.stat().st_mode, path.read_bytes())
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts and path.name not in leave_out
    }
