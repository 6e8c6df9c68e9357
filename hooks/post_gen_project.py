"""Drop the files of unchosen options, write a local .env, optionally git init.

Runs inside the new project. Idempotent and offline: running it again changes nothing.
"""

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
SLUG = ANSWERS["project_slug"]

# Each option and the paths that exist only for it: removed when it is off (license, example_app: "none").
OPTION_PATHS = {
    "use_rest": [f"{SLUG}/api"],
    "use_realtime": [f"{SLUG}/realtime"],
    "example_app": [f"{SLUG}/board"],
    "use_github_actions": [".github"],
    "license": ["LICENSE"],
}
# Each choice, and the paths of each of its answers: those of the answers not given are removed. Exactly one
# package manager's files stay: Heroku's buildpack refuses a project with requirements.txt and uv.lock.
CHOICE_PATHS = {
    "package_manager": {"pip": ["requirements.txt", "requirements-dev.txt"], "uv": ["uv.lock"]},
}


def unchosen_paths():
    """The paths of the options that are off (copier.yml excludes the same ones, through hooks/copier_bridge.py)."""
    off = [path for option, paths in OPTION_PATHS.items() if ANSWERS[option] in (False, "none") for path in paths]
    off += [
        path
        for choice, answers in CHOICE_PATHS.items()
        for answer, paths in answers.items()
        if answer != ANSWERS[choice]
        for path in paths
    ]
    return [Path(path) for path in off]


# Local development values only; .env is git-ignored and real environment variables win.
# The secret is made here, never rendered into a committed file; no "$" (django-environ would
# read it as a reference to another variable).
ENV_FILE = """\
# Local development settings (git-ignored). Every variable is explained in .env.example.
DEBUG=true
SECRET_KEY={secret}
"""


def main():
    for path in unchosen_paths():
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    env_file = Path(".env")
    if not env_file.exists():
        env_file.write_text(ENV_FILE.format(secret=secrets.token_urlsafe(50)))

    if ANSWERS["init_git"] and not Path(".git").exists():
        if not shutil.which("git"):
            sys.exit("ERROR: init_git=true but git is not installed; install git or generate with init_git=false")
        author = ["-c", f"user.name={ANSWERS['author_name']}", "-c", f"user.email={ANSWERS['email']}"]
        first_commit = ["commit", "-q", "-m", "Start from cookiecutter-lightweight-django"]
        for command in (["init", "-q", "-b", "main"], ["add", "-A"], first_commit):
            subprocess.run(["git", *author, *command], check=True)

    run_it, test_it = (readme_command(section) for section in ("## Run it", "## Test it"))
    print(f"\nCreated {SLUG}/. Next steps (README.md's *Run it*):\n  cd {SLUG}\n  {run_it}\nTests: {test_it}")
    if not Path(".git").exists():  # updates from the template merge with conflict markers only from this commit
        print(f"Commit it as generated, before any change: {COMMIT_AS_GENERATED}")


COMMIT_AS_GENERATED = 'git init -q -b main && git add -A && git commit -qm "Generated from the template"'


def readme_command(heading):
    """The first command under `heading` in the project's README: printed here as it is written there."""
    section = Path("README.md").read_text().split(heading, 1)[1]
    return section.split("```sh\n", 1)[1].split("\n", 1)[0]


if __name__ == "__main__":
    main()
