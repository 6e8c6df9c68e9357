"""
An add-on is a folder you can delete: docs/light-core.md says, for each, what to delete by hand, and these
tests follow those steps in a generated project, then run what is left: ruff and the project's own suite.
"""

import re
import shutil

import pytest

from .conftest import own_suite, project_venv, run

# What docs/light-core.md says to remove, file by file: the lines that name the add-on, and the blocks that start
# at a line and run to the next blank line ("blank"), the end of the file ("end") or the next section ("section").
REMOVAL = {
    "use_rest": {
        "folder": "my_project/api",
        "lines": {
            "my_project/settings.py": ['"my_project.api"', '"rest_framework', '"drf_spectacular'],
            "my_project/urls.py": ['"my_project.api.urls"'],
            "app.json": ['"API_'],
            "requirements-dev.txt": ["jsonschema==", "`manage.py spectacular --validate`"],
            "README.md": ["| `my_project/api/` |"],
        },
        "blocks": {
            "my_project/settings.py": ("# REST API:", "blank"),
            "my_project/env.py": ("# Requests per period", "blank"),
            "requirements.txt": ("# REST API:", "end"),
            ".env.example": ("# REST API (/api/)", "end"),
            "README.md": ("## REST API", "section"),
        },
    },
    "use_realtime": {
        "folder": "my_project/realtime",
        "lines": {
            "my_project/settings.py": ['"my_project.realtime"'],
            "my_project/urls.py": ['"my_project.realtime.urls"'],
            "app.json": ['"PROCESS_ROLE"', '"REALTIME_', '"heroku-redis"'],
            "requirements.txt": ["tornado=="],
            "requirements-dev.txt": ["honcho=="],
            "Procfile": ["realtime:"],
            "README.md": ["| `my_project/realtime/` |"],
        },
        "blocks": {
            "my_project/settings.py": ("# Real-time:", "end"),
            ".env.example": ("# Real-time add-on", "end"),
            "README.md": ("## Real-time", "section"),
        },
        "replace": {"Procfile": (r"^web: .*$", "web: gunicorn my_project.wsgi")},
    },
}


def remove_by_hand(project, steps):
    shutil.rmtree(project / steps["folder"])
    for name, words in steps["lines"].items():
        path = project / name
        kept = [line for line in path.read_text().splitlines(True) if not any(word in line for word in words)]
        path.write_text("".join(kept))
    for name, (start, until) in steps["blocks"].items():
        path = project / name
        text = path.read_text()
        begin = text.index(start)
        end = {"blank": text.find("\n\n", begin), "section": text.find("\n## ", begin), "end": -1}[until]
        path.write_text(text[:begin].rstrip("\n") + "\n" + (text[end:] if end >= 0 else ""))
    for name, (pattern, replacement) in steps.get("replace", {}).items():
        path = project / name
        path.write_text(re.sub(pattern, replacement, path.read_text(), flags=re.MULTILINE))
    # The tidying the docs mention: an import nothing uses any more, and a list's last item that lost its comma.
    for name in ("my_project/urls.py", "my_project/env.py"):
        path = project / name
        text = path.read_text()
        if "include(" not in text:
            text = text.replace("import include, path", "import path")
        if not re.search(r"\bre\.", text):
            text = text.replace("import re\n", "")
        path.write_text(text)
    app_json = project / "app.json"
    app_json.write_text(re.sub(r",(\s*[\]}])", r"\1", app_json.read_text()))
    run(["ruff", "format", "."], project, project_venv(project))  # as the docs say, after the edits


@pytest.mark.parametrize("addon", REMOVAL)
def test_deleting_an_add_on_by_hand_leaves_a_project_that_lints_and_passes_its_tests(bake, addon, tmp_path):
    baked = bake(**{addon: True})
    bin_dir = project_venv(baked)  # the add-on's packages stay installed: harmless, and pip can remove them
    project = shutil.copytree(baked, tmp_path / "my_project")  # other tests share the bake
    remove_by_hand(project, REMOVAL[addon])
    assert not (project / REMOVAL[addon]["folder"]).exists()
    run(["ruff", "check", "."], project, bin_dir)
    run(["ruff", "format", "--check", "."], project, bin_dir)
    run(["python", "-c", "import json; json.load(open('app.json'))"], project, bin_dir)
    leftovers = {"use_rest": ["rest_framework", "spectacular", "API_"], "use_realtime": ["tornado", "REALTIME_"]}
    for path in project.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".txt", ".json", ".example", ""} and ".venv" not in path.parts:
            text = path.read_text(errors="replace")
            assert not [word for word in leftovers[addon] if word in text], f"{path.name} still names the add-on"
    own_suite(project, bin_dir)
