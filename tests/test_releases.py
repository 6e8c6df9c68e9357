"""Releases exist where users look: every version CHANGELOG.md names is a tag, made from what main holds.

scripts/release.py tags the commit that brought each `## X.Y.Z (date)` heading into CHANGELOG.md and
creates the GitHub release with that section's text; .github/workflows/release.yml runs it on every
push to main. These tests run it in their own clones (this repository's tags are never touched).
"""

import json
import os
import re
import subprocess
import sys

import yaml

from .conftest import TEMPLATE
from .released import clone_with_release_tags, on_a_terminal
from .test_adoption import check_schema
from .three_tools import project_tree

SCRIPT = TEMPLATE / "scripts" / "release.py"
WORKFLOW = TEMPLATE / ".github" / "workflows" / "release.yml"
HEADING = re.compile(r"^## (\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\)$", re.MULTILINE)
IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Test",
    "GIT_AUTHOR_EMAIL": "release@example.com",
    "GIT_COMMITTER_NAME": "Release Test",
    "GIT_COMMITTER_EMAIL": "release@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def environment(**more):
    return {**os.environ, **IDENTITY, **more}


def git(repository, *args):
    result = subprocess.run(["git", *args], cwd=repository, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def release_step(repository, step="tag", **env):
    command = [sys.executable, str(SCRIPT), step]
    return subprocess.run(command, cwd=repository, env=environment(**env), capture_output=True, text=True)


def clone_of_main(path):
    """What a runner checks out: main's committed history, no tags (none travel with a push of main)."""
    subprocess.run(["git", "clone", "-q", "--no-tags", str(TEMPLATE), str(path)], check=True, env=environment())
    return path


def tags(repository):
    """{tag: (type of the tag object, commit it names)}."""
    commit = "%(if)%(*objectname)%(then)%(*objectname)%(else)%(objectname)%(end)"
    listed = git(repository, "for-each-ref", "refs/tags", f"--format=%(refname:short) %(objecttype) {commit}")
    return {name: (kind, commit) for name, kind, commit in (line.split() for line in listed.splitlines())}


def commits_that_brought_headings_in(repository):
    """{version: the newest commit of main (first parents) whose CHANGELOG.md has the version's heading, date
    included, and whose parent's has not}, found by reading CHANGELOG.md at every commit that changed it."""

    def headings(revision):
        shown = subprocess.run(["git", "show", f"{revision}:CHANGELOG.md"], cwd=repository, capture_output=True,
                               text=True)  # fmt: skip
        return {match[0]: match[1] for match in HEADING.finditer(shown.stdout)} if shown.returncode == 0 else {}

    brought = {}
    for commit in git(repository, "rev-list", "--first-parent", "--reverse", "HEAD", "--", "CHANGELOG.md").split():
        for heading in headings(commit).keys() - headings(f"{commit}^").keys():
            brought[heading] = commit
    return {version: brought[heading] for heading, version in headings("HEAD").items()}


def test_the_tag_step_in_a_clone_without_tags_makes_exactly_the_tags_the_changelog_promises(tmp_path):
    clone = clone_of_main(tmp_path / "clone")
    assert tags(clone) == {}
    promised = commits_that_brought_headings_in(clone)
    assert "1.0.0" in promised  # the first release, made by the commit "Release 1.0.0"
    assert git(clone, "log", "-1", "--format=%s", promised["1.0.0"]) == "Release 1.0.0"

    made = release_step(clone)
    assert made.returncode == 0, made.stderr
    assert tags(clone) == {f"v{version}": ("tag", commit) for version, commit in promised.items()}  # annotated
    for version, commit in promised.items():
        assert f"v{version}: tagged {commit[:7]} " in made.stdout
        assert git(clone, "tag", "-l", "--format=%(contents:subject)", f"v{version}") == (
            f"cookiecutter-lightweight-django {version}"
        )
        # Dated as its release commit, so each run anywhere makes the same tag object.
        assert git(clone, "log", "-1", "--format=%cI", commit) == git(
            clone, "tag", "-l", "--format=%(taggerdate:iso-strict)", f"v{version}"
        )

    objects = git(clone, "for-each-ref", "refs/tags", "--format=%(objectname) %(refname)")
    again = release_step(clone)
    assert again.returncode == 0, again.stderr
    assert git(clone, "for-each-ref", "refs/tags", "--format=%(objectname) %(refname)") == objects
    assert again.stdout.splitlines() == [
        f"v{version}: already on {commit[:7]} ({git(clone, 'log', '-1', '--format=%s', commit)})"
        for version, commit in sorted(promised.items(), key=lambda item: tuple(map(int, item[0].split("."))))
    ]


def test_a_tag_on_another_commit_stops_the_tag_step_with_one_line_and_nothing_moves(tmp_path):
    clone = clone_of_main(tmp_path / "clone")
    release_commit = commits_that_brought_headings_in(clone)["1.0.0"]
    head = git(clone, "rev-parse", "HEAD")
    git(clone, "tag", "v1.0.0", head)  # by hand, on the wrong commit
    before = tags(clone)
    result = release_step(clone)
    assert result.returncode == 1
    assert result.stderr == (
        f"ERROR: tag v1.0.0 is on {head[:7]}, but '## 1.0.0 (2026-12-02)' came into CHANGELOG.md with "
        f"{release_commit[:7]}; if the tag is the mistake, delete it (git tag -d v1.0.0; "
        "git push origin :refs/tags/v1.0.0)\n"
    )
    assert tags(clone) == before  # no tag was moved, and no other was made


def test_a_release_merged_from_a_branch_is_tagged_on_mains_merge_commit(tmp_path):
    """main's own commit that brought the heading in: what main held, and what its CI ran, when it was released."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "CHANGELOG.md").write_text("## Unreleased\n\n## 1.0.0 (2026-01-01)\n\nThe first.\n")
    git(repo, "add", "CHANGELOG.md")
    git(repo, "commit", "-qm", "Release 1.0.0")
    git(repo, "checkout", "-q", "-b", "release-1.1.0")
    (repo / "CHANGELOG.md").write_text(
        "## Unreleased\n\n## 1.1.0 (2026-02-01)\n\nMore.\n\n## 1.0.0 (2026-01-01)\n\nThe first.\n"
    )
    git(repo, "commit", "-qam", "Release 1.1.0")
    git(repo, "checkout", "-q", "main")
    (repo / "other").write_text("Work on main meanwhile.\n")
    git(repo, "add", "other")
    git(repo, "commit", "-qm", "Other work")
    git(repo, "merge", "-q", "--no-ff", "release-1.1.0", "-m", "Merge the release")
    made = release_step(repo)
    assert made.returncode == 0, made.stderr
    assert tags(repo) == {
        "v1.0.0": ("tag", git(repo, "rev-parse", "HEAD~2")),
        "v1.1.0": ("tag", git(repo, "rev-parse", "HEAD")),  # the merge, not the branch's commit
    }
    assert commits_that_brought_headings_in(repo) == {"1.0.0": git(repo, "rev-parse", "HEAD~2"),
                                                       "1.1.0": git(repo, "rev-parse", "HEAD")}  # fmt: skip


def test_a_shallow_clone_is_refused_with_the_fix(tmp_path):
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{TEMPLATE}", str(shallow)], check=True)
    result = release_step(shallow)
    assert result.returncode == 1
    assert result.stderr == (
        "ERROR: this clone is shallow; fetch main's whole history (git fetch --unshallow; fetch-depth: 0 in Actions)\n"
    )
    assert tags(shallow) == {}


# GitHub stands in: `gh` on PATH keeps the releases it is asked to make in a folder, as GitHub would keep them.
FAKE_GH = """#!/bin/sh
echo "$*" >> "$RELEASES/calls"
case "$1 $2" in
  "release view") test -f "$RELEASES/$3" ;;
  "release create") cat > "$RELEASES/$3" ;;
  *) exit 2 ;;
esac
"""


def test_the_publish_step_pushes_the_tags_and_makes_each_missing_release_with_its_sections_text(tmp_path):
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-tags", str(TEMPLATE), str(origin)], check=True)
    runner = tmp_path / "runner"
    subprocess.run(["git", "clone", "-q", str(origin), str(runner)], check=True)
    # A release made by docs/releases.md's procedure: the Unreleased entries become 1.0.1's section.
    changelog = (runner / "CHANGELOG.md").read_text()
    section = "### What changes for an existing project\n\n- A fix.\n\n### What to do\n\n- Nothing."
    released = changelog.replace("## 1.0.0 (", f"## 1.0.1 (2026-12-03)\n\n{section}\n\n## 1.0.0 (", 1)
    (runner / "CHANGELOG.md").write_text(released)
    git(runner, "commit", "-qam", "Release 1.0.1")
    git(runner, "push", "-q", "origin", "HEAD")
    releases = tmp_path / "github-releases"
    releases.mkdir()
    (releases / "v1.0.0").write_text("made before")  # 1.0.0 is on GitHub already
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RELEASES": str(releases)}

    result = release_step(runner, "publish", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        "v1.0.0: the GitHub release exists",
        "v1.0.1: GitHub release created",
    ]
    assert (releases / "v1.0.1").read_text() == section
    assert (releases / "calls").read_text().splitlines()[-1] == (
        "release create v1.0.1 --verify-tag --title 1.0.1 --notes-file -"
    )
    assert (releases / "v1.0.0").read_text() == "made before"
    pushed = git(origin, "for-each-ref", "refs/tags", "--format=%(refname:short) %(*objectname)").splitlines()
    first = commits_that_brought_headings_in(runner)["1.0.0"]
    assert pushed == [f"v1.0.0 {first}", f"v1.0.1 {git(runner, 'rev-parse', 'HEAD')}"]

    again = release_step(runner, "publish", **env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-2:] == ["v1.0.0: the GitHub release exists", "v1.0.1: the GitHub release exists"]
    assert (releases / "v1.0.1").read_text() == section


def test_the_release_workflow_runs_the_publish_step_on_pushes_to_main_and_is_valid():
    assert "ok -- validation done" in check_schema("github-workflows", WORKFLOW)
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True] == {"push": {"branches": ["main"]}}  # YAML reads `on:` as True
    assert workflow["permissions"] == {"contents": "write"}  # to push tags and create releases
    (job,) = workflow["jobs"].values()
    checkout, step = job["steps"]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["fetch-depth"] == 0
    assert step["run"] == "python3 scripts/release.py publish"
    assert step["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert {"GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"} <= set(step["env"])  # who made the annotated tags


# docs/releases.md's ways to generate from a release, run as printed with a clone whose tags the tag step made.
RELEASES_PAGE = TEMPLATE / "docs" / "releases.md"


def generating_from_a_release():
    """The two ```sh blocks of the page's 'Generating from a release': [any template], [a clone]."""
    text = RELEASES_PAGE.read_text()
    part = text[text.index("## Generating from a release") : text.index("## How to release")]
    return [block.splitlines() for block in re.findall(r"```sh\n(.*?)```", part, re.S)]


def user_environment(home):
    env = environment(HOME=str(home), TERM="xterm")  # a fresh ~/.cookiecutters: cookiecutter clones into it
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    return env


def release_tree(project):
    return project_tree(project, leave_out={".env", ".cruft.json", ".copier-answers.yml"})


def test_each_way_the_releases_page_generates_from_a_clone_gives_the_release(tmp_path):
    clone = clone_with_release_tags(tmp_path / "cookiecutter-lightweight-django")
    _, from_a_clone = generating_from_a_release()
    tag = re.search(r"--checkout (\S+)", from_a_clone[0])[1]
    release = git(clone, "rev-parse", f"{tag}^{{commit}}")
    readme = clone / "{{cookiecutter.project_slug}}" / "README.md"  # the clone's newest commit is not the release
    readme.write_text(readme.read_text() + "\nA change after the release.\n")
    git(clone, "commit", "-qam", "A change after the release")
    env = user_environment(tmp_path / "home")
    projects = {}
    for command in from_a_clone:
        assert command.split()[0] in ("cookiecutter", "cruft", "copier") and f" {tag} " in command, command
        question = "🎤" if command.startswith("copier") else r"\[\d+/\d+\]"  # copier's mark, cookiecutter's [n/12]
        status, output = on_a_terminal(command, tmp_path, env, question)  # in the folder that holds the clone
        assert status == 0, f"$ {command}\n{output}"
        projects[command.split()[0]] = (tmp_path / "my_project").rename(tmp_path / command.split()[0])
    assert sorted(projects) == ["cookiecutter", "copier", "cruft"]
    assert json.loads((projects["cruft"] / ".cruft.json").read_text())["commit"] == release
    assert yaml.safe_load((projects["copier"] / ".copier-answers.yml").read_text())["_commit"] == tag
    recorded = {
        "cruft": json.loads((projects["cruft"] / ".cruft.json").read_text())["template"],
        "copier": yaml.safe_load((projects["copier"] / ".copier-answers.yml").read_text())["_src_path"],
    }
    assert recorded == {"cruft": str(clone), "copier": str(clone)}  # where later updates go back to
    assert release_tree(projects["cookiecutter"]) == release_tree(projects["cruft"])
    assert release_tree(projects["copier"]) == release_tree(projects["cruft"])
    assert "A change after the release." not in (projects["cookiecutter"] / "README.md").read_text()

    # What the page warns of: cookiecutter given the clone's path ignores --checkout, without a word.
    assert "ignores `--checkout`" in RELEASES_PAGE.read_text()
    plain = [sys.executable, "-m", "cookiecutter", "--no-input", "--checkout", tag, clone.name, "-o", "plain"]
    subprocess.run(plain, cwd=tmp_path, env=env, check=True, capture_output=True)
    assert "A change after the release." in (tmp_path / "plain" / "my_project" / "README.md").read_text()


def test_the_pages_update_commands_take_a_project_to_the_release(tmp_path):
    clone = clone_with_release_tags(tmp_path / "cookiecutter-lightweight-django")
    any_template, _ = generating_from_a_release()
    updates = {command.split()[0]: command for command in any_template if " update " in command}
    assert sorted(updates) == ["copier", "cruft"]
    tag = re.search(r"(?:--checkout|--vcs-ref) (\S+)", updates["cruft"])[1]
    env = user_environment(tmp_path / "home")
    older = {"cruft": "de9e11c", "copier": "8a93ed2"}  # tests/test_updates.py's bases, before the first release
    for tool, command in updates.items():
        make = {
            "cruft": [sys.executable, "-m", "cruft", "create", "--no-input", "--checkout", older[tool], str(clone)],
            "copier": [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", older[tool],
                       str(clone), "my_project"],
        }[tool]  # fmt: skip
        folder = tmp_path / tool
        folder.mkdir()
        subprocess.run(make, cwd=folder, env=env, check=True, capture_output=True)
        project = folder / "my_project"
        for step in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "Generated"]):
            git(project, *step)
        question = "🎤" if tool == "copier" else r"Apply diff and update\?"
        status, output = on_a_terminal(command, project, env, question)
        assert status == 0, f"$ {command}\n{output}"
        if tool == "cruft":
            assert json.loads((project / ".cruft.json").read_text())["commit"] == git(
                clone, "rev-parse", f"{tag}^{{commit}}"
            )
        else:
            assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == tag
