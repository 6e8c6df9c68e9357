"""One starter repository per student from a roster, and later the template's fixes into every one.

    python3 scripts/classroom.py generate TEMPLATE --config class.yaml --roster roster.csv --output class
    python3 scripts/classroom.py update class [--push]

generate: for each row of the roster (a CSV file with the columns github, name, email), cruft makes
the project with the class's answers (a cookiecutter config file, under default_context:) and the
student as author_name and email, in OUTPUT/<github>/. A folder that exists is left as it is, so a
longer roster can be run again. With init_git: true in the config, each repository starts with one
commit by its student. A roster with a missing column or two lines for one login is refused before
anything is made.

update: in each repository under the folder, `cruft update` (or `copier update`, for a project made
by copier) takes the template's newer commits; a clean update is committed ("Update from the
template") and, with --push, pushed; a repository with a conflict is left for you to resolve.

Both go through every student: each failure is one line (git's or the template's reason), and the
exit status is 1 if anything failed, 0 if all succeeded.

Only the standard library; cruft (and copier, for its projects) must be on PATH.
"""

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# cruft prints its errors with rich, which wraps them at 80 columns when not on a terminal: one line each.
WIDE = {**os.environ, "COLUMNS": "10000", "NO_COLOR": "1"}
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
    first_line = {}
    for number, row in enumerate(rows, start=2):
        login = row["github"].strip().lower()  # GitHub's logins ignore case
        if login in first_line:
            fail(
                f"{path} lines {first_line[login]} and {number} are both for {row['github'].strip()}; "
                "each student needs a line with a GitHub login of their own"
            )
        first_line[login] = number
    return [{key: row[key].strip() for key in ("github", "name", "email")} for row in rows]


def generate(args):
    cruft = shutil.which("cruft") or fail("cruft is not on PATH; pipx install cruft")
    output = Path(args.output)
    problems = 0
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
            made = subprocess.run(command, env=WIDE, capture_output=True, text=True)
            if made.returncode:  # the template's refusal is its one "ERROR: " line; else cruft's last words
                refusal = [
                    line.removeprefix("ERROR: ") for line in made.stderr.splitlines() if line.startswith("ERROR: ")
                ]
                reason = refusal[0] if refusal else last_words(made.stdout + made.stderr)
                print(f"ERROR: {student['github']}: {reason}", file=sys.stderr)
                problems += 1
                continue
            (project,) = Path(scratch).iterdir()
            output.mkdir(parents=True, exist_ok=True)
            shutil.move(project, target)
        if (target / ".git").exists():  # init_git's first commit came before cruft wrote .cruft.json
            try:
                git(target, "add", ".cruft.json")
                author = f"--author={student['name']} <{student['email']}>"
                git(target, "commit", "-q", "--amend", "--no-edit", author)
            except Failure as error:
                print(f"ERROR: {student['github']}: {error}; .cruft.json is not in the first commit", file=sys.stderr)
                problems += 1
                continue
        print(f"{target}: {student['name']} <{student['email']}>")
    return 1 if problems else 0


def update(args):
    repositories = [*Path(args.folder).glob("*/.cruft.json"), *Path(args.folder).glob("*/.copier-answers.yml")]
    failed = 0
    for answers in sorted(repositories):
        try:
            print(f"{answers.parent}: {update_one(answers, args.push)}")
        except Failure as error:
            failed += 1
            print(f"{answers.parent}: {error}")
    return 1 if failed else 0


def update_one(answers, push):
    """What became of one repository, in a few words; Failure when it is not updated (and pushed)."""
    repository = answers.parent
    if answers.name == ".cruft.json":
        command = ["cruft", "update", "-y"]
    else:
        command = ["copier", "update", "--trust", "--defaults"]
    updated = subprocess.run(command, cwd=repository, env=WIDE, capture_output=True, text=True)
    try:
        status = git(repository, "status", "--porcelain", "--untracked-files=all").splitlines()
    except Failure as error:
        raise Failure(f"NOT UPDATED, {error}") from None
    conflicts = [line[3:] for line in status if line[:2] in {"UU", "AA", "DU", "UD", "AU", "UA", "DD"}]
    conflicts += [str(path.relative_to(repository)) for path in repository.rglob("*.rej")]
    if updated.returncode or conflicts:
        reason = f"conflict in {', '.join(conflicts)}" if conflicts else last_words(updated.stdout + updated.stderr)
        raise Failure(f"NOT UPDATED, {reason}; resolve it there, then commit")
    if not status:
        return "up to date"
    try:
        git(repository, "add", "-A")  # .env and *.rej are git-ignored
        git(repository, "commit", "-q", "-m", "Update from the template")
    except Failure as error:
        raise Failure(f"NOT UPDATED, {error}; resolve it there, then commit") from None
    if not push:
        return "updated"
    try:
        git(repository, "push", "-q")
    except Failure as error:
        raise Failure(f"updated, NOT PUSHED: {error}; push it from there") from None
    return "updated and pushed"


def last_words(output):
    """A tool's failure in one line: the message under its traceback box (cruft's), else its last line."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    boxes = [number for number, line in enumerate(lines) if line.startswith("╰")]
    return " ".join(" ".join(lines[boxes[-1] + 1 :] if boxes else lines[-1:]).split()) or "no output"


class Failure(Exception):
    """A step that failed for one repository; its text is the reason (git's, or the tool's), in one line."""


def git(repository, *args):
    done = subprocess.run(["git", *args], cwd=repository, capture_output=True, text=True)
    if done.returncode:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        refused = [" ".join(line.split()) for line in lines if line.startswith("! [")]  # a push's refused ref
        errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
        raise Failure((refused or errors or lines or [f"git {args[0]} exited {done.returncode}"])[0])
    return done.stdout


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
