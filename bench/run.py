"""
Benchmarks of the generated project: bake time, footprint, start-up, memory, throughput, latency,
Django's own CPU per request without a server, and the real-time add-on's WebSocket fan-out against
Django Channels.

    .venv/bin/pip install -r requirements-dev.txt -r bench/requirements.txt
    CCD=~/src/my_awesome_project   # a cookiecutter-django project with its .venv (docs/performance.md)
    .venv/bin/python bench/run.py --cookiecutter-django $CCD --ccd-about "..."   # full run (~40 min):
                                                    # bench/RESULTS.md and bench/*.png
    .venv/bin/python bench/run.py --quick --cookiecutter-django $CCD   # smoke run (~7 min), in bench/work/quick/

Contenders: the generated project (core, and the add-on bakes listed in ADDON_BAKES), baked from
the template's last commit; a bare `django-admin startproject` with the same /healthz view and
DEBUG=False (and one of the previous Django, OLD_DJANGO, to show what the upgrade changed);
a cookiecutter-django project that you generated and installed yourself (--cookiecutter-django
PROJECT: its folder, with its venv in PROJECT/.venv; the benchmark only runs it, see build_ccd());
and a raw WSGI app (the ceiling). All run on the Python the core's .python-version names and are served by
the generated gunicorn.conf.py with WEB_CONCURRENCY=1.
Fan-out (realtime_fanout.py): the real-time bake's Tornado server and a Channels 4 app, the
same clients (Node.js) and the same Redis (a redis-server of the run's own).

These machines are shared and noisy, so every comparison runs side by side in one run with
the contenders alternating round by round; a result is a ratio of medians, with the min-max
of the per-round ratios as its spread. Public tools only: wrk and hyperfine (Debian), /proc
for memory, Python's timers. Traffic goes to 127.0.0.1 only.
"""

import argparse
import ast
import datetime
import hashlib
import http.client
import importlib.metadata
import json
import os
import pickle
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import realtime_fanout  # bench/ is on sys.path when this file runs as a script

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import find_python  # noqa: E402 - the repository root goes on sys.path first

BENCH = Path(__file__).resolve().parent
TEMPLATE = BENCH.parent
WORK = BENCH / "work"  # git-ignored: bakes, venvs, logs, raw tool output
RUNNER = Path(sys.executable).parent  # the runner's venv: cookiecutter (not the projects' Python)

# --- Contenders and endpoints, as data ------------------------------------------------------

CORE = {"use_rest": False, "use_realtime": False, "use_github_actions": False, "init_git": False}
# Add-on bakes measured beside the core, so each add-on's cost shows as a ratio.
ADDON_BAKES = [{"use_rest": True}, {"use_realtime": True}]

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOP",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    # The REST add-on throttles at 600/minute per user by default; a benchmark is not abuse.
    "API_THROTTLE_USER": "100000000/minute",
}
# Production settings redirect plain HTTP (except /healthz): say we came through an HTTPS proxy.
HEADERS = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}
# The last published run's Django: a bare startproject of it runs beside the current one.
OLD_DJANGO = "Django==5.2.19"

# cookiecutter-django: the variables its production settings read with its defaults
# (config/settings/production.py: S3 storage, Mailgun). The credentials are dummies: no request leaves
# the machine (its pages only build S3 URLs).
CCD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",  # manage.py would pick the local settings
    "DJANGO_SECRET_KEY": PRODUCTION_ENV["SECRET_KEY"],
    "DJANGO_ADMIN_URL": "admin/",
    "DJANGO_ALLOWED_HOSTS": PRODUCTION_ENV["ALLOWED_HOSTS"],
    "DJANGO_AWS_ACCESS_KEY_ID": "bench",
    "DJANGO_AWS_SECRET_ACCESS_KEY": "bench",
    "DJANGO_AWS_STORAGE_BUCKET_NAME": "bench",
    "MAILGUN_API_KEY": "bench",
    "MAILGUN_DOMAIN": "mail.example.com",
}

# Endpoints: which kinds of contender serve them. "static" and "api" paths are found per bake.
ENDPOINTS = [
    # cookiecutter-django has no health view: its row is its home page (Contender.health_path).
    {"name": "/healthz", "path": "/healthz", "kinds": {"generated", "bare", "raw", "ccd"}},
    # The same answer without the SQLite query: the fair match for the raw ceiling (core only).
    {"name": "/healthz minus its query", "path": "/bench/healthz-no-query", "kinds": {"core", "raw"}},
    {"name": "home /", "path": "/", "kinds": {"generated", "ccd"}},
    {"name": "static CSS", "path": "static", "kinds": {"generated", "raw", "whitenoise"}},
    {"name": "GET /api/me/", "path": "/api/me/", "kinds": {"generated"}, "needs_api": True},
]


@dataclass
class Plan:
    rounds: int  # alternating rounds for memory and HTTP
    startup_rounds: int  # alternating rounds for the hyperfine timings (bake, check, import)
    runs: int  # hyperfine runs per contender per round
    seconds: int  # wrk duration of one cell
    concurrency: list
    rss_requests: int  # requests before the second RSS reading
    fanout: list  # (clients, events/s, events measured) cells, each stack each round
    fanout_rounds: int
    burst: tuple  # (clients, events/s, events): the add-on alone, for memory under a burst
    inprocess_requests: int = 2000  # requests per path per round, in one process without a server


FULL = Plan(
    rounds=5,
    startup_rounds=10,
    runs=2,
    seconds=4,
    concurrency=[1, 10, 50],
    rss_requests=10_000,
    fanout=[(100, 20, 200), (1000, 20, 100), (5000, 4, 30)],
    fanout_rounds=3,
    burst=(5000, 2000, 200),
)
QUICK = Plan(rounds=2, startup_rounds=2, runs=2, seconds=1, concurrency=[1, 10], rss_requests=2_000,
             fanout=[(100, 20, 40), (1000, 20, 40)], fanout_rounds=1, burst=(1000, 2000, 100),
             inprocess_requests=300)  # fmt: skip
FANOUT_WARMUP = 20  # events sent first and not measured: 1 s at 20/s (Node compiles its handlers meanwhile)
FANOUT_STACKS = {"tornado": "real-time add-on (Tornado)", "channels": "Django Channels 4"}
# Add-on's side of the targets: p99 at this cell, and these ratios / limits.
FANOUT_P99_CELL, FANOUT_P99_MS, FANOUT_CPU_RATIO, FANOUT_RSS_MB = (1000, 20), 100, 3, 20


@dataclass
class Contender:
    name: str
    kind: str  # generated | bare | raw | whitenoise | ccd
    cwd: Path
    bin: Path
    app: str  # WSGI application for gunicorn
    module: str = ""  # importable WSGI module, for the import timing
    static_path: str = ""
    token: str = ""  # REST token when the bake has an API
    env: dict = field(default_factory=dict)
    health_path: str = "/healthz"  # what the /healthz rows and the start-up wait request
    python: str = ""  # the interpreter its venv was made with
    process: subprocess.Popen = None
    port: int = 0


# --- Small helpers ----------------------------------------------------------------------------


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def clean_env(bin_dir=None, **extra):
    """Only what a command needs: PATH (venv first), HOME, and the given variables."""
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}" if bin_dir else os.environ["PATH"]
    return {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **extra}


def sh(command, cwd=None, env=None):
    result = subprocess.run(command, cwd=cwd, env=env or clean_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(map(str, command))}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def median(values):
    return statistics.median(values)


def spread(values):
    return min(values), max(values)


def ratio(a_rounds, b_rounds, a_all=None, b_all=None):
    """Ratio of medians (all samples), and min-max of the paired per-round ratios."""
    value = median(a_all or a_rounds) / median(b_all or b_rounds)
    per_round = [a / b for a, b in zip(a_rounds, b_rounds, strict=True)]
    return value, min(per_round), max(per_round)


def rotated(items, number):
    """items, starting at the number-th (round number): each contender goes first in turn."""
    shift = number % len(items) if items else 0
    return items[shift:] + items[:shift]


def bake_id(answers):
    return "-".join(k.removeprefix("use_") for k in ("use_rest", "use_realtime") if answers.get(k)) or "core"


def get(port, path, headers=HEADERS):
    """(status, body) of one GET to 127.0.0.1, without following redirects."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_tools():
    tools = ("wrk", "hyperfine", "redis-server", "node")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        raise SystemExit(
            f"Missing {', '.join(missing)}: install with `apt-get install wrk hyperfine redis-server nodejs` "
            "(Node.js 20 or newer)."
        )


def project_python(project):
    """The Python a project's .python-version names: what its deploys run, so what it is measured on."""
    version = (project / ".python-version").read_text().strip()
    python = find_python(version)
    if not python:
        raise SystemExit(f"Python {version} ({project.name}'s .python-version) is not installed: install it "
                         f"(e.g. `pyenv install {version}`) or put python{version} on PATH.")  # fmt: skip
    return python


def python_version(python):
    return sh([python, "-c", "import platform; print(platform.python_version())"]).strip()


# --- Virtualenvs and footprint ------------------------------------------------------------------


def venv(requirements, python):
    """A cached virtualenv of this interpreter with exactly these requirements (text of a requirements
    file); its bin/."""
    key = hashlib.sha256((python_version(python) + requirements).encode()).hexdigest()[:16]
    path = WORK / "venvs" / key
    if not (path / "ready").exists():
        shown = ", ".join(requirement_lines(requirements))
        log(f"creating venv {path.name} (Python {python_version(python)}): {shown}")
        shutil.rmtree(path, ignore_errors=True)
        sh([python, "-m", "venv", str(path)])
        (path / "requirements.txt").write_text(requirements)
        pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        sh([*pip, "-r", str(path / "requirements.txt")])
        (path / "ready").write_text(requirements)
    return path / "bin"


# Run inside a venv: every installed distribution but the installer's own, with its size on disk.
FOOTPRINT_SCRIPT = """
import json, importlib.metadata as md
skip = {"pip", "setuptools", "wheel"}
out = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name.lower() in skip:
        continue
    size = sum(f.locate().stat().st_size for f in dist.files or [] if f.locate().is_file())
    out[name] = {"version": dist.version, "bytes": size}
print(json.dumps(out))
"""


def requirement_lines(text):
    """The requirements a requirements file names itself (not its comments or options)."""
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def footprint(bin_dir, top_level, project_dir):
    installed = json.loads(sh([str(bin_dir / "python"), "-c", FOOTPRINT_SCRIPT]))
    files = [p for p in project_dir.rglob("*") if p.is_file()]
    python_files = [p for p in files if p.suffix == ".py"]
    python_lines = sum(1 for p in python_files for line in p.read_text().splitlines() if line.strip())
    return {
        "top_level": top_level,
        "installed": installed,
        "bytes": sum(d["bytes"] for d in installed.values()),
        "files": len(files),
        "python_files": len(python_files),
        "python_lines": python_lines,
    }


# --- Building the contenders ---------------------------------------------------------------------


SNAPSHOT = WORK / "template"  # the template as last committed: what is measured (others may be editing the tree)


def snapshot_template():
    """The template's HEAD, exported to SNAPSHOT; returns the commit."""
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    SNAPSHOT.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(TEMPLATE), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(SNAPSHOT)], input=archive.stdout, check=True)
    return sh(["git", "-C", str(TEMPLATE), "log", "-1", "--format=%h %cs %s"]).strip()


def bake_command(answers, output_dir):
    options = [f"{key}={'true' if value else 'false'}" for key, value in {**CORE, **answers}.items()]
    return [str(RUNNER / "cookiecutter"), "--no-input", "-o", str(output_dir), str(SNAPSHOT), *options]


def build_generated(answers):
    """Bake (pristine copy for counting, serving copy for running), install, migrate, collectstatic."""
    name = bake_id(answers)
    pristine = WORK / "pristine" / name
    shutil.rmtree(pristine, ignore_errors=True)
    sh(bake_command(answers, pristine))
    (project,) = [p for p in pristine.iterdir() if p.is_dir()]
    slug = project.name
    serve = WORK / "serve" / name
    shutil.rmtree(serve, ignore_errors=True)
    shutil.copytree(project, serve)
    python = project_python(project)
    bin_dir = venv((project / "requirements.txt").read_text(), python)
    env = clean_env(bin_dir, **PRODUCTION_ENV)
    sh([str(bin_dir / "python"), "manage.py", "migrate", "--noinput"], cwd=serve, env=env)
    sh([str(bin_dir / "python"), "manage.py", "collectstatic", "--noinput"], cwd=serve, env=env)
    manifest = json.loads((serve / "staticfiles" / "staticfiles.json").read_text())
    contender = Contender(
        name=f"generated {name}",
        kind="generated",
        cwd=serve,
        bin=bin_dir,
        app=f"{slug}.wsgi:application",
        module=f"{slug}.wsgi",
        static_path="/static/" + manifest["paths"]["css/site.css"],
        env=PRODUCTION_ENV,
        python=python,
    )
    if (serve / slug / "api").is_dir():
        contender.token = rest_token(contender)
    if answers == CORE:
        with open(serve / slug / "urls.py", "a") as urls:
            urls.write(NO_QUERY_URL)
    return contender, project


# The generated /healthz's answer when all is well: what the no-query URL and the raw ceiling answer too
# (same_answers() checks that the core still gives exactly this).
HEALTHZ_ANSWER = {"status": "ok", "database": "ok", "cache": "ok"}
NO_QUERY_URL = f"""
# Added by bench/run.py: /healthz's answer without its database query, to compare with raw WSGI.
from django.http import JsonResponse  # noqa: E402
from django.views.decorators.cache import never_cache  # noqa: E402

answer = {HEALTHZ_ANSWER!r}
urlpatterns += [path("bench/healthz-no-query", never_cache(lambda request: JsonResponse(answer)))]
"""


def rest_token(contender):
    """A user and a DRF token, made the way the generated README would: manage.py commands."""
    env = clean_env(contender.bin, **PRODUCTION_ENV)
    manage = [str(contender.bin / "python"), "manage.py"]
    create = "from django.contrib.auth import get_user_model as m; m().objects.create_user('bench', password=None)"
    sh([*manage, "shell", "-c", f"{create} if not m().objects.filter(username='bench').exists() else None"],
       cwd=contender.cwd, env=env)  # fmt: skip
    output = sh([*manage, "drf_create_token", "bench"], cwd=contender.cwd, env=env)
    return re.search(r"Generated token (\w+)", output).group(1)


def healthz_source(views_file):
    """The generated healthz view (with its decorator) and only the imports it uses."""
    source = views_file.read_text()
    module = ast.parse(source)
    view = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "healthz")
    used = {n.id for n in ast.walk(view) if isinstance(n, ast.Name)}
    assigns = [n for n in module.body if isinstance(n, ast.Assign) and {getattr(t, "id", "") for t in n.targets} & used]
    used |= {n.id for a in assigns for n in ast.walk(a.value) if isinstance(n, ast.Name)}  # e.g. logger -> logging
    lines = []
    for node in module.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
            if names:
                node.names = names
                lines.append(ast.unparse(node))
    lines += ["", *(ast.get_source_segment(source, node) for node in assigns)]
    first = min([view.lineno, *(d.lineno for d in view.decorator_list)])
    body = "\n".join(source.splitlines()[first - 1 : view.end_lineno])
    return '"""The generated project\'s /healthz, copied by bench/run.py."""\n\n' + "\n".join(lines) + "\n\n\n" + body


def copy_server_conf(core, serve, drop=()):
    """The core's gunicorn.conf.py into serve, less its top-level hooks named in drop and the imports only they
    used: raw WSGI has no Django settings for `on_starting` to read, and cookiecutter-django (gthread, no gevent
    installed) cannot import gevent for `post_request`."""
    source = (core.cwd / "gunicorn.conf.py").read_text()
    module = ast.parse(source)
    gone = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name in drop]
    kept = [n for n in module.body if n not in gone and not isinstance(n, ast.Import | ast.ImportFrom)]
    used = {x.id for n in kept for x in ast.walk(n) if isinstance(x, ast.Name)}
    imports = [n for n in module.body if isinstance(n, ast.Import | ast.ImportFrom)]
    gone += [n for n in imports if not any((a.asname or a.name).split(".")[0] in used for a in n.names)]
    lines = source.splitlines(keepends=True)
    for node in sorted(gone, key=lambda n: n.lineno, reverse=True):
        del lines[node.lineno - 1 : node.end_lineno]
    (serve / "gunicorn.conf.py").write_text("".join(lines).rstrip() + "\n")


def build_bare(core, core_project, django_pin=None):
    """`django-admin startproject` with the same Django (or django_pin's, as its startproject writes it),
    the same Python, DEBUG=False, and the same /healthz view."""
    pins = (core_project / "requirements.txt").read_text()
    django_pin = django_pin or re.search(r"^Django==\S+", pins, re.M).group(0)
    gunicorn_pin = re.search(r"^gunicorn(\[\w+\])?==\S+", pins, re.M).group(0)
    # gevent: the core's gunicorn.conf.py names its worker; django-redis and redis: the copied /healthz imports them
    server_pins = [re.search(rf"^{name}==\S+", pins, re.M).group(0) for name in ("gevent", "django-redis", "redis")]
    django_only = venv(django_pin + "\n", core.python)
    name = "bare" if django_pin in pins else f"bare-{django_pin.split('==')[1]}"
    pristine = WORK / "pristine" / name
    shutil.rmtree(pristine, ignore_errors=True)
    pristine.mkdir(parents=True)
    sh([str(django_only / "django-admin"), "startproject", "bare", str(pristine)])
    (pristine / "requirements.txt").write_text(django_pin + "\n")  # for the footprint count only
    serve = WORK / "serve" / name
    shutil.rmtree(serve, ignore_errors=True)
    shutil.copytree(pristine, serve)
    (serve / "bare" / "views.py").write_text(healthz_source(core.cwd / core.module.split(".")[0] / "views.py"))
    with open(serve / "bare" / "urls.py", "a") as urls:
        urls.write("\nfrom . import views  # noqa: E402\n\nurlpatterns += [path('healthz', views.healthz)]\n")
    with open(serve / "bare" / "settings.py", "a") as settings:
        settings.write("\n# bench/run.py: production mode for the comparison\nDEBUG = False\n")
        settings.write(f"ALLOWED_HOSTS = {PRODUCTION_ENV['ALLOWED_HOSTS'].split(',')!r}\n")
        settings.write('REDIS_URL = ""  # the copied /healthz reads it; the core runs without Redis here too\n')
    shutil.copy(core.cwd / "gunicorn.conf.py", serve / "gunicorn.conf.py")
    bin_dir = venv("\n".join([django_pin, gunicorn_pin, *server_pins]) + "\n", core.python)
    sh([str(bin_dir / "python"), "manage.py", "migrate", "--noinput"], cwd=serve, env=clean_env(bin_dir))
    label = "bare startproject" if name == "bare" else f"bare startproject, {django_pin.replace('==', ' ')}"
    # The core's gunicorn.conf.py reads DJANGO_SETTINGS_MODULE's settings before any worker (`on_starting`),
    # defaulting to the core's module: name bare's, as its manage.py and wsgi.py do.
    bare = Contender(name=label, kind="bare", cwd=serve, bin=bin_dir, app="bare.wsgi:application",
                     module="bare.wsgi", python=core.python,
                     env={"DJANGO_SETTINGS_MODULE": "bare.settings"})  # fmt: skip
    return bare, pristine, django_only


def build_raw(core, bare):
    serve = WORK / "serve" / "raw"
    shutil.rmtree(serve, ignore_errors=True)
    serve.mkdir(parents=True)
    shutil.copy(BENCH / "raw_wsgi.py", serve / "raw_wsgi.py")
    copy_server_conf(core, serve, drop=("on_starting",))
    static_file = core.cwd / "staticfiles" / core.static_path.removeprefix("/static/")
    env = {"RAW_STATIC_FILE": str(static_file), "RAW_STATIC_PATH": core.static_path,
           "RAW_HEALTHZ": json.dumps(HEALTHZ_ANSWER)}  # fmt: skip
    raw = Contender(name="raw WSGI", kind="raw", cwd=serve, bin=bare.bin, app="raw_wsgi:application", env=env)
    raw.static_path = core.static_path
    # The same app behind whitenoise without Django (core's venv has whitenoise): static only.
    whitenoise_env = {**env, "RAW_WHITENOISE_ROOT": str(core.cwd / "staticfiles")}
    whitenoise = Contender(name="whitenoise WSGI, no Django", kind="whitenoise", cwd=serve, bin=core.bin,
                           app="raw_wsgi:application", static_path=core.static_path, env=whitenoise_env)  # fmt: skip
    return raw, whitenoise


def fresh_database(bin_dir, url):
    """Drop and create the database that url names (its server's `postgres` database does the work)."""
    name = urlsplit(url).path.lstrip("/")
    script = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as db:\n"
        "    db.execute(f'DROP DATABASE IF EXISTS \"{sys.argv[2]}\" WITH (FORCE)')\n"
        "    db.execute(f'CREATE DATABASE \"{sys.argv[2]}\"')\n"
    )
    sh([str(bin_dir / "python"), "-c", script, url.rsplit("/", 1)[0] + "/postgres", name])


def ccd_project(path):
    """The cookiecutter-django project given on the command line and its venv's bin/, or a one-line exit.
    The benchmark does not generate or install it: it only runs what you made (docs/performance.md)."""
    project = Path(path).expanduser().resolve()
    bin_dir = project / ".venv" / "bin"
    if not (project / "config" / "wsgi.py").is_file() or not (bin_dir / "python").exists():
        raise SystemExit(f"--cookiecutter-django {path}: want a generated cookiecutter-django project (config/wsgi.py) "
                         "with its production dependencies in PROJECT/.venv (e.g. `uv sync --no-dev`).")  # fmt: skip
    return project, bin_dir


def build_ccd(path, about, core, database_url, redis_url):
    """The cookiecutter-django project you generated (every default: no Docker, AWS, Mailgun) with its venv:
    a copy without the venv to count and serve, a fresh database, migrated; the core's gunicorn.conf.py.
    Its static files go to S3 by default, so there is no collectstatic and no static row."""
    project, bin_dir = ccd_project(path)
    pristine = WORK / "pristine" / "ccd"
    shutil.rmtree(pristine, ignore_errors=True)
    shutil.copytree(project, pristine, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__"))
    serve = WORK / "serve" / "ccd"
    shutil.rmtree(serve, ignore_errors=True)
    shutil.copytree(pristine, serve)
    copy_server_conf(core, serve, drop=("post_request",))
    env = {**CCD_ENV, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    fresh_database(bin_dir, database_url)
    sh([str(bin_dir / "python"), "manage.py", "migrate", "--noinput"], cwd=serve, env=clean_env(bin_dir, **env))
    python = str(bin_dir / "python")
    ccd = Contender(name="cookiecutter-django", kind="ccd", cwd=serve, bin=bin_dir, app="config.wsgi:application",
                    module="config.wsgi", env=env, health_path="/", python=python)  # fmt: skip
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    pins = {".python-version": (project / ".python-version").read_text().strip()}
    pins["requires-python"], top_level = metadata["requires-python"], metadata["dependencies"]
    about = {"path": str(project), "about": about, "python": python_version(python), "pins": pins,
             "top_level": top_level}  # fmt: skip
    return ccd, pristine, about


# --- Servers --------------------------------------------------------------------------------------


def server_command(contender):
    # The core's gunicorn.conf.py names gevent's worker, which cookiecutter-django does not install: it runs
    # gunicorn's gthread worker with 4 threads, as the core did before, and the core's other settings.
    worker = ["-k", "gthread", "--threads", "4"] if contender.kind == "ccd" else []
    return [str(contender.bin / "gunicorn"), "-c", "gunicorn.conf.py", *worker, "-b", f"127.0.0.1:{contender.port}",
            contender.app]  # fmt: skip


def start(contender):
    contender.port = realtime_fanout.free_port()
    env = clean_env(contender.bin, **contender.env, PORT=str(contender.port), WEB_CONCURRENCY="1")
    errors = open(WORK / f"gunicorn-{contender.name.replace(' ', '-')}.log", "a")  # noqa: SIM115
    # The access log goes to stdout: discard it (reading it would cost the runner CPU).
    contender.process = subprocess.Popen(
        server_command(contender), cwd=contender.cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if contender.process.poll() is not None:
            raise SystemExit(f"{contender.name}: gunicorn exited {contender.process.returncode}; see {errors.name}")
        try:
            if get(contender.port, contender.health_path)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    stop(contender)  # a server that never answers must not outlive the run
    raise SystemExit(f"{contender.name}: no answer within 60 s; see {errors.name}")


def stop(contender):
    contender.process.send_signal(signal.SIGTERM)
    contender.process.wait(timeout=30)
    contender.process = None  # so the results can be pickled for --report-only


def worker_rss_kib(contender):
    """VmRSS of the (one) gunicorn worker, a child of the arbiter we started."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == contender.process.pid:
            status = (stat.parent / "status").read_text()
            return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    raise SystemExit(f"{contender.name}: no gunicorn worker found")


def endpoint_path(endpoint, contender):
    if endpoint["path"] == "/healthz":
        return contender.health_path
    return contender.static_path if endpoint["path"] == "static" else endpoint["path"]


def endpoint_headers(endpoint, contender):
    if endpoint.get("needs_api"):
        return {**HEADERS, "Authorization": f"Token {contender.token}"}
    return HEADERS


def serves(endpoint, contender):
    kind = "core" if contender.name == "generated core" and "core" in endpoint["kinds"] else contender.kind
    return kind in endpoint["kinds"] and (contender.token or not endpoint.get("needs_api"))


# --- Measurements ---------------------------------------------------------------------------------


def hyperfine(label, commands, plan, prepare=None, env=None):
    """Times of each command ({name: (argv, cwd)}, or (argv, cwd, env) for a command of its own
    environment): one hyperfine call per contender per round, the order reversed every other round,
    so a burst of load from a neighbour hits every contender alike."""
    names = list(commands)
    samples = {name: [] for name in names}
    round_medians = {name: [] for name in names}
    # CPU time (user+system, hyperfine's mean over the call's runs): a shared machine's load stretches the
    # wall time of a single-threaded start-up far more than its CPU time.
    round_cpu = {name: [] for name in names}
    base = ["hyperfine", "-N", "--style", "none", "--warmup", "1", "--runs", str(plan.runs)]
    for number in range(plan.startup_rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            argv, cwd, *own_env = commands[name]
            export = WORK / f"hyperfine-{label}.json"
            extra = ["--prepare", shlex.join(prepare[name])] if prepare else []
            command = [*base, *extra, "--export-json", str(export), shlex.join(argv)]
            command_env = own_env[0] if own_env else env or clean_env()
            subprocess.run(command, cwd=cwd, env=command_env, check=True, stdout=subprocess.DEVNULL)
            times = json.loads(export.read_text())["results"][0]["times"]
            samples[name] += times
            round_medians[name].append(median(times))
            result = json.loads(export.read_text())["results"][0]
            round_cpu[name].append(result["user"] + result["system"])
    shown = {name: f'cd {cwd} && {shlex.join(base)} "{shlex.join(argv)}"' for name, (argv, cwd, *_) in commands.items()}
    return {"samples": samples, "rounds": round_medians, "cpu": round_cpu, "commands": shown}


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # wrk's time units, to ms


def wrk(contender, endpoint, connections, seconds, retries=1):
    """One wrk run; an output we cannot read is kept under bench/work/ and the run tried again once."""
    try:
        return wrk_once(contender, endpoint, connections, seconds)
    except ValueError as error:
        failed = WORK / f"wrk-unreadable-{time.time_ns()}.txt"
        failed.write_text(str(error))
        if not retries:
            raise SystemExit(f"unreadable wrk output, see {failed}") from None
        log(f"unreadable wrk output kept in {failed}; trying again")
        return wrk(contender, endpoint, connections, seconds, retries - 1)


def wrk_once(contender, endpoint, connections, seconds):
    headers = endpoint_headers(endpoint, contender)
    url = f"http://127.0.0.1:{contender.port}{endpoint_path(endpoint, contender)}"
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors or "Socket errors" in output:
        raise SystemExit(f"{contender.name} {url}: errors under load\n{output}")

    def latency(percent):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
        if not found:
            raise ValueError(f"no {percent}% latency in the output of {command} {url}:\n{output}")
        return float(found.group(1)) * UNITS[found.group(2)]

    shown = " ".join(f"'{part}'" if " " in part else part for part in [*command, url])
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": latency(50),
        "p99": latency(99),
        "command": shown.replace(str(contender.port), "$PORT"),
    }


def measure_bake(bakes, plan):
    commands, prepare = {}, {}
    for answers in bakes:
        out = WORK / "bake-timing" / bake_id(answers)
        commands[bake_id(answers)] = (bake_command(answers, out), WORK)
        prepare[bake_id(answers)] = ["rm", "-rf", str(out)]
    return hyperfine("bake", commands, plan, prepare=prepare)


def measure_startup(contenders, plan):
    """`manage.py check` and importing the WSGI module, each contender in its production environment."""
    check = {c.name: ([f"{c.bin}/python", "manage.py", "check"], c.cwd, clean_env(**c.env)) for c in contenders}
    imports = {c.name: ([f"{c.bin}/python", "-c", f"import {c.module}"], c.cwd, clean_env(**c.env)) for c in contenders}
    return {"check": hyperfine("check", check, plan), "import": hyperfine("import", imports, plan)}


def measure_rss(contenders, plan):
    """Worker RSS after boot (one request) and after plan.rss_requests on /healthz; a fresh server per round."""
    results = {c.name: {"boot": [], "after": [], "requests": []} for c in contenders}
    for number in range(plan.rounds):
        for contender in rotated(contenders, number):
            start(contender)
            results[contender.name]["boot"].append(worker_rss_kib(contender))
            done = 0
            while done < plan.rss_requests:
                done += wrk(contender, ENDPOINTS[0], 10, 2)["requests"]
            results[contender.name]["after"].append(worker_rss_kib(contender))
            results[contender.name]["requests"].append(done)
            stop(contender)
    return results


def measure_http(contenders, plan):
    """Every server up at once (idle ones cost nothing), cells alternating contenders round by round."""
    results = {}
    for contender in contenders:
        start(contender)
    try:
        for contender in contenders:  # check the answers, then warm up (imports, caches, connections)
            for endpoint in (e for e in ENDPOINTS if serves(e, contender)):
                status, _ = get(
                    contender.port, endpoint_path(endpoint, contender), endpoint_headers(endpoint, contender)
                )
                if status != 200:
                    raise SystemExit(f"{contender.name} {endpoint['name']}: HTTP {status}, expected 200")
                wrk(contender, endpoint, 10, 1)
        for number in range(plan.rounds):
            log(f"HTTP round {number + 1}/{plan.rounds}")
            for endpoint in ENDPOINTS:
                group = [c for c in contenders if serves(endpoint, c)]
                for connections in plan.concurrency:
                    for contender in rotated(group, number):
                        cell = results.setdefault((endpoint["name"], connections, contender.name), [])
                        cell.append(wrk(contender, endpoint, connections, plan.seconds))
    finally:
        for contender in contenders:
            stop(contender)
    return results


# Each project's own WSGI application called in a loop: Django's work per request without gunicorn, the
# kernel or wrk, which every contender shares under load. CPU time of the process, so load hardly stretches it.
INPROCESS_SCRIPT = """
import importlib, io, json, sys, time
module, headers, requests, paths = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
sys.path.insert(0, ".")
application = importlib.import_module(module).application
def call(path):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}
    environ |= {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    statuses = []
    b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))  # the whole body
    if not statuses[0].startswith("200"):
        sys.exit(f"{path}: {statuses[0]}, expected 200 OK")
out = {}
for path in paths:
    for _ in range(requests // 10):  # warm-up: caches, connections, the template loader
        call(path)
    started = time.process_time()
    for _ in range(requests):
        call(path)
    out[path] = (time.process_time() - started) / requests
print(json.dumps(out))
"""
INPROCESS_ENDPOINTS = ("/healthz", "home /")


def measure_inprocess(contenders, plan):
    """CPU seconds per request of each contender's WSGI application, called in one process; rounds alternate."""
    results = {}
    for number in range(plan.rounds):
        for contender in rotated(contenders, number):
            paths = {e["name"]: endpoint_path(e, contender) for e in ENDPOINTS
                     if e["name"] in INPROCESS_ENDPOINTS and serves(e, contender)}  # fmt: skip
            argv = [str(contender.bin / "python"), "-c", INPROCESS_SCRIPT, contender.module, json.dumps(HEADERS),
                    str(plan.inprocess_requests), *dict.fromkeys(paths.values())]  # fmt: skip
            seconds = json.loads(sh(argv, cwd=contender.cwd, env=clean_env(**contender.env)))
            for name, path in paths.items():
                results.setdefault((name, contender.name), []).append(seconds[path])
    return results


def realtime_bake(generated):
    return next(c for c in generated if (c.cwd / c.module.split(".")[0] / "realtime").is_dir())


def fanout_settings(messages, rate, warmup):
    """What realtime_fanout.run() reads from its command line: two Node client processes, default buffers."""
    return SimpleNamespace(messages=messages, rate=rate, warmup=warmup, client_processes=2, client="node",
                           send_buffer=None)  # fmt: skip


def measure_fanout(realtime, plan):
    """Each cell of plan.fanout for both stacks, the stacks alternating, plan.fanout_rounds times;
    then the add-on alone under plan.burst. Rows as realtime_fanout.run() returns them."""
    requirements = (realtime.cwd / "requirements.txt").read_text() + (BENCH / "requirements-realtime.txt").read_text()
    python = str(venv(requirements, realtime.python) / "python")
    rows, stacks = [], list(FANOUT_STACKS)
    with realtime_fanout.redis_server() as redis_url:
        for number in range(plan.fanout_rounds):
            for clients, rate, messages in plan.fanout:
                for kind in stacks if number % 2 == 0 else stacks[::-1]:
                    log(f"fan-out round {number + 1}/{plan.fanout_rounds}: {kind}, {clients} clients, {rate}/s")
                    settings = fanout_settings(messages, rate, FANOUT_WARMUP)
                    row = realtime_fanout.run(kind, clients, settings, python, realtime.cwd, redis_url)
                    rows.append({**row, "rate": rate, "messages": messages, "round": number})
        clients, rate, messages = plan.burst
        log(f"fan-out burst: tornado, {clients} clients, {messages} events at {rate}/s")
        burst = realtime_fanout.run(
            "tornado", clients, fanout_settings(messages, rate, 0), python, realtime.cwd, redis_url
        )
    versions = json.loads(sh([python, "-m", "pip", "list", "--format", "json"]))
    wanted = {"tornado", "redis", "channels", "channels-redis", "uvicorn", "websockets", "django"}
    node = sh(["node", "--version"]).strip()
    shown = ", ".join(f"{p['name']} {p['version']}" for p in versions if p["name"].lower() in wanted)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows,
        "burst": {**burst, "rate": rate, "messages": messages},
        "versions": f"{shown}, Node.js {node}",
    }


def same_answers(core, bare, raw, whitenoise):
    """Fairness check: /healthz bodies match across contenders, and the CSS bytes too."""
    for contender in (core, bare, raw, whitenoise):
        start(contender)
    try:
        bodies = {get(c.port, "/healthz")[1] for c in (core, bare, raw)}
        bodies |= {get(c.port, "/bench/healthz-no-query")[1] for c in (core, raw)}
        css = {get(c.port, c.static_path)[1] for c in (core, raw, whitenoise)}
    finally:
        for contender in (core, bare, raw, whitenoise):
            stop(contender)
    if len(bodies) != 1 or len(css) != 1:
        raise SystemExit(f"contenders answer differently: {bodies} / {len(css)} CSS bodies")


# --- Report -------------------------------------------------------------------------------------------


def machine_facts(contenders):
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    tools = {
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("Copyright")[0].strip(),
        "hyperfine": subprocess.run(["hyperfine", "--version"], capture_output=True, text=True).stdout.strip(),
    }
    versions = {}
    for contender in contenders:
        # importlib.metadata, not pip: a venv made by uv (cookiecutter-django's) has no pip.
        installed = json.loads(sh([str(contender.bin / "python"), "-c", FOOTPRINT_SCRIPT]))
        versions[contender.name] = ", ".join(f"{name} {d['version']}" for name, d in sorted(installed.items()))
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{memory_kib / 1024**2:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": "; ".join(f"{c.name}: {python_version(c.python)}" for c in contenders)
        + f" (the generated and bare ones: {contenders[0].python}); the runner (cookiecutter, wrk's driver): "
        f"{platform.python_version()}",
        "tools": tools,
        "versions": versions,
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def fmt_range(value, low, high, digits=2):
    return f"{value:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def verdict(value, op, limit):
    ok = value <= limit if op == "<=" else value >= limit
    return "PASS" if ok else "**MISS**"


# Why a target is missed, when it is: shown under the targets table only for a MISS.
# The profile behind these reasons, and how to repeat it, is in docs/performance.md.
EXPLANATIONS = {
    "healthz_raw": "both answer the same JSON with no database (the benchmark adds `/bench/healthz-no-query` to "
    "its copy of the core project: `/healthz` minus its `SELECT 1`). The ceiling does only gunicorn's own work "
    "(parse, thread hand-off, access log line, write). A Django request adds the WSGI handler, the request "
    "signals, URL resolution, the middleware of `startproject` plus whitenoise's and the `never_cache` headers: "
    "about 165 us per request when called in a loop without a server, and more under gunicorn, where it "
    "shares the caches with gunicorn and the kernel. Nothing in that share comes from a file the template "
    "adds, and cutting it means dropping middleware that the admin, CSRF protection and the security headers "
    "need; one gthread thread instead of four did not change the ratio. The bare startproject runs the same "
    "view slower still. Not changed in the template.",
    "static_raw": "whitenoise runs as Django middleware (its documented Django set-up, which also gets "
    "SecurityMiddleware's headers), so each static request also pays Django's handler and request "
    "signals, and whitenoise opens the file on disk and sends it with sendfile; the ceiling returns "
    "bytes from memory. The `whitenoise WSGI, no Django` row splits the gap into whitenoise's own "
    "cost and Django's. Static names are hashed and served with far-future cache headers, so a browser "
    "or a CDN in front fetches each file once. Not changed in the template.",
    "packages": "the project asks for {top_level} packages (top level); installing them also brings their own "
    "dependencies ({pulled_in}): Django's asgiref and sqlparse, and psycopg-binary, the compiled driver, so no "
    "system libpq is needed. The PostgreSQL driver and redis-py (the cache when REDIS_URL is set) are the "
    "12-factor backing services of the design (DESIGN.md), so the core keeps them.",
    "check_time": "the wall time is the machine's load more than the project: this run's load average was "
    "{load} on 2 cores, and the core's `check` runs took {wall_cpu}x their CPU time in wall time, waiting for "
    "a core. The CPU-time row comes from the same runs and is the one that load hardly stretches.",
    "ccd_check": "Django's own start-up is most of both: bare startproject's `check` takes {bare_ccd_cpu} of "
    "cookiecutter-django's CPU time here, and the core stays within 1.15x of bare (the target above), so at "
    "0.5 the core could spend only {headroom}x bare's. What cookiecutter-django adds is mostly the imports "
    "that `check` pulls in through its settings: django-redis and redis-py (its cache), psycopg with its C "
    "build (PostgreSQL is its only database), django-allauth with MFA (fido2, cryptography), anymail "
    "(requests, urllib3). In wall time, this machine's load stretches every start-up (see check_time).",
    "ccd_rps": "both home pages render a template through Django's middleware; cookiecutter-django's also "
    "runs allauth's and its own context processors and builds an S3 URL with django-storages for each static "
    "file it links. {inprocess}Django's request path bounds the ratio: bare startproject's `/healthz` (the "
    "core's view on startproject's settings) reached {bare_ccd_rps} of cookiecutter-django's home page in this "
    "run (c = {concurrency}). {straddle}",
}


def explanation_facts(data, targets, plan, startup_ratio, cpu_ratio, rps_of):
    """The numbers of this run that the EXPLANATIONS quote."""
    core, bare, ccd = data["core"], data["bare"], data["ccd"]
    check = data["startup"]["check"]
    core_fp = data["footprint"][core.name]
    top = {re.split(r"[\[=<>]", line)[0].lower() for line in core_fp["top_level"]}
    missed_rps = [(low, high) for key, _, (value, low, high), op, limit in targets
                  if key == "ccd_rps" and verdict(value, op, limit) != "PASS"]  # fmt: skip
    straddle = ""
    if missed_rps and all(high >= 2 for _, high in missed_rps):
        shown = ", ".join(f"{low:.2f}-{high:.2f}" for low, high in missed_rps)
        straddle = f"The per-round ratios of the cells that miss straddle the limit ({shown}): this machine's noise."
    cpu = cpu_ratio("check", bare, ccd)[0]
    inprocess = ""
    if "inprocess" in data:
        cpu_us = {c.name: median(data["inprocess"][("home /", c.name)]) * 1e6 for c in (core, ccd)}
        raw_us = " / ".join(f"{1e6 / median(rps_of('/healthz', c, data['raw'])):.0f}" for c in plan.concurrency)
        inprocess = (f"Without a server, the core's home page costs {cpu_us[core.name]:.0f} us of CPU per request and "
                     f"cookiecutter-django's {cpu_us[ccd.name]:.0f} us ({cpu_us[core.name] / cpu_us[ccd.name]:.2f}x, "
                     "section 4's last table). Under gunicorn each request also carries the server's own work, the "
                     "same for both, which narrows the ratio: the raw WSGI app, which does only that work, takes "
                     f"{raw_us} us a request (c = {' / '.join(map(str, plan.concurrency))}). ")  # fmt: skip
    return {
        "top_level": len(core_fp["top_level"]),
        "pulled_in": ", ".join(sorted(n for n in core_fp["installed"] if n.lower() not in top)),
        "load": data.get("startup_load")
        or f"{data['facts']['load'].split()[0]} at the start, {data['load_end'].split()[0]} at the end",
        "wall_cpu": f"{median(check['samples'][core.name]) / median(check['cpu'][core.name]):.1f}",
        "bare_ccd_cpu": f"{cpu:.2f}",
        "headroom": f"{0.5 / cpu:.2f}",
        "bare_ccd_rps": " / ".join(
            f"{ratio(rps_of('/healthz', c, bare), rps_of('/healthz', c, ccd))[0]:.2f}" for c in plan.concurrency
        ),  # fmt: skip
        "concurrency": " / ".join(map(str, plan.concurrency)),
        "straddle": straddle,
        "inprocess": inprocess,
    }


def published_run(text):
    """The date, the core's Django and the targets table ({label: (measured, verdict)}) of a RESULTS.md."""
    date = re.search(r"^Written by `bench/run.py` on (.+?)\. ", text, re.M)
    django = re.search(r"^\| packages \(generated core\) \|.*?\bDjango (\S+?),", text, re.M)
    section = text.split("## Targets", 1)[-1].split("\n\n", 2)[1] if "## Targets" in text else ""
    rows = [line.strip("|").split(" | ") for line in section.splitlines()[2:]]
    targets = {row[0].strip(): (row[1].strip(), row[3].strip()) for row in rows if len(row) == 4}
    return {"date": date[1] if date else "?", "django": django[1] if django else "?", "targets": targets}


def previous_report(data, targets):
    """Each target beside its value in the last published run (the RESULTS.md this run replaces)."""
    previous = data.get("previous")
    if not previous or not previous["targets"]:
        return []
    lines = [f"## Against the last published run ({previous['date']}, Django {previous['django']})", ""]
    lines += ["The same targets, as that run measured them and as this one does (each a ratio within its own run).",
              "", "| target | then | now |", "| --- | --- | --- |"]  # fmt: skip
    for _key, label, (value, low, high), op, limit in targets:
        if label in previous["targets"]:
            then, then_verdict = previous["targets"][label]
            now = f"{fmt_range(value, low, high)} {verdict(value, op, limit)}"
            lines.append(f"| {label} | {then} {then_verdict} | {now} |")
    return [*lines, ""]


def ccd_report(data):
    ccd, about = data["ccd"], data["ccd_about"]
    pins = ", ".join(f"`{name}` {value}" for name, value in about["pins"].items())
    shown = " ".join(f"{k}={v}" for k, v in ccd.env.items())
    return [
        "## cookiecutter-django: how it is made and run",
        "",
        f"Project: `{about['path']}` (`--cookiecutter-django`), on Python {about['python']} from its own "
        f"`.venv`; its pins: {pins}. The benchmark does not generate or install it; whoever ran it says how "
        "it was made and what was changed in it (`--ccd-about`):",
        "",
        f"> {about['about']}",
        "",
        "The benchmark copies it without its venv, gives it a fresh PostgreSQL database (`manage.py migrate`), "
        "the core's `gunicorn.conf.py` and `WEB_CONCURRENCY=1`, with gunicorn's own `gthread` worker class "
        "and 4 threads (`-k gthread --threads 4`): the core's `gevent` worker needs gevent, which "
        "cookiecutter-django does not install; for the same reason its copy of `gunicorn.conf.py` lacks the "
        "`post_request` hook (`gevent.sleep(0)`, a yield that gthread does not need).",
        "",
        f"Environment (its production settings read these; dummy S3 and Mailgun credentials): `{shown}`.",
        "",
        "It has no health view, so its `/healthz` rows measure its home page `/` (a `TemplateView` of "
        "`pages/home.html` with allauth's context; its static URLs are S3 URLs, built per request by "
        "django-storages without a network call). Not measured for it: bake time and static files (S3 "
        "serves them).",
        "",
    ]


def upgrade_report(data, startup_ratio, cpu_ratio, rps_of, plan):
    """What the Django upgrade changed: the bare startproject of each Django, same Python, same run."""
    new, old = [c for c in data["contenders"] if c.kind == "bare"]
    rss = data["rss"]
    rows = [("`manage.py check` time", startup_ratio("check", new, old)),
            ("`manage.py check` CPU time (user+sys)", cpu_ratio("check", new, old)),
            ("import the WSGI module", startup_ratio("import", new, old)),
            ("import the WSGI module, CPU time", cpu_ratio("import", new, old)),
            ("worker RSS after requests", ratio(rss[new.name]["after"], rss[old.name]["after"]))]  # fmt: skip
    rows += [(f"`/healthz` req/s at c={c}", ratio(rps_of("/healthz", c, new), rps_of("/healthz", c, old)))
             for c in plan.concurrency]  # fmt: skip
    lines = [f"## What the Django upgrade changed: {new.name} / {old.name}", ""]
    lines += ["The same `startproject` measurements with each Django (each as its own `startproject` writes it, "
              "same /healthz view, same Python, alternating in this run).", ""]  # fmt: skip
    lines += ["| measure | ratio [per-round] |", "| --- | --- |"]
    lines += [f"| {label} | {fmt_range(*value)} |" for label, value in rows]
    return [*lines, ""]


def report(data, plan, quick):
    core, bare, raw = data["core"], data["bare"], data["raw"]
    generated = data["generated"]
    lines = ["# Benchmark results", ""]
    lines += [
        f"Written by `bench/run.py{' --quick' if quick else ''}` on {data['facts']['date']}"
        + (" (QUICK smoke run: too short to quote)" if quick else "")
        + f". {plan.rounds} alternating rounds for memory and HTTP, wrk cells of {plan.seconds} s; "
        f"{plan.startup_rounds} alternating rounds of hyperfine timings, {plan.runs} runs per contender per "
        "round (+1 warm-up). Ratios are ratios of medians; "
        "[brackets] give the min-max of the per-round ratios (or of the samples).",
        "",
        "Rerun: `.venv/bin/pip install -r requirements-dev.txt -r bench/requirements.txt && "
        ".venv/bin/python bench/run.py --cookiecutter-django <project> --ccd-about <text>` (needs `apt-get "
        "install wrk hyperfine redis-server nodejs`, PostgreSQL and Redis). "
        "How and why: `docs/performance.md`. In the commands below, `$REPO` is the repository's root and "
        "`$PORT` the port the run chose.",
        "",
        f"Template: commit {data['facts']['commit']} (`git archive HEAD` into `$REPO/bench/work/template`).",
        "",
    ]
    if "startup_date" in data:
        lines += [f"The start-up timings (`manage.py check`, import; section 3 and their targets) were measured "
                  f"again on {data['startup_date']} (`--only-startup`), with the same builds.", ""]  # fmt: skip
    facts = data["facts"]
    lines += ["## Machine", "", "| fact | value |", "| --- | --- |"]
    lines += [f"| CPU | {facts['cpu']} |", f"| cores | {facts['cores']} |", f"| memory | {facts['memory']} |"]
    lines += [f"| OS | {facts['os']} |", f"| Python | {facts['python']} |"]
    lines += [f"| {tool} | {version} |" for tool, version in facts["tools"].items()]
    lines += [f"| load average at start / end | {facts['load']} / {data['load_end']} |"]
    lines += [f"| packages ({name}) | {versions} |" for name, versions in facts["versions"].items()]
    runner = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("cookiecutter", "matplotlib"))
    lines += [f"| packages (runner, `.venv`) | {runner} |"]
    lines += [""]

    # Targets
    targets = []
    startup, rss, http = data["startup"], data["rss"], data["http"]

    def startup_ratio(measure, a, b):
        result = startup[measure]
        return ratio(result["rounds"][a.name], result["rounds"][b.name], result["samples"][a.name],
                     result["samples"][b.name])  # fmt: skip

    def rps_of(endpoint, connections, contender):
        return [r["rps"] for r in http[(endpoint, connections, contender.name)]]

    def cpu_ratio(measure, a, b):
        return ratio(startup[measure]["cpu"][a.name], startup[measure]["cpu"][b.name])

    moments = {"boot": "at boot (1 request)", "after": f"after >= {plan.rss_requests} requests"}
    targets.append(("check_time", "`manage.py check` time, generated core / bare", startup_ratio("check", core, bare),
                    "<=", 1.15))  # fmt: skip
    targets.append(("check_time", "`manage.py check` CPU time (user+sys), generated core / bare",
                    cpu_ratio("check", core, bare), "<=", 1.15))  # fmt: skip
    for moment, label in moments.items():
        value = ratio(rss[core.name][moment], rss[bare.name][moment])
        targets.append((f"rss_{moment}", f"worker RSS {label}, generated core / bare", value, "<=", 1.15))
    ccd = data["ccd"]
    targets.append(("ccd_check", "`manage.py check` time, generated core / cookiecutter-django",
                    startup_ratio("check", core, ccd), "<=", 0.5))  # fmt: skip
    targets.append(("ccd_check", "`manage.py check` CPU time (user+sys), generated core / cookiecutter-django",
                    cpu_ratio("check", core, ccd), "<=", 0.5))  # fmt: skip
    for moment, label in moments.items():
        value = ratio(rss[core.name][moment], rss[ccd.name][moment])
        targets.append(("ccd_rss", f"worker RSS {label}, generated core / cookiecutter-django", value, "<=", 0.6))
    for c in plan.concurrency:
        targets.append(("ccd_rps", f"home `/` req/s at c={c}, generated core / cookiecutter-django",
                        ratio(rps_of("home /", c, core), rps_of("home /", c, ccd)), ">=", 2))  # fmt: skip
        targets.append(("ccd_rps", f"`/healthz` req/s at c={c}, generated core / cookiecutter-django's home page "
                        "(it has no health view)", ratio(rps_of("/healthz", c, core), rps_of("/healthz", c, ccd)),
                        ">=", 2))  # fmt: skip
    for connections in plan.concurrency:
        a = [r["rps"] for r in http[("/healthz", connections, core.name)]]
        b = [r["rps"] for r in http[("/healthz", connections, bare.name)]]
        c = [r["rps"] for r in http[("/healthz", connections, raw.name)]]
        targets.append(("healthz_bare", f"`/healthz` req/s at c={connections}, generated core / bare",
                        ratio(a, b), ">=", 0.9))  # fmt: skip
        a = [r["rps"] for r in http[("/healthz minus its query", connections, core.name)]]
        c = [r["rps"] for r in http[("/healthz minus its query", connections, raw.name)]]
        targets.append(("healthz_raw", f"`/healthz` minus its query, req/s at c={connections}, generated core / raw "
                        "WSGI", ratio(a, c), ">=", 0.5))  # fmt: skip
    for connections in plan.concurrency:
        a = [r["rps"] for r in http[("static CSS", connections, core.name)]]
        b = [r["rps"] for r in http[("static CSS", connections, raw.name)]]
        targets.append(("static_raw", f"static CSS req/s at c={connections}, whitenoise / raw WSGI (same bytes)",
                        ratio(a, b), ">=", 0.8))  # fmt: skip
    fanout = data["fanout"]
    targets += fanout_targets(fanout["rows"], fanout["burst"], plan)
    core_fp = data["footprint"][core.name]
    lines += ["## Targets", "", "| target | measured | limit | verdict |", "| --- | --- | --- | --- |"]
    for _key, label, (value, low, high), op, limit in targets:
        lines.append(f"| {label} | {fmt_range(value, low, high)} | {op} {limit} | {verdict(value, op, limit)} |")
    for label, count in (
        ("top-level requirements in `requirements.txt`", len(core_fp["top_level"])),
        ("installed distributions (excluding pip/setuptools)", len(core_fp["installed"])),
    ):
        lines.append(f"| runtime packages, core: {label} | {count} | <= 8 | {verdict(count, '<=', 8)} |")
        targets.append(("packages", label, (count, count, count), "<=", 8))
    missed = [key for key, _, (value, *_), op, limit in targets if verdict(value, op, limit) != "PASS"]
    known = explanation_facts(data, targets, plan, startup_ratio, cpu_ratio, rps_of)
    for key in dict.fromkeys(missed):
        text = EXPLANATIONS.get(key, "not yet explained: see docs/performance.md.").format(**known)
        lines += ["", f"- **{key} missed**: {text}"]
    lines += [""]
    lines += previous_report(data, targets)
    lines += ccd_report(data)
    lines += upgrade_report(data, startup_ratio, cpu_ratio, rps_of, plan)

    # Bake
    bake = data["bake"]
    lines += ["## 1. Bake time (`cookiecutter --no-input`)", ""]
    lines += [
        "| bake | median ms | min-max ms | ratio to core [per-round] | command |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, samples in bake["samples"].items():
        low, high = spread(samples)
        r = ratio(bake["rounds"][name], bake["rounds"]["core"], samples, bake["samples"]["core"])
        lines.append(f"| {name} | {median(samples) * 1e3:.0f} | {low * 1e3:.0f}-{high * 1e3:.0f} | {fmt_range(*r)} "
                     f"| `{bake['commands'][name]}` |")  # fmt: skip
    lines += [""]

    # Footprint
    lines += ["## 2. Footprint", ""]
    lines += ["Installed distributions: a fresh venv with only the project's `requirements.txt` "
              "(bare: `Django` alone; cookiecutter-django: its locked production dependencies, and its top level "
              "is `pyproject.toml`'s `dependencies`), counted with `importlib.metadata`, excluding pip and "
              "setuptools; size = the files in their RECORDs. Project files: as generated (bare: as "
              "`startproject` writes it), `.py` lines are non-blank lines.", ""]  # fmt: skip
    lines += ["| contender | top-level reqs | installed | size on disk | files | .py files | .py lines |"]
    lines += ["| --- | --- | --- | --- | --- | --- | --- |"]
    for name, fp in data["footprint"].items():
        lines.append(
            f"| {name} | {len(fp['top_level'])} | {len(fp['installed'])} | {fp['bytes'] / 1024**2:.1f} MiB "
            f"| {fp['files']} | {fp['python_files']} | {fp['python_lines']} |"
        )
    lines += [""]
    for name, fp in data["footprint"].items():
        listed = ", ".join(
            f"{n} {d['version']} ({d['bytes'] / 1024**2:.1f} MiB)" for n, d in sorted(fp["installed"].items())
        )
        lines.append(f"- {name}: {listed}")
    lines += [""]

    # Start-up
    lines += ["## 3. Start-up and memory", ""]
    lines += ["Production environment (`DEBUG=false`, `SECRET_KEY`, `ALLOWED_HOSTS`); each run is a new process.", ""]
    lines += ["Wall time per run, and CPU time (user+system, hyperfine's mean per round): on a loaded machine the "
              "wall time stretches with the wait for a core, the CPU time much less.", ""]  # fmt: skip
    lines += ["| measure | contender | median ms | min-max ms | ratio to bare [per-round] | CPU ms [min-max] "
              "| CPU ratio to bare [per-round] | command |"]  # fmt: skip
    lines += ["| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for measure, result in startup.items():
        for name, samples in result["samples"].items():
            low, high = spread(samples)
            r = ratio(result["rounds"][name], result["rounds"][bare.name], samples, result["samples"][bare.name])
            cpu = [t * 1e3 for t in result["cpu"][name]]
            cpu_r = ratio(result["cpu"][name], result["cpu"][bare.name])
            lines.append(f"| {measure} | {name} | {median(samples) * 1e3:.0f} | {low * 1e3:.0f}-{high * 1e3:.0f} "
                         f"| {fmt_range(*r)} | {fmt_range(median(cpu), *spread(cpu), 0)} | {fmt_range(*cpu_r)} "
                         f"| `{result['commands'][name]}` |")  # fmt: skip
    lines += [""]
    lines += [f"Worker RSS (`VmRSS` from `/proc/<worker>/status`), one fresh server per contender per round: "
              f"after boot and one `/healthz` request, then after >= {plan.rss_requests} `/healthz` requests "
              f"(`wrk -c10`). Server: `{' '.join(server_command(core)).replace(str(core.port), '$PORT')}` "
              "with `WEB_CONCURRENCY=1`.", ""]  # fmt: skip
    lines += ["| contender | RSS at boot MiB | after requests MiB | ratio to bare (after) [per-round] |"]
    lines += ["| --- | --- | --- | --- |"]
    for name, rss in data["rss"].items():
        r = ratio(rss["after"], data["rss"][bare.name]["after"])
        lines.append(f"| {name} | {median(rss['boot']) / 1024:.1f} | {median(rss['after']) / 1024:.1f} "
                     f"| {fmt_range(*r)} |")  # fmt: skip
    lines += [""]

    # Throughput
    lines += [
        "## 4. Throughput and latency (gunicorn, 1 worker: gevent; cookiecutter-django gthread x 4, 127.0.0.1)",
        "",
    ]
    lines += ["Servers (same `gunicorn.conf.py`, `WEB_CONCURRENCY=1`, bound to 127.0.0.1; raw WSGI and whitenoise "
              "without Django run it without its `on_starting` hook, which reads Django settings, and "
              "cookiecutter-django without its `post_request` hook, which needs gevent):", ""]  # fmt: skip
    for c in data["contenders"]:
        env = " ".join(f"{k}={v}" for k, v in {**c.env, "WEB_CONCURRENCY": 1, "PORT": "$PORT"}.items())
        shown = f"cd {c.cwd} && {env} {' '.join(server_command(c))}"
        lines.append(f"- {c.name}: `{shown.replace(str(c.port), '$PORT')}`")
    lines += ["", "Each cell: the median over rounds of req/s, p50 and p99 (ms); the ratios are to the first "
              "contender that is not the generated project (bare for `/healthz`, raw for static) and to "
              "cookiecutter-django (its home page in the `/healthz` rows).", ""]  # fmt: skip
    for endpoint in ENDPOINTS:
        group = [c for c in data["contenders"] if serves(endpoint, c)]
        if not group:
            continue
        reference = next((c for c in group if c.kind != "generated"), None)
        lines += [f"### {endpoint['name']}", ""]
        lines += ["| contender | c | req/s [min-max] | p50 ms | p99 ms | req/s ratio | command |"]
        lines += ["| --- | --- | --- | --- | --- | --- | --- |"]
        for connections in plan.concurrency:
            for contender in group:
                cell = http[(endpoint["name"], connections, contender.name)]
                rps = [r["rps"] for r in cell]
                shown = []
                for other in (reference, data["ccd"]):
                    if other in group and contender is not other and contender.kind != "ccd":
                        ref = [r["rps"] for r in http[(endpoint["name"], connections, other.name)]]
                        shown.append(f"{fmt_range(*ratio(rps, ref))} x {other.name}")
                shown = "; ".join(dict.fromkeys(shown)) or "-"
                lines.append(
                    f"| {contender.name} | {connections} | {fmt_range(median(rps), *spread(rps), 0)} "
                    f"| {median(r['p50'] for r in cell):.2f} | {median(r['p99'] for r in cell):.2f} | {shown} "
                    f"| `{cell[0]['command']}` |"
                )
        lines += [""]
    lines += inprocess_report(data, plan)
    lines += fanout_report(fanout, plan)
    lines += ["## Plots", "", "![Requests per second](throughput.png)", "", "![Latency](latency.png)", ""]
    lines += ["![Start-up and memory](startup.png)", "", "![Real-time fan-out](fanout.png)", ""]
    del generated
    # $REPO for the repository's root, so the commands read the same from any checkout.
    return "\n".join(lines).replace(str(TEMPLATE), "$REPO")


def inprocess_report(data, plan):
    """Section 4's last table: Django's work per request, without the server that every contender shares."""
    if "inprocess" not in data:  # a run measured before this table existed
        return []
    inprocess, ccd = data["inprocess"], data["ccd"]
    lines = ["### Django's work per request, in one process (no server)", ""]
    lines += [f"Each project's WSGI application called in a loop by one Python process, in its production "
              f"environment, with the requests' headers: {plan.inprocess_requests} requests per path "
              "per round after a warm-up, CPU time of the process (`time.process_time()`), rounds alternating. "
              "No gunicorn, kernel or wrk: what the project itself spends on a request.", ""]  # fmt: skip
    lines += ["| contender | path | CPU us per request [min-max] | ratio to cookiecutter-django's home page "
              "[per-round] |", "| --- | --- | --- | --- |"]  # fmt: skip
    reference = inprocess[("home /", ccd.name)]
    for name in INPROCESS_ENDPOINTS:
        for contender in data["contenders"]:
            seconds = inprocess.get((name, contender.name))
            if not seconds or (contender is ccd and name != "home /"):  # its /healthz rows are its home page
                continue
            shown = "-" if contender is ccd else fmt_range(*ratio(seconds, reference))
            micro = [s * 1e6 for s in seconds]
            path = endpoint_path(next(e for e in ENDPOINTS if e["name"] == name), contender)
            lines.append(f"| {contender.name} | `{path}` | {fmt_range(median(micro), *spread(micro), 0)} | {shown} |")
    return [*lines, ""]


def fanout_cell(rows, stack, clients):
    return [row for row in rows if row["stack"] == stack and row["clients"] == clients]


def fanout_targets(rows, burst, plan):
    lost = (
        sum(row["lost"] for row in rows if row["stack"] == "tornado") + burst["lost"]
    )  # sockets that failed count too
    targets = [("fanout_lost", "real-time: events lost by the add-on (every cell, round and the burst)",
                (lost, lost, lost), "<=", 0)]  # fmt: skip
    for clients, rate, _ in plan.fanout:
        ours, theirs = fanout_cell(rows, "tornado", clients), fanout_cell(rows, "channels", clients)
        cpu = ratio([r["cpu_s_per_100k"] for r in theirs], [r["cpu_s_per_100k"] for r in ours])
        targets.append(("fanout_cpu", f"real-time: server CPU per delivery, Channels / add-on, {clients} clients at "
                        f"{rate}/s", cpu, ">=", FANOUT_CPU_RATIO))  # fmt: skip
        memory = [r["rss_mb_per_1000_conn"] for r in ours]
        if clients >= 1000:  # below that, the fixed cost of the first sockets outweighs the per-socket one
            targets.append(("fanout_rss", f"real-time: add-on RSS MB per 1000 connections, {clients} clients",
                            (median(memory), *spread(memory)), "<=", FANOUT_RSS_MB))  # fmt: skip
    clients, rate = FANOUT_P99_CELL
    p99 = [r["p99_ms"] for r in fanout_cell(rows, "tornado", clients) if r["rate"] == rate]
    if p99:
        targets.append(("fanout_p99", f"real-time: add-on p99 ms, {clients} clients receiving {rate} events/s",
                        (median(p99), *spread(p99)), "<=", FANOUT_P99_MS))  # fmt: skip
    return targets


def fanout_report(fanout, plan):
    rows, burst = fanout["rows"], fanout["burst"]
    lines = ["## 5. Real-time fan-out: the add-on (Tornado) vs Django Channels 4", ""]
    lines += [
        "One publisher sends events to one channel at a steady rate; the clients (two Node.js processes, "
        "its built-in WebSocket) receive them. **add-on**: the real-time bake's `python -m my_project.realtime` "
        "(Redis broker, the project's defaults), events published to Redis as Django's `publish()` does. "
        "**Channels**: an `AsyncWebsocketConsumer` (`group_add` on connect, `send` per event) under uvicorn "
        "with channels-redis' `RedisPubSubChannelLayer`, events sent with `group_send()` (the classic "
        "`RedisChannelLayer` crashed consumers with redis-py 8 here). Same machine, same redis-server, "
        f"the stacks alternating, {plan.fanout_rounds} rounds, measured {fanout['date']}. "
        f"The first {FANOUT_WARMUP} events of each cell warm "
        "both ends up and are not measured. Versions: " + fanout["versions"] + ".",
        "",
        "deliveries/s = events received by all clients / (last receive - first measured publish); latency = "
        "receive time - send time (one host clock); lost = expected - received; CPU = the server process's "
        "user+system seconds during the measured events, per 100k deliveries; RSS/1000 conn = server RSS "
        "after the clients connected minus before, scaled; peak = `VmHWM`. Each cell: median [min-max] over "
        "rounds (lost: the sum).",
        "",
        "| stack | clients | events/s | deliveries/s | p50 ms | p99 ms | lost | CPU s/100k deliveries "
        "| RSS MB/1000 conn | peak RSS MB | CPU ratio Channels / add-on |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for clients, rate, _ in plan.fanout:
        for stack, label in FANOUT_STACKS.items():
            cell = fanout_cell(rows, stack, clients)
            shown = "-"
            if stack == "channels":
                ours = [r["cpu_s_per_100k"] for r in fanout_cell(rows, "tornado", clients)]
                shown = fmt_range(*ratio([r["cpu_s_per_100k"] for r in cell], ours), 1)

            def column(key, digits=1, cell=cell):
                values = [r[key] for r in cell]
                return fmt_range(median(values), *spread(values), digits)

            lines.append(
                f"| {label} | {clients} | {rate} | {column('deliveries_per_s', 0)} | {column('p50_ms')} "
                f"| {column('p99_ms')} | {sum(r['lost'] for r in cell)} | {column('cpu_s_per_100k', 2)} "
                f"| {column('rss_mb_per_1000_conn')} | {column('rss_mb_peak', 0)} | {shown} |"
            )
    lines += ["", "Rerun one cell: `.venv/bin/python bench/realtime_fanout.py --venv <a venv with the real-time "
              "bake's requirements.txt and bench/requirements-realtime.txt> --clients 1000 --messages 100 "
              "--rate 20`.", ""]  # fmt: skip
    lines += [
        f"The burst: {burst['messages']} events at {burst['rate']}/s to {burst['clients']} sockets, the add-on "
        "alone (Channels would need minutes to drain it). Latency here is queueing; the point is memory: "
        "every socket's send buffer is bounded, and frames are written straight to sockets with room.",
        "",
        "| clients | deliveries/s | p50 ms | p99 ms | lost | CPU s/100k | RSS MB/1000 conn | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {burst['clients']} | {burst['deliveries_per_s']:,.0f} | {burst['p50_ms']:.0f} | {burst['p99_ms']:.0f} "
        f"| {burst['lost']} | {burst['cpu_s_per_100k']:.2f} | {burst['rss_mb_per_1000_conn']:.1f} "
        f"| {burst['rss_mb_peak']:.0f} |",
        "",
    ]
    return lines


def plots(data, plan, out):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    http, contenders = data["http"], data["contenders"]
    colors = dict(zip([c.name for c in contenders], plt.get_cmap("tab10").colors, strict=False))

    # Requests per second: one panel per concurrency, bars per endpoint and contender, min-max whiskers.
    endpoints = [e for e in ENDPOINTS if any(serves(e, c) for c in contenders)]
    figure, axes = plt.subplots(1, len(plan.concurrency), figsize=(5 * len(plan.concurrency), 4.5), sharey=True)
    width = 0.8 / len(contenders)
    for axis, connections in zip(axes, plan.concurrency, strict=True):
        for index, contender in enumerate(contenders):
            xs, heights, errors = [], [], [[], []]
            for position, endpoint in enumerate(endpoints):
                cell = http.get((endpoint["name"], connections, contender.name))
                if cell:
                    rps = [r["rps"] for r in cell]
                    xs.append(position + index * width)
                    heights.append(median(rps))
                    errors[0].append(median(rps) - min(rps))
                    errors[1].append(max(rps) - median(rps))
            axis.bar(xs, heights, width, yerr=errors, capsize=3, label=contender.name, color=colors[contender.name])
        axis.set_xticks([p + width * (len(contenders) - 1) / 2 for p in range(len(endpoints))])
        axis.set_xticklabels([e["name"] for e in endpoints])
        axis.set_title(f"{connections} connection{'s' if connections > 1 else ''}")
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("requests/s (median, min-max whiskers)")
    axes[0].legend(fontsize=8)
    figure.suptitle("Throughput: gunicorn, 1 worker (gevent; cookiecutter-django: gthread x 4), 2 shared cores")
    figure.tight_layout()
    figure.savefig(out / "throughput.png", dpi=110)
    plt.close(figure)

    # Latency of /healthz against concurrency: p50 and p99.
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for axis, percentile in zip(axes, ("p50", "p99"), strict=True):
        for contender in contenders:
            if ("/healthz", plan.concurrency[0], contender.name) not in http:
                continue
            ys = [median(r[percentile] for r in http[("/healthz", c, contender.name)]) for c in plan.concurrency]
            axis.plot(plan.concurrency, ys, marker="o", label=contender.name, color=colors[contender.name])
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(plan.concurrency, [str(c) for c in plan.concurrency])
        axis.set_xlabel("concurrent connections (wrk -c)")
        axis.set_title(f"/healthz {percentile} latency")
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("ms (median over rounds)")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "latency.png", dpi=110)
    plt.close(figure)

    # Start-up and memory: medians with min-max whiskers.
    startup = data["startup"]
    panels = [
        ("manage.py check, wall (ms)", {n: [t * 1e3 for t in s] for n, s in startup["check"]["samples"].items()}),
        ("manage.py check, CPU user+sys (ms)", {n: [t * 1e3 for t in s] for n, s in startup["check"]["cpu"].items()}),
        ("import WSGI app, wall (ms)", {n: [t * 1e3 for t in s] for n, s in startup["import"]["samples"].items()}),
        ("worker RSS after requests (MiB)", {n: [v / 1024 for v in r["after"]] for n, r in data["rss"].items()}),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(18, 4.8))
    for axis, (title, series) in zip(axes, panels, strict=True):
        names = list(series)
        meds = [median(series[n]) for n in names]
        errors = [[m - min(series[n]) for m, n in zip(meds, names, strict=True)],
                  [max(series[n]) - m for m, n in zip(meds, names, strict=True)]]  # fmt: skip
        axis.bar(names, meds, yerr=errors, capsize=4, color=[colors[n] for n in names])
        axis.set_title(title)
        axis.tick_params(axis="x", labelsize=7, labelrotation=35)
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "startup.png", dpi=110)
    plt.close(figure)

    # Fan-out: p99 latency and CPU per delivery against clients, per stack (median, min-max whiskers).
    rows = data["fanout"]["rows"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = [("p99_ms", "p99 publish-to-receive latency (ms)"), ("cpu_s_per_100k", "server CPU s per 100k deliveries")]
    for axis, (key, title) in zip(axes, panels, strict=True):
        for stack, label in FANOUT_STACKS.items():
            clients = [c for c, _, _ in plan.fanout]
            values = [[r[key] for r in fanout_cell(rows, stack, c)] for c in clients]
            meds = [median(v) for v in values]
            errors = [[m - min(v) for m, v in zip(meds, values, strict=True)],
                      [max(v) - m for m, v in zip(meds, values, strict=True)]]  # fmt: skip
            axis.errorbar(clients, meds, yerr=errors, marker="o", capsize=3, label=label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(clients, [f"{c}\n{r}/s" for c, r, _ in plan.fanout])
        axis.set_xlabel("connected clients, events/s")
        axis.set_title(title)
        axis.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "fanout.png", dpi=110)
    plt.close(figure)


# --- Main --------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (fewer rounds, 1 s wrk cells)")
    parser.add_argument(
        "--report-only", action="store_true", help="redo RESULTS.md and the plots from the last (full, or --quick) run"
    )
    parser.add_argument(
        "--only-fanout", action="store_true", help="measure section 5 again and keep the rest of the last run"
    )
    parser.add_argument(
        "--only-startup",
        action="store_true",
        help="time the start-ups (check, import) again and keep the rest of the last run",
    )
    parser.add_argument(
        "--cookiecutter-django",
        metavar="PROJECT",
        help="needed for a full run: a project generated from cookiecutter-django with its defaults, its "
        "production dependencies installed in PROJECT/.venv (docs/performance.md)",
    )
    parser.add_argument(
        "--ccd-about",
        default="(not said)",
        metavar="TEXT",
        help="how that project was made and what was changed in it, written into RESULTS.md as given",
    )
    parser.add_argument(
        "--ccd-database-url",
        default="postgres://postgres@127.0.0.1:5432/bench_ccd",
        help="PostgreSQL database for cookiecutter-django, dropped and created afresh (default: %(default)s)",
    )
    parser.add_argument(
        "--ccd-redis-url", default="redis://127.0.0.1:6379/15", help="its REDIS_URL (default: %(default)s)"
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    # The raw measurements, so a report bug does not cost a rerun (--report-only, with --quick for a smoke run's).
    saved = WORK / ("last-quick-run.pickle" if args.quick else "last-run.pickle")
    # The published results this run is compared with: the committed RESULTS.md, before a full run replaces it.
    committed = subprocess.run(["git", "-C", str(TEMPLATE), "show", "HEAD:bench/RESULTS.md"], capture_output=True)
    published = published_run(committed.stdout.decode()) if committed.returncode == 0 else None
    if args.report_only or args.only_fanout or args.only_startup:
        data, plan, args.quick = pickle.loads(saved.read_bytes())
        if "previous" not in data and not args.quick:  # a run measured before the comparison existed
            data["previous"] = published
            saved.write_bytes(pickle.dumps((data, plan, args.quick)))
        if args.only_startup:
            load = " ".join(Path("/proc/loadavg").read_text().split()[:1])
            data["startup"] = measure_startup([c for c in data["contenders"] if c.module], plan)
            data["startup_load"] = f"{load} at the start, {Path('/proc/loadavg').read_text().split()[0]} at the end"
            data["startup_date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
            saved.write_bytes(pickle.dumps((data, plan, args.quick)))
        if args.only_fanout:
            check_tools()
            data["fanout"] = measure_fanout(realtime_bake(data["generated"]), plan)
            saved.write_bytes(pickle.dumps((data, plan, args.quick)))
        write(data, plan, args.quick)
        return
    if not args.cookiecutter_django:
        parser.error("a full run needs --cookiecutter-django PROJECT (docs/performance.md says how to make one)")
    ccd_project(args.cookiecutter_django)  # a wrong path stops the run now, not after the bakes
    check_tools()
    WORK.mkdir(exist_ok=True)
    started = time.monotonic()

    log("building contenders")
    commit = snapshot_template()
    generated, projects, footprints = [], [], {}
    for answers in [CORE, *ADDON_BAKES]:
        contender, project = build_generated(answers)
        generated.append(contender)
        projects.append(project)
        top_level = requirement_lines((project / "requirements.txt").read_text())
        footprints[contender.name] = footprint(contender.bin, top_level, project)
    core = generated[0]
    bares = []
    for pin in (None, OLD_DJANGO):
        bare, bare_pristine, django_only = build_bare(core, projects[0], pin)
        bares.append(bare)
        top_level = requirement_lines((bare_pristine / "requirements.txt").read_text())
        footprints[bare.name] = footprint(django_only, top_level, bare_pristine)
    bare = bares[0]
    ccd, ccd_pristine, ccd_about = build_ccd(
        args.cookiecutter_django, args.ccd_about, core, args.ccd_database_url, args.ccd_redis_url
    )
    footprints[ccd.name] = footprint(ccd.bin, ccd_about["top_level"], ccd_pristine)
    raw, whitenoise = build_raw(core, bare)
    contenders = [*generated, *bares, ccd, raw, whitenoise]
    same_answers(core, bare, raw, whitenoise)
    data = {"core": core, "bare": bare, "raw": raw, "ccd": ccd, "generated": generated, "contenders": contenders}
    data["footprint"] = footprints
    data["facts"] = machine_facts([core, *bares, ccd])
    data["facts"]["commit"] = commit
    data["ccd_about"] = ccd_about
    data["previous"] = None if args.quick else published

    log("bake time")
    data["bake"] = measure_bake([CORE, *ADDON_BAKES], plan)
    log("start-up time")
    data["startup"] = measure_startup([*generated, *bares, ccd], plan)
    log("worker memory")
    data["rss"] = measure_rss([*generated, *bares, ccd, raw], plan)
    log("throughput and latency")
    data["http"] = measure_http(contenders, plan)
    log("Django's work per request, in one process")
    data["inprocess"] = measure_inprocess([*generated, bare, ccd], plan)
    log("real-time fan-out")
    data["fanout"] = measure_fanout(realtime_bake(generated), plan)
    data["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    saved.write_bytes(pickle.dumps((data, plan, args.quick)))

    out = write(data, plan, args.quick)
    log(f"wrote {out / 'RESULTS.md'} and the PNGs in {time.monotonic() - started:.0f} s")


def write(data, plan, quick):
    """RESULTS.md and the plots: in bench/ for a full run, in bench/work/quick/ for a smoke run,
    so a smoke run never replaces the published results."""
    out = WORK / "quick" if quick else BENCH
    out.mkdir(parents=True, exist_ok=True)
    plots(data, plan, out)
    (out / "RESULTS.md").write_text(report(data, plan, quick))
    return out


if __name__ == "__main__":
    main()
