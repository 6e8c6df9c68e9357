"""The ways in without a clone work as printed, with what the pages say to install.

docs/quickstart.md and the README's *Without a clone* install the tools with pipx, at the versions
the template pins; the README's three commands then generate from a release. These tests run the
printed commands: pipx is the one Debian 12 ships (1.1.0, installed from PyPI into a venv cached
under /tmp, since `sudo apt install pipx` is not the tests' to run), HOME is a fresh folder, and
the GitHub address stands for a clone of this repository whose release tags scripts/release.py
made. The commands ask their questions on a terminal; each is answered with Enter (the default).
"""

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from .conftest import TEMPLATE, VENV_CACHE
from .released import clone_with_release_tags, on_a_terminal
from .three_tools import GIT_ENV, project_tree

DEBIAN_PIPX = "1.1.0"  # Debian 12's python3 pipx package


def pins():
    """{name: version} of the template's own pins (requirements-dev.txt includes requirements.txt)."""
    text = (TEMPLATE / "requirements.txt").read_text() + (TEMPLATE / "requirements-dev.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", text, re.M))


@pytest.fixture
def user(tmp_path):
    """(home, environment): a new user's HOME, with Debian's pipx on PATH and ~/.local/bin, where pipx puts commands."""
    pipx = VENV_CACHE / f"pipx-{DEBIAN_PIPX}"
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    with open(VENV_CACHE / f"pipx-{DEBIAN_PIPX}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be building it
        if not (pipx / "ready").exists():
            shutil.rmtree(pipx, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(pipx)], check=True)
            install = [str(pipx / "bin" / "python"), "-m", "pip", "install", "-q", f"pipx=={DEBIAN_PIPX}"]
            subprocess.run(install, check=True)
            (pipx / "ready").write_text(DEBIAN_PIPX)
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "pipx").symlink_to(pipx / "bin" / "pipx")  # what apt installs: the pipx command alone
    path = os.pathsep.join([str(home / ".local" / "bin"), str(home / "bin"), os.environ["PATH"]])
    env = {**os.environ, **GIT_ENV, "HOME": str(home), "PATH": path, "TERM": "xterm"}
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", os.path.expanduser("~/.cache/pip"))  # downloads once
    for name in ("VIRTUAL_ENV", "PIPX_HOME", "PIPX_BIN_DIR"):
        env.pop(name, None)
    return home, env


def shell(command, cwd, env):
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"$ {command}\n{result.stdout}{result.stderr}"
    return result.stdout


def section(page, heading):
    text = page.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : None if end < 0 else end]


def test_the_quickstarts_install_command_works_where_pip_refuses_and_pins_what_the_template_pins(user, tmp_path):
    home, env = user
    install = section(TEMPLATE / "docs" / "quickstart.md", "## 1. Install cookiecutter")
    (block,) = re.findall(r"```console\n(.*?)```", install, re.S)
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    assert commands[0] == "sudo apt install pipx"  # Debian's pipx: the tests' stands in for it
    assert "python3 -m pip install" not in install  # refused on Debian: externally-managed-environment
    pinned = re.findall(r"cookiecutter==(\S+)", " ".join(commands))
    assert pinned == [pins()["cookiecutter"]], f"the quickstart installs {pinned}; the template pins cookiecutter"
    for command in commands[1:]:
        shell(command, tmp_path, env)
    version = shell("cookiecutter --version", tmp_path, env)
    assert version.startswith(f"Cookiecutter {pins()['cookiecutter']} from {home}/"), version


@pytest.fixture
def released_clone(tmp_path):
    return clone_with_release_tags(tmp_path / "cookiecutter-lightweight-django")


def test_the_readmes_commands_without_a_clone_work_with_what_it_says_to_install(user, released_clone, tmp_path):
    _, env = user
    without = section(TEMPLATE / "README.md", "## Without a clone")
    install, generate = [block.splitlines() for block in re.findall(r"```console\n(.*?)```", without, re.S)]
    named = dict(re.findall(r"\b([a-z][a-z-]*)==(\S+)", " ".join(install)))
    assert named == {name: pins()[name] for name in named}, "the README installs other versions than the pins"
    assert {"cookiecutter", "cruft", "copier", "copier-template-extensions", "python-slugify"} <= named.keys()
    for command in install:
        shell(command, tmp_path, env)

    cookiecutter, cruft, copier = generate
    tag = re.search(r"--checkout (\S+)", cookiecutter)[1]
    release = subprocess.run(["git", "rev-parse", f"{tag}^{{commit}}"], cwd=released_clone, capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
    # Where each command names GitHub, the clone: cookiecutter honours --checkout only for a git URL.
    places = {
        "cookiecutter": (cookiecutter, "gh:<owner>/cookiecutter-lightweight-django", f"git+file://{released_clone}"),
        "cruft": (cruft, "https://github.com/<owner>/cookiecutter-lightweight-django", str(released_clone)),
        "copier": (copier, "gh:<owner>/cookiecutter-lightweight-django", str(released_clone)),
    }
    projects = {}
    for tool, (command, github, clone) in places.items():
        assert github in command, command
        folder = tmp_path / tool
        folder.mkdir()
        question = "🎤" if tool == "copier" else r"\[\d+/\d+\]"  # copier's mark, cookiecutter's [n/12]
        status, output = on_a_terminal(command.replace(github, clone), folder, env, question)
        assert status == 0, f"$ {command}\n{output}"
        (projects[tool],) = folder.iterdir()

    # Each one generated the release: cruft and copier record it, and cookiecutter wrote the same files.
    assert json.loads((projects["cruft"] / ".cruft.json").read_text())["commit"] == release
    assert yaml.safe_load((projects["copier"] / ".copier-answers.yml").read_text())["_commit"] == tag
    leave_out = {".env", ".cruft.json", ".copier-answers.yml"}
    assert project_tree(projects["cookiecutter"], leave_out) == project_tree(projects["cruft"], leave_out)
    assert project_tree(projects["copier"], leave_out) == project_tree(projects["cruft"], leave_out)
