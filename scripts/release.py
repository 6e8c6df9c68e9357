"""The release tags and GitHub releases that CHANGELOG.md promises, made from what main holds.

    python3 scripts/release.py tag       # each missing tag, in this clone
    python3 scripts/release.py publish   # tag, push the tags to origin, create each missing GitHub release

A release is a `## X.Y.Z (YYYY-MM-DD)` heading in CHANGELOG.md (at HEAD). Its tag, vX.Y.Z, is annotated
and goes on main's commit that brought that heading in: the commit that renamed `## Unreleased`, or
the merge that brought that commit into main. A tag that is already there is left alone; one on
another commit stops the script, since a published release does not move. The GitHub release gets
the section's text as its notes (GitHub's CLI, `gh`, logged in or with GH_TOKEN); one that exists is
left alone. Run it in a clone with main's whole history: .github/workflows/release.yml runs `publish`
on every push to main. Only the standard library, git and (to publish) gh.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

HEADING = re.compile(r"^## (\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\)$", re.MULTILINE)
NAME = "cookiecutter-lightweight-django"


def fail(message):
    sys.exit(f"ERROR: {message}")


def run(*command, stdin=None, env=None):
    return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True)


def git(*args, env=None):
    result = run("git", *args, env=env)
    if result.returncode:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        fail(f"git {' '.join(args)}: {reason[0]}")
    return result.stdout.strip()


def releases():
    """[(version, heading, notes)] of CHANGELOG.md at HEAD, oldest first."""
    text = re.sub(r"<!--.*?-->", "", git("show", "HEAD:CHANGELOG.md"), flags=re.DOTALL)
    found = []
    for match in HEADING.finditer(text):
        end = text.find("\n## ", match.end())
        found.append((match[1], match[0], text[match.end() : None if end < 0 else end].strip()))
    return found[::-1]


def introduced(heading):
    """The newest commit of main that brought `heading` into CHANGELOG.md (git's pickaxe: where its count
    changed). First parents only, a merge compared with its first: a release merged from a branch is
    tagged on main's merge commit, which holds what main held when it was released."""
    log = ["log", "--first-parent", "-m", "--format=%H", f"-S{heading}", "HEAD", "--", "CHANGELOG.md"]
    for commit in git(*log).split():
        if heading in git("show", f"{commit}:CHANGELOG.md").splitlines():
            return commit
    fail(f"no commit brought '{heading}' into CHANGELOG.md; is this clone's history complete?")


def short(commit):
    return git("log", "-1", "--format=%h (%s)", commit)


def tag():
    """Make every missing tag; returns the tags, oldest first."""
    if git("rev-parse", "--is-shallow-repository") == "true":
        fail("this clone is shallow; fetch main's whole history (git fetch --unshallow; fetch-depth: 0 in Actions)")
    wanted = [(f"v{version}", heading, introduced(heading)) for version, heading, _ in releases()]
    for name, heading, commit in wanted:  # every existing tag checked before one is made
        found = run("git", "rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}").stdout.strip()
        if found and found != commit:
            fail(
                f"tag {name} is on {found[:7]}, but '{heading}' came into CHANGELOG.md with {commit[:7]}; "
                f"if the tag is the mistake, delete it (git tag -d {name}; git push origin :refs/tags/{name})"
            )
    for name, _, commit in wanted:
        if run("git", "rev-parse", "--verify", "--quiet", f"refs/tags/{name}").returncode == 0:
            print(f"{name}: already on {short(commit)}")
            continue
        # Dated as the release commit, so the same tag is made whenever and wherever this runs.
        date = git("log", "-1", "--format=%cI", commit)
        env = {**os.environ, "GIT_COMMITTER_DATE": date}
        git("tag", "-a", name, "-m", f"{NAME} {name[1:]}", commit, env=env)
        print(f"{name}: tagged {short(commit)}")
    return [name for name, _, _ in wanted]


def publish():
    if not shutil.which("gh"):
        fail("GitHub's CLI, gh, is not on PATH; install it (https://cli.github.com/) or run the tag step alone")
    names = tag()
    if names:
        git("push", "--quiet", "origin", *[f"refs/tags/{name}" for name in names])
    notes = {f"v{version}": text for version, _, text in releases()}
    for name in names:
        if run("gh", "release", "view", name).returncode == 0:
            print(f"{name}: the GitHub release exists")
            continue
        made = run("gh", "release", "create", name, "--verify-tag", "--title", name[1:], "--notes-file", "-",
                   stdin=notes[name])  # fmt: skip
        if made.returncode:
            reason = (made.stderr.strip().splitlines() or [f"exit status {made.returncode}"])[-1]
            fail(f"gh release create {name}: {reason}")
        print(f"{name}: GitHub release created")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["tag", "publish"], help="tag: the tags here; publish: also push them and "
                        "create the GitHub releases")  # fmt: skip
    args = parser.parse_args()
    if args.step == "tag":
        tag()
    else:
        publish()


if __name__ == "__main__":
    main()
