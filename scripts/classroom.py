"""One starter repository per student from a roster, and later the template's fixes into every one.

    python3 scripts/classroom.py generate TEMPLATE --config class.yaml --roster roster.csv --output class
    python3 scripts/classroom.py update class [--push]

generate: for each row of the roster (a CSV file with the columns github, name, email), cruft makes
the project with the class's answers (a cookiecutter config file, under default_context:) and the
student as author_name and email, in OUTPUT/<github>/. A folder that exists is left as it is, so a
longer roster can be run again. With init_git: true in the config, each repository starts with one
commit by its student.

update: in each repository under the folder, `cruft update` (or `copier update`, for a project made
by copier) takes the template's newer commits; a clean update is committed ("Update from the
template") and, with --push, pushed; a repository with a conflict is left for you to resolve.

Only the standard library; cruft (and copier, for its projects) must be on PATH.
"""

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")  # a GitHub user name


def fail(message):
    sys.exit(f"ERROR: {message}")


def read_roster(path):
    with open(path, newline="", encoding="utf-8") as roster:
        rows = list(csv.DictReader(roster))
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        missing = [column for column in ("github", "name", "email") if not (row.get(column) or "").strip()]
        if missing:
            fail(f"{path} line {number} has no {', '.join(missing)}; the columns are github,name,email")
        if not LOGIN.fullmatch(row["github"].strip()):
            fail(f"{path} line {number}: github {row['github']!r} is not a GitHub user name; e.g. ada-lovelace")
    return [{key: row[key].strip() for key in ("github", "name", "email")} for row in rows]


def generate(args):
    cruft = shutil.which("cruft") or fail("cruft is not on PATH; pipx install cruft")
    output = Path(args.output)
    for student in read_roster(args.roster):
        target = output / student["github"]
        if target.exists():
            print(f"{target}: exists, left as it is")
            continue
        answers = {"author_name": student["name"], "email": student["email"]}
        with tempfile.TemporaryDirectory() as scratch:
            command = [cruft, "create", args.template, "--no-input", "--config-file", args.config]
            command += ["--extra-context", json.dumps(answers), "--output-dir", scratch]
            command += ["--checkout", args.checkout] if args.checkout else []
            made = subprocess.run(command, capture_output=True, text=True)
            refusal = [line for line in made.stderr.splitlines() if line.startswith("ERROR: ")]
            if made.returncode:
                fail(f"{student['github']}: {refusal[0] if refusal else made.stderr.strip()[-300:]}")
            (project,) = Path(scratch).iterdir()
            output.mkdir(parents=True, exist_ok=True)
            shutil.move(project, target)
        if (target / ".git").exists():  # init_git's first commit came before cruft wrote .cruft.json
            git(target, "add", ".cruft.json")
            git(target, "commit", "-q", "--amend", "--no-edit", f"--author={student['name']} <{student['email']}>")
        print(f"{target}: {student['name']} <{student['email']}>")


def update(args):
    problems = 0
    for answers in sorted([*Path(args.folder).glob("*/.cruft.json"), *Path(args.folder).glob("*/.copier-answers.yml")]):
        repository = answers.parent
        if answers.name == ".cruft.json":
            command = ["cruft", "update", "-y"]
        else:
            command = ["copier", "update", "--trust", "--defaults"]
        updated = subprocess.run(command, cwd=repository, capture_output=True, text=True)
        status = git(repository, "status", "--porcelain", "--untracked-files=all").splitlines()
        conflicts = [line[3:] for line in status if line[:2] in {"UU", "AA", "DU", "UD", "AU", "UA", "DD"}]
        conflicts += [str(path.relative_to(repository)) for path in repository.rglob("*.rej")]
        if updated.returncode or conflicts:
            problems += 1
            reason = f"conflict in {', '.join(conflicts)}" if conflicts else updated.stdout + updated.stderr
            print(f"{repository}: NOT UPDATED, {reason.strip()}; resolve it there, then commit")
        elif not status:
            print(f"{repository}: up to date")
        else:
            git(repository, "add", "-A")  # .env and *.rej are git-ignored
            git(repository, "commit", "-q", "-m", "Update from the template")
            if args.push:
                git(repository, "push", "-q")
            print(f"{repository}: updated{' and pushed' if args.push else ''}")
    return 1 if problems else 0


def git(repository, *args):
    return subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True, check=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("generate", help="one repository per student of the roster")
    make.add_argument("template", help="the template's git URL, or the path of a clone")
    make.add_argument("--config", required=True, help="the class's answers: a cookiecutter config file")
    make.add_argument("--roster", required=True, help="CSV with the columns github,name,email")
    make.add_argument("--output", required=True, help="the folder for the repositories, one per GitHub login")
    make.add_argument("--checkout", help="a tag or commit of the template (default: its newest commit)")
    refresh = commands.add_parser("update", help="take the template's newer commits into every repository")
    refresh.add_argument("folder", help="the folder that holds the repositories")
    refresh.add_argument("--push", action="store_true", help="push each updated repository")
    args = parser.parse_args()
    return generate(args) if args.command == "generate" else update(args)


if __name__ == "__main__":
    sys.exit(main())
