"""Check every answer before a file is written: one clear line per mistake, exit 1."""

import json
import keyword
import re
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# Top-level packages of the dependencies; a project named like one would shadow it.
TAKEN = {"django", "environ", "whitenoise", "gunicorn", "psycopg", "redis", "rest_framework"}
TAKEN |= {"drf_spectacular", "tornado", "pytest", "test", "tests", "site", "static", "templates"}
BOOLEANS = ["use_rest", "use_realtime", "use_github_actions", "init_git"]
# The Django app label of each add-on; the project's own app, labelled by the slug, must not share it.
ADDON_LABELS = {"use_rest": "api", "use_realtime": "realtime"}
PYTHONS = ["3.11", "3.12", "3.13"]
EMAIL = re.compile(r"^[^@\s\"'<>\\,;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def problem():
    """Return the first thing wrong with the answers as one line, or None."""
    slug = ANSWERS["project_slug"]
    for field in ["project_name", "description", "author_name"]:
        if CONTROL.search(ANSWERS[field]):
            return f"{field} contains a line break or control character; use one line of text, e.g. {field}=\"My Project\""
    if not ANSWERS["project_name"].strip():
        return 'project_name is empty; give the project a name, e.g. project_name="My Project"'
    if not slug:
        return f"project_name {ANSWERS['project_name']!r} gives no package name; use letters in it or set one, e.g. project_slug=my_project"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
        return f"project_slug {slug!r} must be a lowercase ASCII Python identifier (a-z, 0-9, _; starts with a letter), e.g. project_slug=my_project"
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return f"project_slug {slug!r} is a Python keyword; choose another name, e.g. project_slug={slug}_site"
    if slug in sys.stdlib_module_names or slug in TAKEN:
        return f"project_slug {slug!r} would shadow the {slug!r} module; choose another name, e.g. project_slug={slug}_site"
    if not EMAIL.fullmatch(ANSWERS["email"]):
        return f"email {ANSWERS['email']!r} is not an email address; use name@domain, e.g. email=you@example.com"
    if ANSWERS["python_version"] not in PYTHONS:
        return f"python_version {ANSWERS['python_version']!r} is not supported; use one of {', '.join(PYTHONS)}, e.g. python_version=3.12"
    for name in BOOLEANS:
        if not isinstance(ANSWERS[name], bool):
            return f"{name} {ANSWERS[name]!r} is not a yes/no answer; use true or false, e.g. {name}=false"
    for option, label in ADDON_LABELS.items():
        if ANSWERS[option] and slug == label:
            return (
                f"project_slug {slug!r} is the app label of the {option} add-on; "
                f"choose another, e.g. project_slug={slug}_site"
            )
    return None


if __name__ == "__main__":
    if message := problem():
        print(f"ERROR: {message}", file=sys.stderr)
        sys.exit(1)
