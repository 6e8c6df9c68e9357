"""
Facts the template's code knows, rendered into the pages by running that code, so they cannot drift.

Directives (MyST fences, e.g. ```{hook-errors}):

- ``hook-errors``: a table of wrong answers and the exact line the pre-generation hook prints for
  each, from a real ``cookiecutter`` run; the build fails if an answer no longer stops generation.
- ``cookiecutter-output``: a console block with everything a ``cookiecutter`` command prints, from a
  real run (the body, if any, is the ``--config-file``); ``:status:`` is the exit status it must end with.
- ``env-variables``: the table of environment variables, read from the docs bake's ``.env.example``.

tests/test_docs.py and tests/test_variables.py import the same functions, so the pages and the tests
read the code the same way.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cookiecutter
import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
SHOWN_TEMPLATE = "cookiecutter-lightweight-django"  # how the pages name the template in commands
SITE_PACKAGES = str(Path(cookiecutter.__file__).resolve().parent.parent)


# Running cookiecutter as a user does


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str  # empty when merged: then stdout holds both, in the order a terminal shows them
    written: list  # names the run left in its output folder


def run_cookiecutter(args, config=None, replay=None, merged=False, python_options=()):
    """Run `cookiecutter ARGS` as a user would, with this template, in a scratch folder.

    args: the arguments after `cookiecutter`; the word "cookiecutter-lightweight-django" stands for
    this template. config: the text of the --config-file (the file the arguments name, or one added,
    so that ~/.cookiecutterrc never counts). replay: a context for --replay-file instead.
    """
    with tempfile.TemporaryDirectory(prefix="template-facts-") as scratch:
        scratch = Path(scratch)
        isolated = {"cookiecutters_dir": str(scratch / "templates"), "replay_dir": str(scratch / "replay")}
        config_file = scratch / "config.yaml"
        config_file.write_text((config or "") + "\n" + yaml.safe_dump(isolated))
        args = [str(TEMPLATE_DIR) if arg == SHOWN_TEMPLATE else arg for arg in args]
        if "--config-file" in args:
            args[args.index("--config-file") + 1] = str(config_file)
        else:
            args += ["--config-file", str(config_file)]
        if replay is not None:
            (scratch / "answers.json").write_text(json.dumps({"cookiecutter": replay}))
            args += ["--replay-file", str(scratch / "answers.json")]
        output = scratch / "out"
        output.mkdir()
        command = [sys.executable, *python_options, "-m", "cookiecutter", *args, "-o", str(output)]
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        environment.pop("PYTHONWARNINGS", None)
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            # The hook writes to stderr, cookiecutter to stdout; one pipe keeps a terminal's order.
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            text=True,
            env=environment,
            check=False,
        )
        written = sorted(path.name for path in output.iterdir())

    def shown(text):
        return (text or "").replace(SITE_PACKAGES, ".../site-packages").replace(str(TEMPLATE_DIR), SHOWN_TEMPLATE)

    return Run(result.returncode, shown(result.stdout), shown(result.stderr), written)


def default_context():
    """The answers cookiecutter makes from cookiecutter.json with --no-input, read from its replay file."""
    with tempfile.TemporaryDirectory(prefix="template-facts-") as scratch:
        replay_dir = Path(scratch) / "replay"
        Path(scratch, "config.yaml").write_text(
            yaml.safe_dump({"cookiecutters_dir": scratch, "replay_dir": str(replay_dir)})
        )
        command = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), "-o", f"{scratch}/out"]
        subprocess.run([*command, "--config-file", f"{scratch}/config.yaml"], capture_output=True, check=True)
        (replay,) = replay_dir.glob("*.json")
        return json.loads(replay.read_text())["cookiecutter"]


def command_line(answers):
    """answers as cookiecutter's key=value arguments (true/false and numbers as YAML writes them)."""
    return [f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in answers.items()]


class AnswerNotRefused(Exception):
    """A documented wrong answer did not stop generation with one line from the hook."""


def hook_error(answers, via="command line"):
    """The one line the pre-generation hook prints for these answers, from a real cookiecutter run.

    via: "command line" (key=value arguments, what most people type), "config file" (a
    --config-file's default_context, where YAML gives numbers and lists) or "replay file".
    """
    if via == "command line":
        run = run_cookiecutter(["--no-input", SHOWN_TEMPLATE, *command_line(answers)])
    elif via == "config file":
        config = yaml.safe_dump({"default_context": answers})
        run = run_cookiecutter(["--no-input", SHOWN_TEMPLATE, "--config-file", "answers.yaml"], config=config)
    elif via == "replay file":
        run = run_cookiecutter([SHOWN_TEMPLATE], replay={**default_context(), **answers})
    else:
        raise ValueError(f"via must be 'command line', 'config file' or 'replay file', not {via!r}")
    lines = run.stderr.splitlines()
    if run.status != 1 or run.written or len(lines) != 1 or not lines[0].startswith("ERROR: "):
        raise AnswerNotRefused(
            f"{answers} ({via}) should stop generation with exit status 1, one ERROR line on stderr and"
            f" nothing written; got status {run.status}, wrote {run.written}, printed:\n{run.stderr}{run.stdout}"
        )
    return lines[0]


# The pre-generation hook's own error lines: "ERROR: <field> <repr of the answer> <rule>; e.g. <field>=<example>".
HOOK_ERROR = re.compile(
    r"ERROR: (?P<field>[a-z_]+) (?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+) .+; e\.g\. .+"
)


def shell_word(text):
    """text as one word of a POSIX shell command, with $'...' for line breaks and other control characters."""
    if re.search(r"[\x00-\x1f\x7f]", text):
        escaped = text.encode("unicode_escape").decode("ascii").replace("'", "\\'")
        return f"$'{escaped}'"
    return shlex.quote(text)


# .env.example: the one list of environment variables


VARIABLE = re.compile(r"^(?P<commented>#\s?)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass
class Variable:
    name: str
    value: str  # as written after "="
    commented: bool  # "# NAME=value": what the project uses when NAME is unset; else a value for local work


@dataclass
class Group:
    """Comment lines and the variable lines under them (a blank line or a new comment ends a group)."""

    comment: list = field(default_factory=list)
    variables: list = field(default_factory=list)


def env_example(text):
    """The groups of a .env.example file, in order."""
    groups = [Group()]
    for line in text.splitlines():
        line = line.rstrip()
        match = VARIABLE.match(line)
        if match:
            variable = Variable(match["name"], match["value"], bool(match["commented"]))
            groups[-1].variables.append(variable)
        elif line.startswith("#"):
            if groups[-1].variables:
                groups.append(Group())
            groups[-1].comment.append(line.removeprefix("#").strip())
        elif not line and (groups[-1].comment or groups[-1].variables):
            groups.append(Group())
    return [group for group in groups if group.comment or group.variables]


def variables(text):
    """{name: Variable} of a .env.example file."""
    return {variable.name: variable for group in env_example(text) for variable in group.variables}


# Directives


def plain_text(text):
    """Comment text as nodes: `code` in backticks as code, the rest as it is (no other markup)."""
    parts = text.split("`")
    return [nodes.literal(text=part) if index % 2 else nodes.Text(part) for index, part in enumerate(parts) if part]


def table(headers, rows, widths=None):
    """A docutils table; each cell is a list of nodes, or (nodes, rows, columns) for one that spans more."""
    group = nodes.tgroup(cols=len(headers))
    for width in widths or [1] * len(headers):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *[nodes.entry("", nodes.paragraph(text=text)) for text in headers])
    body = nodes.tbody()
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            content, spans, columns = cell if isinstance(cell, tuple) else (cell, 1, 1)
            entry = nodes.entry("", nodes.paragraph("", "", *content))
            if spans > 1:
                entry["morerows"] = spans - 1
            if columns > 1:
                entry["morecols"] = columns - 1
            row += entry
        body += row
    group += head
    group += body
    return nodes.table("", group)


class HookErrors(SphinxDirective):
    """A table of wrong answers (YAML list of {answers, via?, rule}) and what the hook prints for each."""

    has_content = True

    def run(self):
        items = yaml.safe_load("\n".join(self.content))
        calls = [(item["answers"], item.get("via", "command line")) for item in items]
        with ThreadPoolExecutor(max_workers=4) as pool:
            try:
                lines = list(pool.map(lambda call: hook_error(*call), calls))
            except AnswerNotRefused as error:
                raise self.error(str(error)) from None
        self.env.note_dependency(str(TEMPLATE_DIR / "hooks" / "pre_gen_project.py"))
        rows = []
        for item, (answers, via), line in zip(items, calls, lines, strict=True):
            if via == "command line":
                given = [nodes.literal(text=" ".join(map(shell_word, command_line(answers))))]
            else:
                given = [nodes.literal(text=yaml.safe_dump(answers, default_flow_style=True).strip()[1:-1])]
                given += [nodes.Text(f" in a {via}")]
            rule, _ = self.parse_inline(item["rule"])
            rows.append([rule, given, [nodes.literal(text=line)]])
        return [table(["Rule", "Answer", "What the hook prints"], rows, widths=[30, 25, 45])]


class CookiecutterOutput(SphinxDirective):
    """What `cookiecutter ARGS` prints, from a real run, as a console block.

    The argument is the command line after `cookiecutter`, as shown; the body, if any, is the file
    that its --config-file names, shown above the command. Options: status (the exit status the run
    must end with; else the build fails), nothing-written (the build fails if the run created
    anything), filter (a regular expression: show only the lines it finds), python (options for the
    Python that runs cookiecutter, shown as `python OPTIONS -m cookiecutter`).
    """

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {
        "status": directives.nonnegative_int,
        "filter": directives.unchanged,
        "python": directives.unchanged,
        "nothing-written": directives.flag,
    }

    def run(self):
        args = shlex.split(self.arguments[0])
        python_options = shlex.split(self.options.get("python", ""))
        config = "\n".join(self.content) if self.content else None
        run = run_cookiecutter(args, config=config, merged=True, python_options=python_options)
        self.env.note_dependency(str(TEMPLATE_DIR / "hooks" / "pre_gen_project.py"))
        self.env.note_dependency(str(TEMPLATE_DIR / "hooks" / "post_gen_project.py"))
        program = ["python", *python_options, "-m", "cookiecutter"] if python_options else ["cookiecutter"]
        command = shlex.join([*program, *args])
        if "status" in self.options and run.status != self.options["status"]:
            raise self.error(f"{command} exited {run.status}, not {self.options['status']}:\n{run.stdout}")
        if "nothing-written" in self.options and run.written:
            raise self.error(f"{command} wrote {run.written}:\n{run.stdout}")
        lines = run.stdout.rstrip("\n").splitlines()
        if "filter" in self.options:
            lines = [line for line in lines if re.search(self.options["filter"], line)]
            if not lines:
                raise self.error(f"no line that {command} printed matches {self.options['filter']!r}:\n{run.stdout}")
        text = "\n".join([f"$ {command}", *lines])
        block = nodes.literal_block(text, text)
        block["language"] = "console"
        if config is None:
            return [block]
        shown_config = nodes.literal_block(config, config)
        shown_config["language"] = "yaml"
        return [shown_config, block]


class EnvVariables(SphinxDirective):
    """The table of every environment variable, from .env.example (argument: its path, from the docs folder)."""

    required_arguments = 1

    def run(self):
        _, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(path)
        rows = []
        for number, group in enumerate(env_example(Path(path).read_text())):
            meaning = plain_text(" ".join(group.comment))
            if not group.variables:
                if number:  # a section's note (the file's own introduction is the text above the table)
                    rows.append([(meaning, 1, 3)])
                continue
            for index, variable in enumerate(group.variables):
                if not variable.commented:
                    default = [nodes.Text("for local work: "), nodes.literal(text=f"{variable.name}={variable.value}")]
                elif variable.value:
                    default = [nodes.literal(text=variable.value)]
                else:
                    default = [nodes.Text("not set")]
                cells = [[nodes.literal(text=variable.name)], default]
                if index == 0:
                    cells.append((meaning, len(group.variables), 1))
                rows.append(cells)
        return [table(["Variable", "Default", "Meaning"], rows, widths=[30, 25, 45])]


def setup(app):
    app.add_directive("hook-errors", HookErrors)
    app.add_directive("cookiecutter-output", CookiecutterOutput)
    app.add_directive("env-variables", EnvVariables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
