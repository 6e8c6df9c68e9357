"""One tree, three tools: cookiecutter, cruft and copier ask the same questions and generate the same project.

copier reads copier.yml, cookiecutter and cruft read cookiecutter.json; hooks/copier_bridge.py gives
copier the tree's `cookiecutter` mapping, the hook's checks and cookiecutter's way of copying files.
"""

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest
import yaml

from .conftest import COMBINATIONS, TEMPLATE, combination_param
from .three_tools import ANSWERS_FILES, TOOLS, environment, generate, project_tree, template_repository

sys.path.insert(0, str(TEMPLATE / "docs"))
import template_facts  # noqa: E402  (runs cookiecutter as a user does: the docs' own extension)

COOKIECUTTER_JSON = json.loads((TEMPLATE / "cookiecutter.json").read_text())
COPIER_YML = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
# Free text that needs quoting in every file format, and every non-default choice.
ODD_ANSWERS = {
    "project_name": 'Café "Ünïcode" \\ 🚀',
    "project_slug": "odd_text",
    "description": 'It\'s a "quoted" \\back\\slash — ünïcode ✨',
    "author_name": "Zoë O'Brien",
    "python_version": COOKIECUTTER_JSON["python_version"][-1],
    "package_manager": COOKIECUTTER_JSON["package_manager"][-1],
    "license": COOKIECUTTER_JSON["license"][-1],
    "use_rest": True,
    "use_realtime": True,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return template_repository(tmp_path_factory.mktemp("three-tools") / "template")


def test_copier_asks_the_questions_of_cookiecutter_json_in_its_order_with_its_defaults_and_labels():
    cookiecutter_questions = [name for name in COOKIECUTTER_JSON if not name.startswith("_")]
    copier_questions = [name for name in COPIER_YML if not name.startswith("_") and name != "cookiecutter"]
    assert copier_questions == cookiecutter_questions, "copier.yml must ask what cookiecutter.json asks, in order"
    for name in cookiecutter_questions:
        value, question = COOKIECUTTER_JSON[name], COPIER_YML[name]
        assert question["help"] == COOKIECUTTER_JSON["__prompts__"][name], name
        if isinstance(value, list):
            assert (question["choices"], question["default"], question["type"]) == (value, value[0], "str"), name
        else:
            default = value.replace("cookiecutter.", "") if isinstance(value, str) else value
            assert question["default"] == default, name
            assert question["type"] == ("bool" if isinstance(value, bool) else "str"), name
        # Every answer goes through the pre-generation hook's rules while it is asked.
        assert question["validator"] == f"{{{{ hook_error({name!r}) }}}}", name
    assert COPIER_YML["cookiecutter"]["when"] is False  # computed, never asked nor stored


def test_copier_renders_with_cookiecutters_jinja_settings_and_extensions():
    assert all(COPIER_YML["_envops"][key] == value for key, value in COOKIECUTTER_JSON["_jinja2_env_vars"].items())
    cookiecutter_extensions = [
        name.replace("hooks.", "hooks/").replace(".", ".py:") for name in COOKIECUTTER_JSON["_extensions"]
    ]
    assert set(cookiecutter_extensions) <= set(COPIER_YML["_jinja_extensions"])


def answers_file(project, tool):
    name = ANSWERS_FILES[tool]
    text = (project / name).read_text()
    if tool == "cruft":
        return json.loads(text)["context"]["cookiecutter"]
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    "answers", [combination_param(answers) for answers in COMBINATIONS] + [pytest.param(ODD_ANSWERS, id="odd-text")]
)
def test_the_three_tools_generate_byte_identical_projects(template, tmp_path, answers):
    slug = answers.get("project_slug", "my_project")
    projects = {}
    for tool in TOOLS:
        result = generate(tool, template, tmp_path / tool, answers, slug=slug)
        assert result.returncode == 0, f"{tool}:\n{result.stdout}\n{result.stderr}"
        projects[tool] = tmp_path / tool / slug
        if tool == "copier":  # it writes no file of an option that is off, not even to delete it afterwards
            created = re.findall(r"^\s*create\S*\s+(\S+)$", re.sub(r"\x1b\[[0-9;]*m", "", result.stderr), re.M)
            assert created and not [name for name in created if not (projects[tool] / name).exists()]
    own_files = {name for name in ANSWERS_FILES.values() if name}
    # Contents and file modes, apart from each tool's own answers file and the per-project secret in .env.
    trees = {tool: project_tree(project, leave_out=own_files | {".env"}) for tool, project in projects.items()}
    assert trees["cruft"] == trees["cookiecutter"]
    assert trees["copier"].keys() == trees["cookiecutter"].keys()
    for name, content in trees["cookiecutter"].items():
        assert trees["copier"][name] == content, f"copier's {name} differs from cookiecutter's"
    for tool, project in projects.items():
        # The answers file is the tool's own, and records every answer as given.
        extra = {name for name in own_files if (project / name).exists()}
        assert extra == ({ANSWERS_FILES[tool]} if ANSWERS_FILES[tool] else set()), tool
        if ANSWERS_FILES[tool]:
            recorded = answers_file(project, tool)
            assert {name: recorded[name] for name in answers} == answers, tool
        # .env: the same settings, each project its own secret.
        env = (project / ".env").read_text()
        assert re.sub(r"=\S{40,}", "=<secret>", env) == re.sub(
            r"=\S{40,}", "=<secret>", (projects["cookiecutter"] / ".env").read_text()
        )
        if answers.get("init_git"):  # the same first commit, apart from copier's answers file in it
            log = git_output(project, "log", "--format=%an <%ae> %s")
            assert log == git_output(projects["cookiecutter"], "log", "--format=%an <%ae> %s")
            tracked = set(git_output(project, "ls-files").split()) - own_files
            assert tracked == set(git_output(projects["cookiecutter"], "ls-files").split())


def git_output(project, *args):
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout


BAD_ANSWERS = [
    {"project_slug": "json"},
    {"project_slug": "My-Site"},
    {"project_slug": "class"},
    {"project_name": "🚀🚀"},
    {"description": "two\nlines"},
    {"email": "not-an-email"},
    {"project_slug": "api", "use_rest": True},
    # cookiecutter refuses it itself; copier would read it as yes: the hook refuses it, as it does in a replay file.
    {"use_rest": "maybe"},
]


@pytest.mark.parametrize("answers", BAD_ANSWERS, ids=lambda answers: " ".join(f"{k}={v!r}" for k, v in answers.items()))
def test_a_bad_answer_stops_copier_with_the_hooks_one_line_and_writes_nothing(template, tmp_path, answers):
    via = "replay file" if answers == {"use_rest": "maybe"} else "command line"
    hook_line = template_facts.hook_error(answers, via=via)  # what cookiecutter's run of the hook prints
    result = generate("copier", template, tmp_path / "copier", answers)
    assert (result.returncode, result.stderr) == (1, hook_line + "\n")
    assert not (tmp_path / "copier").exists()
    # A folder that exists already stays as it was.
    (tmp_path / "copier" / "my_project").mkdir(parents=True)
    assert generate("copier", template, tmp_path / "copier", answers).returncode == 1
    assert list((tmp_path / "copier" / "my_project").iterdir()) == []


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"python_version": "3.9"}, "Invalid choice for 'python_version': '3.9' is not in"),
        ({"license": "GPL"}, "Invalid choice for 'license': 'GPL' is not in"),
        ({"package_manager": "conda"}, "Invalid choice for 'package_manager': 'conda' is not in"),
    ],
)
def test_answers_copier_itself_rejects_write_nothing_either(template, tmp_path, answers, message):
    result = generate("copier", template, tmp_path, answers)
    assert result.returncode == 1 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


class Terminal:
    """A program in a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, command, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(command[0], command, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        self.output = b""

    def screen(self):
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.output.decode(errors="replace"))

    def wait_for(self, text, timeout=120):
        """Read until `text` is on screen (a generous deadline for the slowest machine)."""
        deadline = time.monotonic() + timeout
        while text not in self.screen():
            assert time.monotonic() < deadline, f"{text!r} did not appear:\n{self.screen()[-3000:]}"
            if select.select([self.fd], [], [], 0.5)[0]:
                self.output += os.read(self.fd, 65536)
        return self.screen()

    def type(self, line):
        self.output = b""
        os.write(self.fd, b"\x15" + line.encode() + b"\r")  # Ctrl-U clears the suggested default first

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_copier_asks_with_cookiecutters_labels_and_refuses_a_bad_answer_on_the_spot(template, tmp_path):
    command = [
        sys.executable,
        "-m",
        "copier",
        "copy",
        "--trust",
        "--vcs-ref",
        "HEAD",
        str(template),
        str(tmp_path / "out"),
    ]
    terminal = Terminal(command, environment())
    try:
        terminal.wait_for(COOKIECUTTER_JSON["__prompts__"]["project_name"])
        terminal.type("Shop")
        terminal.wait_for(COOKIECUTTER_JSON["__prompts__"]["project_slug"])
        terminal.type("json")
        terminal.wait_for("ERROR: project_slug 'json' would shadow a module of that name; e.g. project_slug=my_project")
        terminal.type("shop")  # asked again; a good answer moves on
        terminal.wait_for(COOKIECUTTER_JSON["__prompts__"]["description"])
    finally:
        terminal.stop()
    assert not (tmp_path / "out").exists()
