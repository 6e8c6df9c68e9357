"""The pages' shell commands that no other test runs, run as printed; where one needs the internet (Heroku, a
benchmark's tools), what can be checked offline.

The other pages' commands run elsewhere: the README's (tests/test_repository.py, test_install_commands.py),
instructors.md's (test_instructors.py), updates.md's (test_updates.py), releases.md's (test_releases.py,
test_repository.py), and the cookiecutter runs the pages show with their output ({cookiecutter-output}, run by
the docs build in test_docs.py). Commands a page repeats from one of those are checked to be the same command.
"""

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from .conftest import BOARD, PRODUCTION_ENV, TEMPLATE, fake_heroku, free_port, project_venv, wait_for_http
from .readme import readme_commands
from .released import on_a_terminal

DOCS = TEMPLATE / "docs"


def console(page, containing=""):
    """[(command, [lines it shows])] of the page's ```console blocks (with `containing` in them), in order; a
    command continued with a backslash is one command."""
    steps = []
    for block in re.findall(r"^```console\n(.*?)^```", (DOCS / page).read_text(), re.S | re.M):
        if containing not in block:
            continue
        for line in block.replace("\\\n", "").splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


def commands(page, containing=""):
    return [command for command, _ in console(page, containing)]


def shell(command, cwd, env, check=True):
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert not check or result.returncode == 0, f"$ {command}\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture
def reader(tmp_path):
    """(folder, environment) of a reader who cloned the template beside `folder`'s projects and installed
    cookiecutter (this suite's) on PATH, with a HOME of their own."""
    os.symlink(TEMPLATE, tmp_path / "cookiecutter-lightweight-django")
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "TERM": "xterm",
    }
    return tmp_path, env


def test_the_pages_cookiecutter_commands_generate_what_they_say(reader):
    """quickstart.md's two ways to generate, board.md's, index.md's and rest.md's: each makes its project."""
    folder, env = reader
    (asking,) = commands("quickstart.md", "$ cookiecutter cookiecutter-lightweight-django\n")
    status, output = on_a_terminal(asking, folder, env, r"\[\d+/\d+\]")  # Enter at each question: the defaults
    assert status == 0 and (folder / "my_project" / "manage.py").exists(), output
    shutil.rmtree(folder / "my_project")
    (named,) = commands("quickstart.md", "Blog Demo")
    shell(named, folder, env)
    assert (folder / "blog_demo" / "blog_demo" / "api").is_dir(), "use_rest=true: the REST add-on"
    (board,) = commands("board.md", "example_app=board")
    shell(board, folder, env)
    assert (folder / "my_project" / "my_project" / "board").is_dir()
    shutil.rmtree(folder / "my_project")
    generate = commands("index.md", "cookiecutter --no-input")[0]
    shell(generate, folder, env)
    assert (folder / "my_project" / "manage.py").exists()
    shutil.rmtree(folder / "my_project")
    (rest,) = re.findall(r"^cookiecutter path/to/.*", (DOCS / "rest.md").read_text(), re.M)
    status, output = on_a_terminal(rest.replace("path/to/", ""), folder, env, r"\[\d+/\d+\]")
    assert status == 0 and (folder / "my_project" / "my_project" / "api").is_dir(), output


def test_commands_a_page_repeats_are_the_ones_the_other_tests_run(bake, tmp_path):
    first, test = readme_commands()  # tests/test_repository.py runs both (the second through .ci/run)
    assert first.endswith(" && .venv/bin/python manage.py migrate && .venv/bin/python manage.py runserver")
    assert commands("index.md", "pytest") == [test]
    # updates.md installs cruft and copier as the README's *Without a clone* does (test_install_commands.py).
    readme = (TEMPLATE / "README.md").read_text()
    updates = re.search(r"```sh\n(pipx install cruft.*?)```", (DOCS / "updates.md").read_text(), re.S)[1]
    assert all(f"\n{line}\n" in readme for line in updates.splitlines()), updates
    # ci.md's command for other CI systems: the next steps' venv and install, then the tests (the project's own
    # suite runs with that install in test_generated_project.py).
    (ci,) = commands("ci.md", "pytest")
    steps = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # index.md's run command: the next steps generation prints (the generated README's *Run it*).
    _, cd, run = commands("index.md", "cookiecutter --no-input")
    assert f"\n  {cd}\n  {run}\n" in steps, steps
    venv_and_install = ci.removesuffix(" && .venv/bin/pytest")
    assert venv_and_install != ci and f"; {venv_and_install} && " in steps, steps
    assert ".venv/bin/pytest\n" in steps
    # board.md's *Run it*: the board project's README's commands (its first command runs in test_newcomer.py).
    board_readme = (bake(**BOARD) / "README.md").read_text()
    assert all(command in board_readme for command in commands("board.md", "createsuperuser"))


def test_the_pages_manage_py_lines_print_what_they_show(bake, tmp_path):
    """settings.md's configuration errors and quickstart.md's deploy check, with the project's venv as `python`."""
    project = tmp_path / "project"
    shutil.copytree(bake(), project)
    no_secret = tmp_path / "no-secret"  # "with no SECRET_KEY anywhere": not in .env either
    shutil.copytree(bake(), no_secret)
    env_file = no_secret / ".env"
    env_file.write_text(re.sub(r"^SECRET_KEY=.*\n", "", env_file.read_text(), flags=re.M))
    for folder in (project, no_secret):
        os.symlink(project_venv(project).parent, folder / ".venv")  # the venv its README makes
    env = {"PATH": f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}  # python
    steps = console("settings.md", "Configuration error")
    (deploy,) = console("quickstart.md", "check --deploy")
    secret = PRODUCTION_ENV["SECRET_KEY"]  # for `SECRET_KEY=...`: any real key
    steps.append((deploy[0].replace("SECRET_KEY=...", f"SECRET_KEY={secret}"), deploy[1]))
    assert len(steps) == 4
    for command, shown in steps:
        where = no_secret if "no SECRET_KEY anywhere" in command else project
        result = shell(command, where, env, check=False)
        assert (result.stdout + result.stderr).splitlines() == shown, f"$ {command}\n{result.stdout}{result.stderr}"


def test_production_mode_on_your_machine_answers_as_the_quickstart_says(bake, tmp_path):
    """quickstart.md's production mode: collectstatic, then gunicorn; plain HTTP redirected, /healthz answers
    (as the page's `curl` shows it). On a port of its own: 8000 may be another test's."""
    project = tmp_path / "project"
    shutil.copytree(bake(), project)
    os.symlink(project_venv(project).parent, project / ".venv")  # the venv its README makes
    collect, serve = commands("quickstart.md", "gunicorn")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    shell(collect, project, env)
    port = free_port()
    assert " PORT=8000 " in serve
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            ["bash", "-c", serve.replace(" PORT=8000 ", f" PORT={port} ")],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        (_, shown), *_ = console("quickstart.md", "curl http://127.0.0.1:8000/healthz")
        health = wait_for_http(f"http://127.0.0.1:{port}/healthz", server, log)
        assert (health.status, health.read().decode()) == (200, shown[0]), log.read_text()
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"http://127.0.0.1:{port}/", timeout=30)
        assert redirect.value.code == 301 and redirect.value.headers["Location"].startswith("https://127.0.0.1")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def test_the_heroku_pages_commands_deploy_with_config_vars_that_pass_the_deploy_check(bake, tmp_path):
    """heroku.md's commands need Heroku: a stand-in CLI records them and a bare repository takes the push. The
    config vars they set (and DEBUG left unset, as the page says) pass Django's deploy check."""
    steps = commands("heroku.md", "heroku create")
    assert steps[-1] == "git push heroku main"
    bin_dir, remote = fake_heroku(tmp_path)
    project = tmp_path / "project"
    shutil.copytree(bake(), project)
    git = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T"}
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "HEROKU_LOG": str(tmp_path / "heroku.log"),
        "HEROKU_REMOTE": str(remote),
        **git,
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    shell("git init -q -b main && git add -A && git commit -qm Start", project, env)  # "once it is a git repository"
    for command in steps:
        shell(command, project, env)
    pushed = subprocess.run(["git", "ls-tree", "-r", "--name-only", "main"], cwd=remote, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    assert "Procfile" in pushed and ".env" not in pushed
    config = {}
    for line in (tmp_path / "heroku.log").read_text().splitlines():
        if line.startswith("config:set "):
            config.update(pair.split("=", 1) for pair in line.removeprefix("config:set ").split())
    assert sorted(config) == ["ALLOWED_HOSTS", "SECRET_KEY"] and len(config["SECRET_KEY"]) >= 50, config
    check = [str(project_venv(project) / "python"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    fresh = tmp_path / "checkout"  # as Heroku builds it: without .env
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".env", ".git"))
    result = subprocess.run(check, cwd=fresh, env={"PATH": os.environ["PATH"], **config}, capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_the_pages_commands_for_the_templates_own_tests_and_benchmark_name_what_exists():
    """board.md's and security.md's runs of the template's browser tests (the suite runs those files itself), and
    performance.md's benchmark commands, which need wrk, Node.js, a cookiecutter-django project and 45 minutes:
    the files, variables and options they name exist."""
    requirements = (TEMPLATE / "requirements-dev.txt").read_text()
    for command in commands("board.md", "pytest") + commands("security.md", "pytest"):
        words = command.split()
        variables = [word.split("=", 1)[0] for word in words if re.fullmatch(r"[A-Z_]+=\S+", word)]
        files = [TEMPLATE / word for word in words if word.startswith("tests/")]
        assert files and all(path.exists() for path in files), command
        text = "".join(path.read_text() for path in [*files, TEMPLATE / "tests" / "conftest.py"])
        assert all(name in text for name in variables), f"{command}: nothing reads {variables}"
        assert "-n" not in words or re.search(r"^pytest-xdist==", requirements, re.M), command
    blocks = re.findall(r"```sh\n(.*?)```", (DOCS / "performance.md").read_text(), re.S)
    rerun, profile = [block for block in blocks if "bench/" in block]
    options = {
        call.args[0].value
        for call in ast.walk(ast.parse((TEMPLATE / "bench" / "run.py").read_text()))
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "add_argument"
    }
    runs = [line.split("#")[0] for line in rerun.splitlines() if "bench/run.py" in line]
    named = set(re.findall(r" (--[a-z-]+)", " ".join(runs)))
    assert runs and named <= options, named - options
    assert all((TEMPLATE / path).exists() for path in re.findall(r"-r (\S+)", rerun)), rerun
    assert "my_project.wsgi:application" in profile and "gunicorn -c gunicorn.conf.py" in profile
    if shutil.which("wrk"):  # else the benchmark stops and says so
        (wrk,) = re.findall(r"^wrk .*", profile, re.M)
        usage = subprocess.run(["wrk", "--help"], capture_output=True, text=True)
        flags = re.findall(r" (-[a-zA-Z]) ", wrk)
        assert flags and all(f"{flag}," in usage.stdout + usage.stderr for flag in flags), usage.stderr
