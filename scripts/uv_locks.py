"""Refresh the uv.lock files that package_manager=uv projects get: one per offered Python and add-on combination.

    .venv/bin/python scripts/uv_locks.py            # after changing a pin in requirements*.txt
    .venv/bin/python scripts/uv_locks.py --upgrade  # also move the unpinned indirect dependencies to their latest

The template keeps the locks in templates/locks/ and renders the chosen one with the project's name, so a project
is locked the moment it is generated, offline, with no lock per name. For each combination this bakes a uv
project (its current lock included, so `uv lock` keeps the versions it holds unless a pin moved or --upgrade),
runs the pinned uv's `uv lock` in it, and stores the result with the name made a template expression again.
tests/test_bake.py fails while any stored lock is stale (`uv lock --check` on a bake of each combination).
"""

import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter
from uv import find_uv_bin

TEMPLATE = Path(__file__).resolve().parent.parent
LOCKS = TEMPLATE / "templates" / "locks"
# The project's name in a stored lock: uv writes the normalised name (the slug with - for _).
NAME = '{{ cookiecutter.project_slug|replace("_", "-") }}'
SLUG = "my_project"


def lock_name(answers):
    """The stored lock of a combination; the generated uv.lock includes the same name."""
    addons = [name.removeprefix("use_") for name in ("use_rest", "use_realtime") if answers[name]]
    return "-".join([f"py{answers['python_version']}", *addons]) + ".lock"


def combinations():
    pythons = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    for version, rest, realtime in itertools.product(pythons, (False, True), (False, True)):
        yield {"python_version": version, "use_rest": rest, "use_realtime": realtime}


def refresh(answers, upgrade, scratch):
    stored = LOCKS / lock_name(answers)
    if not stored.exists():
        stored.write_text("")  # a first lock: the bake includes an empty file, removed before `uv lock`
    context = {**answers, "package_manager": "uv", "project_slug": SLUG, "use_github_actions": False}
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch, extra_context=context))
    if not (project / "uv.lock").read_text().strip():
        (project / "uv.lock").unlink()
    subprocess.run([find_uv_bin(), "lock", *(["--upgrade"] if upgrade else [])], cwd=project, check=True)
    lock = (project / "uv.lock").read_text()
    own = f'name = "{SLUG.replace("_", "-")}"'
    if lock.count(own) != 1 or any(mark in lock for mark in ("{{", "{%", "{#")):
        sys.exit(f"ERROR: {stored.name}: expected {own} once and no Jinja syntax in uv's lock")
    stored.write_text(lock.replace(own, f'name = "{NAME}"'))
    return stored


def main():
    upgrade = "--upgrade" in sys.argv[1:]
    LOCKS.mkdir(parents=True, exist_ok=True)
    for answers in combinations():
        with tempfile.TemporaryDirectory() as scratch:
            print(f"{refresh(answers, upgrade, scratch).relative_to(TEMPLATE)}: locked")


if __name__ == "__main__":
    main()
