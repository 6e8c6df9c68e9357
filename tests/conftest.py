"""
Shared fixtures for the template's tests: bakes, virtualenvs and services.

- A bake per set of answers, made once per test session.
- One virtualenv per distinct requirements set (and Python), cached on disk across runs and
  shared between pytest-xdist workers, so 16 option combinations install 4 environments.
- PostgreSQL and Redis come from DATABASE_URL / REDIS_URL. Without them the tests that need
  them skip with the reason; with REQUIRE_SERVICES=1 (as in .ci/run) a missing service fails.
"""

import atexit
import contextlib
import fcntl
import hashlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
OPTIONS = ["use_rest", "use_realtime", "use_github_actions", "init_git"]
# Every combination of the yes/no options, as dicts, with readable ids.
COMBINATIONS = [dict(zip(OPTIONS, values, strict=True)) for values in itertools.product([False, True], repeat=4)]
DEFAULTS = {"use_rest": False, "use_realtime": False, "use_github_actions": True, "init_git": False}
# The options that change the Python project itself; each of these four gets the full run.
ADDON_COMBINATIONS = [
    {**DEFAULTS, "use_rest": rest, "use_realtime": realtime} for rest in (False, True) for realtime in (False, True)
]
# The example app needs both add-ons. Its combinations are baked too (tests/test_bake.py), and BOARD,
# the fifth distinct Python project, gets the full run (tests/test_generated_project.py).
BOARD_COMBINATIONS = [
    {**answers, "example_app": "board"} for answers in COMBINATIONS if answers["use_rest"] and answers["use_realtime"]
]
BOARD = {**DEFAULTS, "use_rest": True, "use_realtime": True, "example_app": "board"}
# package_manager=uv changes only how the same pins are declared, locked and installed: each of the five
# distinct Python projects is baked, linted and given the full run with it too (the yes/no options that change no
# Python, use_github_actions and init_git, are not multiplied again), and tests/test_bake.py checks the
# template's lock of every add-on combination.
UV_COMBINATIONS = [{**answers, "package_manager": "uv"} for answers in [*ADDON_COMBINATIONS, BOARD]]
VENV_CACHE = Path(os.environ.get("LDJ_VENV_CACHE", "/tmp/ldj-venvs"))
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "template-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
}


def combination_id(answers):
    chosen = [name.removeprefix("use_") for name in OPTIONS if answers[name]]
    if answers.get("example_app", "none") != "none":
        chosen.append(answers["example_app"])
    if answers.get("package_manager", "pip") != "pip":
        chosen.append(answers["package_manager"])
    return "-".join(chosen) or "core"


def combination_param(answers):
    return pytest.param(answers, id=combination_id(answers))


_bakes = {}


@pytest.fixture(scope="session")
def bake(tmp_path_factory):
    """bake(**answers) -> the generated project's folder; the same answers give the same folder."""

    def make(**answers):
        key = tuple(sorted(answers.items()))
        if key not in _bakes:
            output = str(tmp_path_factory.mktemp("bake"))
            _bakes[key] = Path(
                cookiecutter(
                    str(TEMPLATE), no_input=True, output_dir=output, extra_context=answers, default_config=True
                )
            )
        return _bakes[key]

    return make


def find_python(version):
    """The interpreter for version '3.N' on this machine (PATH or pyenv), or None."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True)
        if probe.returncode == 0 and probe.stdout.decode().strip() == str(tuple(map(int, version.split(".")))):
            return str(candidate)
    return None


def project_python(project):
    """The interpreter for the Python the project's .python-version names (it is what deploys run)."""
    version = (project / ".python-version").read_text().strip()
    python = find_python(version)
    require(python, f"Python {version} (the project's .python-version) is not installed on this machine")
    return python


def project_venv(project, python=None, requirements_file="requirements-dev.txt"):
    """A virtualenv, made with the project's own Python, with requirements-dev.txt installed; returns bin/.
    requirements_file="requirements.txt": only what the platform installs for production.
    A uv project (it has uv.lock) is installed by uv from its lock, as its README and Heroku install it."""
    python = python or project_python(project)
    if (project / "uv.lock").exists():
        return uv_venv(project, python, dev=requirements_file == "requirements-dev.txt")
    requirements = requirements_file + "".join(
        (project / name).read_text() for name in ["requirements.txt", "requirements-dev.txt"]
    )
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True)
    key = hashlib.sha256((version.stdout.decode() + requirements).encode()).hexdigest()[:16]
    venv = VENV_CACHE / key
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    with open(VENV_CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be building the same one
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "-r", str(project / requirements_file)], check=True, cwd=project)
            (venv / "ready").write_text(requirements)
    return venv / "bin"


def uv():
    """The uv that requirements.txt pins (the `uv` package ships the binary)."""
    from uv import find_uv_bin

    return find_uv_bin()


def uv_venv(project, python, dev=True):
    """`uv sync --locked` into a cached virtualenv: with the dev group, or without it as Heroku's buildpack installs
    (`--no-default-groups`). --locked fails when uv.lock does not match pyproject.toml."""
    inputs = (project / "uv.lock").read_text() + (project / "pyproject.toml").read_text() + f"dev={dev}"
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True)
    key = "uv-" + hashlib.sha256((version.stdout.decode() + inputs).encode()).hexdigest()[:16]
    venv = VENV_CACHE / key
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    with open(VENV_CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            groups = [] if dev else ["--no-default-groups"]
            command = [uv(), "sync", "--locked", "--quiet", "--python", python, *groups]
            env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
            subprocess.run(command, check=True, cwd=project, env=env)
            (venv / "ready").write_text(inputs)
    return venv / "bin"


def require(available, what):
    """Skip loudly when `what` is missing, or fail when the run promised everything (REQUIRE_SERVICES=1)."""
    if not available:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {what}")
        pytest.skip(f"SKIPPED LOUDLY: {what}")


def service_url(name):
    """The URL in env var `name`, which this test needs."""
    require(os.environ.get(name), f"{name} is not set: this test needs the service (e.g. {name}={EXAMPLE_URLS[name]})")
    return os.environ[name]


EXAMPLE_URLS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def fresh_database(name):
    """A new, empty PostgreSQL database next to DATABASE_URL's; returns its URL.

    The name gets this process's id, so two suite runs against one server (or two xdist workers)
    never drop each other's databases; the process drops its own when it exits.
    """
    admin_url = service_url("DATABASE_URL")
    name = f"{name}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        drop_databases(connection, name)
        connection.execute(f'CREATE DATABASE "{name}"')
    if not CREATED_DATABASES:
        atexit.register(drop_created_databases, admin_url)
    CREATED_DATABASES.append(name)
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


CREATED_DATABASES = []


def drop_databases(connection, name):
    for database in (name, f"test_{name}"):  # pytest-django's test database too
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def drop_created_databases(admin_url):
    with psycopg.connect(admin_url, autocommit=True) as connection:
        for name in CREATED_DATABASES:
            drop_databases(connection, name)


FAKE_HEROKU = """#!/bin/sh
# Stands in for the Heroku CLI: writes each command to $HEROKU_LOG when it is set; `heroku create` adds the git remote
# `heroku` (to $HEROKU_REMOTE) when run in a git repository, as the real one does. The rest needs no network here.
[ -n "$HEROKU_LOG" ] && printf '%s\\n' "$*" >> "$HEROKU_LOG"
[ "$1" = create ] && git rev-parse --git-dir >/dev/null 2>&1 && git remote add heroku "$HEROKU_REMOTE"
exit 0
"""


def fake_heroku(folder):
    """A stand-in `heroku` command in folder/bin, and the bare repository folder/heroku.git that takes the push:
    (the bin folder to put first on PATH, the repository to set as HEROKU_REMOTE)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "heroku").write_text(FAKE_HEROKU)
    (bin_dir / "heroku").chmod(0o755)
    remote = folder / "heroku.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    return bin_dir, remote


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url, process, log, timeout=30):
    """Poll url until it answers (any HTTP status); fail early, with the log, if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            return urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError as error:
            return error
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()}")


def run(command, cwd, bin_dir=None, env=None, check=True, timeout=600):
    """Run a command in a generated project with only the given environment (plus PATH)."""
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}" if bin_dir else os.environ["PATH"]
    full_env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    result = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def procfile(project):
    """The Procfile as {process type: command}."""
    lines = (project / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


class PortTaken(AssertionError):
    """Another server listens on the port a Procfile process was to serve on."""


def listeners(port):
    """The process groups of the processes that hold a TCP socket listening on `port` (read from Linux's /proc)."""
    sockets = set()
    for table in filter(os.path.exists, ["/proc/net/tcp", "/proc/net/tcp6"]):  # tcp6: unless IPv6 is off
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                sockets.add(f"socket:[{fields[9]}]")
    groups = set()
    for fds in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):  # a process that has ended meanwhile
            if any(os.readlink(fd) in sockets for fd in fds.iterdir()):
                groups.add(os.getpgid(int(fds.parent.name)))
    return groups


class ProcfileProcess:
    """One Procfile line run as the platform runs it (bash -c, PORT set), answering /healthz once started.

    A port that free_port() found free may be bound by another test's server before this one binds it; the
    answers would then come from that server. So start() checks that the listener is this process, and a
    process given no port starts again on another one."""

    def __init__(self, project, name, bin_dir, env, port=None, port_variable="PORT"):
        self.project, self.name, self.port_variable = project, name, port_variable
        self.env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
        self.log = project / f"{name}.log"
        for attempt in range(1, 4):
            self.port = port or free_port()
            try:
                self.start()
                return
            except PortTaken:
                if port or attempt == 3:
                    raise

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                ["bash", "-c", procfile(self.project)[self.name]],
                cwd=self.project,
                env={**self.env, "PORT": str(self.port), self.port_variable: str(self.port)},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals it whole, listeners() names it
            )
        try:
            wait_for_http(f"{self.url}/healthz", self.process, self.log)
            if self.process.pid in listeners(self.port):
                return
        except AssertionError:
            if not listeners(self.port):
                raise  # it failed, and not for want of its port
        self.stop()
        raise PortTaken(f"port {self.port} is another server's; {self.name}'s log:\n{self.output()}")

    def stop(self, how=signal.SIGTERM):
        """Signal the process group and return the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, how)
        return self.process.wait(timeout=30)

    def output(self):
        return self.log.read_text()


def web_and_realtime(project, bin_dir, env):
    """The Procfile's web and realtime lines, started as `honcho start` starts them: {"web": ..., "realtime": ...}.
    Tornado listens on a free port that both get as REALTIME_PORT: the port Django's pages tell browsers to open
    their socket on, and (without Redis) the one Django POSTs events to."""
    realtime = ProcfileProcess(project, "realtime", bin_dir, env, port_variable="REALTIME_PORT")
    web = ProcfileProcess(project, "web", bin_dir, {**env, "REALTIME_PORT": str(realtime.port)})
    return {"web": web, "realtime": realtime}


def own_suite(path, bin_dir, **env):
    """Run the project's own pytest with this run's Redis and its promise that services are there."""
    passed = {name: os.environ[name] for name in ("REDIS_URL", "REQUIRE_SERVICES") if name in os.environ}
    result = run(["pytest", "-q"], path, bin_dir, {**passed, **env})
    summary = result.stdout.strip().splitlines()[-1]  # "12 passed in 3.45s": no failure, error or warning
    assert re.fullmatch(r"\d+ passed(, \d+ skipped)? in .*", summary), result.stdout
    if os.environ.get("REQUIRE_SERVICES") == "1":
        assert " skipped" not in result.stdout, result.stdout
