"""Check every answer before a file is written: one clear line for the first mistake, exit 1."""

import json
import keyword
import re
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# A project named like one of these would shadow it. The import names of everything any option combination
# installs (tests/test_hooks.py reads them from the real virtualenvs and keeps this equal) ...
# fmt: off
INSTALLED = {
    "asgiref", "attr", "attrs", "axes", "cfgv", "distlib", "django", "django_permissions_policy", "django_redis",
    "dotenv", "drf_spectacular", "drf_spectacular_sidecar", "environ", "filelock", "gevent", "greenlet", "gunicorn",
    "honcho", "identify", "inflection", "iniconfig", "jsonschema", "jsonschema_specifications", "nodeenv",
    "packaging", "pip", "platformdirs", "pluggy", "pre_commit", "psycopg", "psycopg_binary", "psycopg_pool", "py",
    "pygments", "pytest", "pytest_django", "pytest_env", "python_discovery", "redis", "referencing", "rest_framework",
    "rpds", "ruff", "sqlparse", "tornado", "typing_extensions", "uritemplate", "virtualenv", "whitenoise", "yaml",
    "zope",
}
# fmt: on
# ... and the project's own top-level modules, and the folders cookiecutter copies without rendering.
TAKEN = INSTALLED | {"conftest", "manage", "tests", "static", "templates"}
FREE_TEXT = ["project_name", "description", "author_name"]
BOOLEANS = ["use_rest", "use_realtime", "use_github_actions", "init_git"]
# The Django app label of each add-on; the project's own app, labelled by the slug, must not share it.
ADDON_LABELS = {"use_rest": "api", "use_realtime": "realtime", "example_app": "board"}
PYTHONS = ["3.13", "3.12"]  # cookiecutter.json's choices (tests/test_hooks.py keeps them equal)
PACKAGE_MANAGERS = ["pip", "uv"]  # the same
EMAIL = re.compile(r"[^@\s\"'<>\\,;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def problem():
    """The first broken rule as (field, rule, valid example), or None when every answer is fine."""
    slug = ANSWERS["project_slug"]
    rules = [
        *[(field, CONTROL.search(ANSWERS[field]), "must be one line of plain text") for field in FREE_TEXT],
        ("project_name", not ANSWERS["project_name"].strip(), "must not be empty"),
        # cookiecutter.json derives "-" from a name without letters: the folder must not be named "".
        ("project_name", slug == "-", "has no letters to make a package name from; set project_slug"),
        ("project_slug", not re.fullmatch(r"[a-z][a-z0-9_]*", slug), "must be a lowercase ASCII Python identifier"),
        ("project_slug", keyword.iskeyword(slug) or keyword.issoftkeyword(slug), "is a Python keyword"),
        ("project_slug", slug in sys.stdlib_module_names | TAKEN, "would shadow a module of that name"),
        (
            "project_slug",
            any(ANSWERS[option] not in (False, "none") and slug == label for option, label in ADDON_LABELS.items()),
            "is the app label of a chosen add-on",
        ),
        ("email", not EMAIL.fullmatch(ANSWERS["email"]), "is not an email address (name@domain)"),
        ("python_version", ANSWERS["python_version"] not in PYTHONS, f"must be one of {', '.join(PYTHONS)}"),
        (
            "package_manager",
            ANSWERS["package_manager"] not in PACKAGE_MANAGERS,
            f"must be one of {', '.join(PACKAGE_MANAGERS)}",
        ),
        *[(name, not isinstance(ANSWERS[name], bool), "must be true or false") for name in BOOLEANS],
        # The example app is built on both add-ons.
        (
            "example_app",
            ANSWERS["example_app"] == "board" and not (ANSWERS["use_rest"] and ANSWERS["use_realtime"]),
            "needs use_rest=true and use_realtime=true",
        ),
    ]
    return next(((field, rule) for field, broken, rule in rules if broken), None)


EXAMPLES = {"project_name": '"My Project"', "description": '"A lightweight Django project."'}
EXAMPLES |= {"author_name": '"Ada Lovelace"', "project_slug": "my_project", "email": "you@example.com"}
EXAMPLES |= {"python_version": "3.13", "package_manager": "pip", "example_app": "none"}
EXAMPLES |= dict.fromkeys(BOOLEANS, "false")

if __name__ == "__main__":
    if found := problem():
        field, rule = found
        print(f"ERROR: {field} {ANSWERS[field]!r} {rule}; e.g. {field}={EXAMPLES[field]}", file=sys.stderr)
        sys.exit(1)
