"""The documentation builds without a warning and says what the code does.

- docs/ builds with Sphinx in -W mode (warnings are errors), so a snippet whose file or marker
  disappeared from the template, or a documented wrong answer the hook no longer refuses, breaks
  the build instead of going stale;
- what the pages show the hook print is what it prints, every rule of the hook has an example, and
  error lines written by hand (the READMEs, any page) are the hook's own;
- every file of the project the docs quote has a row in docs/generated-files.md, every option of
  cookiecutter.json a row in docs/options.md, and the variables table lists every variable;
- the versions and defaults the READMEs name are the ones the template uses, and the commands the
  generated README gives for deploying and for the real-time add-on work as written;
- the performance page's reading of the benchmark names the run that bench/RESULTS.md holds.
"""

import ast
import html
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from .conftest import BOARD, TEMPLATE, fake_heroku

sys.path.insert(0, str(TEMPLATE / "docs"))
import template_facts  # noqa: E402  (the docs' own extension: the same runs the pages show)

DOCS = TEMPLATE / "docs"
SLUG = "<slug>"  # how the pages write the project's package folder


def bake_options():
    """The BAKE_OPTIONS dict of docs/conf.py, read without running conf.py (it bakes on import)."""
    for node in ast.parse((DOCS / "conf.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "BAKE_OPTIONS" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("docs/conf.py has no BAKE_OPTIONS = {...} dict")


def table_entries(page):
    """The code spans (`...`) in the first column of every Markdown table row of a page."""
    entries = set()
    for line in (DOCS / page).read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            entries.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return entries


def texts(page_html, tag):
    """The text inside each <tag>...</tag> of a built page, markup removed."""
    found = re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", page_html, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", text)) for text in found]


@pytest.fixture(scope="module")
def baked(bake):
    """The project docs/conf.py quotes (the session's bake with the same answers)."""
    return bake(**bake_options())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The HTML build of docs/, made once: {page name: its HTML}."""
    output = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run(  # docs/conf.py makes builds wait for each other (they share docs/_build/bake)
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(output)],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=False,  # the assertion below shows Sphinx's warnings
    )
    assert result.returncode == 0, result.stderr
    return {path.stem: path.read_text() for path in output.glob("*.html")}


def test_docs_build_without_warnings(built):
    assert "generated-files" in built and "options" in built


def test_every_generated_file_has_a_row_in_the_generated_files_table(baked):
    package = baked.name  # the project folder and its package share the slug
    documented = table_entries("generated-files.md")
    missing = []
    for path in sorted(p for p in baked.rglob("*") if p.is_file()):
        relative = path.relative_to(baked).as_posix()
        shown = re.sub(rf"^{re.escape(package)}/", f"{SLUG}/", relative)
        if shown not in documented:
            missing.append(shown)
    assert not missing, f"add a row to docs/generated-files.md for: {', '.join(missing)}"


def test_the_variables_table_lists_every_variable_of_env_example(built, baked):
    listed = template_facts.variables((baked / ".env.example").read_text())
    assert {"SECRET_KEY", "DATABASE_URL", "REALTIME_PORT"} <= set(listed), "the reader no longer finds them"
    table = next(text for text in texts(built["settings"], "table") if "Variable" in text and "Meaning" in text)
    missing = [name for name in listed if name not in table]
    assert not missing, f"the rendered table on the settings page misses {missing}"


def test_every_option_has_a_row_on_the_options_page():
    options = [key for key in json.loads((TEMPLATE / "cookiecutter.json").read_text()) if not key.startswith("_")]
    documented = table_entries("options.md")
    missing = [key for key in options if key not in documented]
    assert not missing, f"add a row to the table in docs/options.md for: {', '.join(missing)}"


# The hook's error lines


def hook_rules():
    """The constant text of each rule in the pre-generation hook's problem(), e.g. 'is a Python keyword'."""
    tree = ast.parse((TEMPLATE / "hooks" / "pre_gen_project.py").read_text())
    problem = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "problem")
    (rules,) = [
        node.value
        for node in ast.walk(problem)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "rules"
    ]
    texts = []
    for element in rules.elts:
        rule = (element.value.elt if isinstance(element, ast.Starred) else element).elts[2]
        parts = [rule] if isinstance(rule, ast.Constant) else [v for v in rule.values if isinstance(v, ast.Constant)]
        texts.append(max((part.value for part in parts), key=len).strip())
    return texts


def shown_hook_lines(page_html):
    return [text for text in texts(page_html, "code") if template_facts.HOOK_ERROR.fullmatch(text)]


def test_the_options_page_shows_an_example_of_every_rule_of_the_hook(built):
    shown = shown_hook_lines(built["options"])
    rules = hook_rules()
    assert len(rules) > 5, "the reader no longer finds the hook's rules"
    missing = [rule for rule in rules if not any(rule in line for line in shown)]
    assert not missing, f"add an example to the hook-errors table in docs/options.md for: {missing}"


def documented_answers(line):
    """The answer an error line of the hook is about, e.g. {'project_slug': 'json'}."""
    match = template_facts.HOOK_ERROR.fullmatch(line)
    return {match["field"]: ast.literal_eval(match["value"])}


def test_error_lines_written_by_hand_are_what_the_hook_prints(bake):
    generated = bake(use_rest=True, use_realtime=True)
    pages = [TEMPLATE / "README.md", *DOCS.glob("*.md"), *generated.rglob("*.md")]
    keys = "|".join(key for key in json.loads((TEMPLATE / "cookiecutter.json").read_text()) if not key.startswith("_"))
    claims = {}
    for page in pages:
        # Every line about an answer, "ERROR: <key> ...", in whatever form it was written.
        for line in re.findall(rf"ERROR: (?:{keys}) [^`\n]+", page.read_text()):
            claims.setdefault(line, page.name)
    assert claims, "no error line of the hook found in the READMEs (the README shows one)"
    for line, page in claims.items():
        assert template_facts.HOOK_ERROR.fullmatch(line), f"{page}: {line!r} is not in the form the hook prints"
        answers = documented_answers(line)
        try:
            printed = template_facts.hook_error(answers)
        except template_facts.AnswerNotRefused:  # e.g. use_rest '2': only a config file's number gets that far
            printed = template_facts.hook_error({k: yaml.safe_load(v) for k, v in answers.items()}, via="config file")
        assert printed == line, f"{page} shows a line the hook does not print; it prints:\n{printed}"


def test_the_quickstart_shows_everything_a_refused_answer_prints(built):
    (block,) = [text for text in texts(built["quickstart"], "pre") if "project_slug=My-Project" in text]
    command, first, *report = block.strip().splitlines()
    assert command == "$ cookiecutter --no-input cookiecutter-lightweight-django project_slug=My-Project"
    assert first == template_facts.hook_error({"project_slug": "My-Project"})
    # cookiecutter 2.7.1's own report of a failed hook, traceback included, which the pages say
    # cannot be switched off; if a new cookiecutter drops it, this fails and the pages must change.
    assert report[0] == "ERROR: Stopping generation because pre_gen_project hook script didn't exit successfully"
    assert report[1] == "Traceback (most recent call last):"
    assert report[-1] == "Hook script failed (exit status: 1)"


# What the READMEs say


def markdown_files(bake):
    generated = bake(use_rest=True, use_realtime=True)
    return [TEMPLATE / "README.md", *DOCS.glob("*.md"), *generated.rglob("*.md")]


def test_every_markdown_table_has_a_header_row(bake):
    """A blank line inside a table starts a new one without a header, which renders as plain text."""
    broken = []
    for page in markdown_files(bake):
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines):
            starts_table = line.startswith("|") and (number == 0 or not lines[number - 1].startswith("|"))
            if starts_table and not (number + 1 < len(lines) and re.match(r"^\|\s*:?-", lines[number + 1])):
                broken.append(f"{page.name}:{number + 1}: {line}")
    assert not broken, "table rows without a header (a blank line inside a table?):\n" + "\n".join(broken)


def test_the_readmes_name_the_django_and_python_the_template_uses(bake):
    project = bake()
    django = re.search(r"^Django==(\d+\.\d+)\.", (project / "requirements.txt").read_text(), re.M)[1]
    pythons = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    for readme in (TEMPLATE / "README.md", project / "README.md"):
        named = re.findall(r"Django (\d+\.\d+) project", readme.read_text())
        assert named and set(named) == {django}, f"{readme} names Django {named}; the project pins {django}"
    row = next(
        line for line in (TEMPLATE / "README.md").read_text().splitlines() if line.startswith("| `python_version`")
    )
    default, what = row.split("|")[2:4]
    assert default.strip() == f"`{pythons[0]}`"
    assert re.findall(r"`(3\.\d+)`", what) == pythons, f"the README's python_version row names {what}"


def test_every_honcho_command_shown_runs_the_procfile_from_the_projects_venv(bake):
    commands = []
    for page in markdown_files(bake):
        commands += [(page.name, line) for line in re.findall(r"[^`\n]*honcho start \w[^`\n]*", page.read_text())]
    assert commands
    wrong = [f"{page}: {line}" for page, line in commands if "PATH=.venv/bin:$PATH honcho start" not in line]
    assert not wrong, "the Procfile's commands need the virtualenv on PATH:\n" + "\n".join(wrong)


def test_the_deploy_commands_of_the_generated_readme_work_in_a_fresh_project(bake, tmp_path):
    project = bake()
    readme = (project / "README.md").read_text()
    section = readme.split("## Deploy to Heroku", 1)[1]
    commands = re.search(r"```sh\n(.+?)\n```", section, re.S)[1]
    bin_dir, remote = fake_heroku(tmp_path)
    fresh = tmp_path / "project"
    subprocess.run(["cp", "-a", str(project), str(fresh)], check=True)
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),  # no global git configuration
        "HEROKU_REMOTE": str(remote),
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    result = subprocess.run(
        ["bash", "-e", "-c", commands], cwd=fresh, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{commands}\n{result.stdout}{result.stderr}"
    pushed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main"], cwd=remote, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "Procfile" in pushed and "requirements.txt" in pushed
    assert ".env" not in pushed, "the deploy commands committed the local secrets"


def test_cruft_update_stages_a_clean_update_as_the_updates_page_shows(tmp_path):
    page = (DOCS / "updates.md").read_text()
    shown = re.search(r"\$ git status --short\n(.+?)\n```", page, re.S)[1].splitlines()
    template = tmp_path / "template"
    subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(template)], check=True)
    cruft = [sys.executable, "-m", "cruft"]
    subprocess.run([*cruft, "create", str(template), "--no-input", "--output-dir", str(tmp_path)], check=True)
    project = tmp_path / "my_project"
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "generated"]):
        subprocess.run([*git, *command], cwd=project, check=True)
    example = template / "{{cookiecutter.project_slug}}" / ".env.example"
    example.write_text(example.read_text() + "# A line from a newer template.\n")
    subprocess.run([*git, "commit", "-qam", "newer template"], cwd=template, check=True)
    updated = subprocess.run([*cruft, "update", "-y"], cwd=project, capture_output=True, text=True)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    status = subprocess.run(["git", "status", "--short"], cwd=project, capture_output=True, text=True, check=True)
    assert status.stdout.splitlines() == shown


def test_the_performance_pages_reading_of_the_benchmark_is_of_the_committed_run():
    """docs/performance.md's prose reads bench/RESULTS.md's numbers by hand. It names the run it read, so a new run
    fails this test until someone has read the prose again against it (the tables themselves are included)."""
    sys.path.insert(0, str(TEMPLATE / "bench"))
    from run import published_run  # the benchmark's own reader of a RESULTS.md

    run = published_run((TEMPLATE / "bench" / "RESULTS.md").read_text())["date"].removesuffix(" UTC")
    page = (DOCS / "performance.md").read_text()
    for heading in ("## Against cookiecutter-django", "## What Django 6.1 changed"):
        section = " ".join(page.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0].split())
        assert f"run of {run}" in section, f"{heading} of docs/performance.md does not say it reads the run of {run}"


def test_the_light_core_page_gives_the_line_counts_of_todays_bake(bake):
    """docs/light-core.md's "Lines after" column and its total are `wc -l` of today's projects, not of an old one."""
    page = (TEMPLATE / "docs" / "light-core.md").read_text()
    projects = {"default": bake(), "the REST": bake(use_rest=True), "every add-on": bake(**BOARD)}

    def lines(project, name):
        path = project / name.replace("<slug>", project.name)
        return len(path.read_text().splitlines()) if path.exists() else 0  # 0: the file is gone

    checked = 0
    for first, after in re.findall(r"^\| (`[^|]+`[^|]*) \| [^|]+ \| (\d[^|]*) \|", page, re.MULTILINE):
        names = re.findall(r"`(<slug>/\w+\.py|gunicorn\.conf\.py)`", first)
        if len(names) != 1:
            continue  # not a file of its own
        counts = [
            ("default", after.split()[0]),
            *[(which, n) for n, which in re.findall(r"\((\d+) with (the REST|every add-on)", after)],
        ]
        for which, count in counts:
            assert int(count) == lines(projects[which], names[0]), f"{names[0]}, {which}: the page says {count}"
            checked += 1
    assert checked >= 6, "the table's rows were not found"
    default = projects["default"]
    code = [default / "gunicorn.conf.py", default / "manage.py", *(default / default.name).glob("*.py")]
    assert f"went from 793 lines to {sum(len(path.read_text().splitlines()) for path in code)}." in page
