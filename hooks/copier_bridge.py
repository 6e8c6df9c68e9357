"""What copier needs to render this cookiecutter tree the way cookiecutter does.

copier loads it through copier-template-extensions (see copier.yml); cookiecutter never imports it.
Nothing here is a second copy of a rule: the answers are cookiecutter.json's, the checks are
hooks/pre_gen_project.py's (run as cookiecutter runs it), the files copied as they are come from
cookiecutter.json's `_copy_without_render`.

- `cookiecutter_answers()`: the answers as the `cookiecutter` mapping the tree's templates use,
  after the pre-generation hook accepted them; otherwise copier stops with the hook's line.
- `hook_error(name)`: a question's `validator:` when it is asked: the hook's line if the answers so
  far break a rule about it or an earlier question, else "".
- `hook_file(name)`: hooks/NAME.py rendered with the answers into a scratch file, to run as a task.
- `unchosen_paths()`: the files of the options that are off, from the post-generation hook, so that
  copier never writes them (cookiecutter writes them and the hook deletes them).
- the `slugify` filter cookiecutter.json's default slug uses (python-slugify, as in cookiecutter).
"""

import atexit
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from jinja2 import pass_context
from jinja2.ext import Extension

TEMPLATE = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = json.loads((TEMPLATE / "cookiecutter.json").read_text())
QUESTIONS = [name for name in COOKIECUTTER_JSON if not name.startswith("_")]
COPY_WITHOUT_RENDER = COOKIECUTTER_JSON["_copy_without_render"]
PRE_GEN_HOOK = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text()
# The words both tools read as yes or no. copier reads any other text as yes ("maybe", "2"), where
# cookiecutter refuses it: such an answer reaches the hook as the text it is, and the hook refuses it.
BOOLEAN_WORDS = {"1", "true", "t", "yes", "y", "on", "0", "false", "f", "no", "n", "off"}


class CopierBridge(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        if "slugify" not in environment.filters:
            try:
                from slugify import slugify
            except ImportError:
                raise SystemExit(
                    "ERROR: copier needs python-slugify for this template; pipx inject copier python-slugify"
                ) from None
            environment.filters["slugify"] = slugify
        for name in ("cookiecutter_answers", "hook_error", "hook_file", "unchosen_paths"):  # called with the answers
            method = getattr(self, name)
            environment.globals[name] = pass_context(lambda context, *args, method=method: method(context, *args))

    def preprocess(self, source, name, filename=None):
        """Files cookiecutter copies without rendering reach copier's Jinja as raw text."""
        # copier names a file by its path in the template repository: the tree's folder comes first.
        inside = name.split("/", 1)[1] if name and "/" in name else None
        if inside and any(fnmatch.fnmatch(inside, pattern) for pattern in COPY_WITHOUT_RENDER):
            if "{% endraw %}" in source:
                raise ValueError(f"{name} is copied without rendering but contains {{% endraw %}}")
            return "{% raw %}" + source + "{% endraw %}"
        return source

    def run_hook(self, answers):
        """What the pre-generation hook prints on stderr for these answers, run as cookiecutter runs it."""
        code = self.environment.from_string(PRE_GEN_HOOK).render(cookiecutter=answers)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        return result.stderr.strip() if result.returncode else ""

    def cookiecutter_answers(self, context):
        """The answers as JSON for copier.yml's `cookiecutter`, or copier stops with the hook's line."""
        if missing := [name for name in QUESTIONS if name not in context]:
            raise ValueError(f"copier.yml lacks the question(s) {', '.join(missing)} of cookiecutter.json")
        answers = {name: context[name] for name in QUESTIONS}
        for name, given in context["_copier_conf"]["data"].items():
            if (
                isinstance(answers.get(name), bool)
                and isinstance(given, str)
                and given.strip().lower() not in BOOLEAN_WORDS
            ):
                answers[name] = given
        if line := self.run_hook(answers):
            from copier.errors import UserMessageError  # copier shows its message as it is and exits 1

            raise UserMessageError(line)
        return json.dumps(answers)

    def hook_error(self, context, name):
        """The hook's line about the question being asked, or an earlier one; else ""."""
        conf = context["_copier_conf"]
        if conf["defaults"] or name in conf["data"]:
            return ""  # not asked: cookiecutter_answers() stops copier with the line, not a validation traceback
        given = {question: context[question] for question in QUESTIONS if question in context}
        defaults = {key: value[0] if isinstance(value, list) else value for key, value in COOKIECUTTER_JSON.items()}
        # Questions not asked yet count as their defaults; the slug's derives from the name, so a valid one
        # stands in for it until it is asked.
        answers = {**{question: defaults[question] for question in QUESTIONS}, "project_slug": "my_project", **given}
        line = self.run_hook(answers)
        field = line.split()[1] if line else None
        asked = QUESTIONS[: QUESTIONS.index(name)]
        return line if field == name or (field in asked and field not in conf["data"]) else ""

    def rendered_hook(self, context, name):
        """hooks/NAME.py rendered with the answers, as cookiecutter renders it."""
        return self.environment.from_string((TEMPLATE / "hooks" / f"{name}.py").read_text()).render(context.get_all())

    def hook_file(self, context, name):
        """hooks/NAME.py rendered, in a scratch file removed when copier exits."""
        descriptor, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".py")
        with os.fdopen(descriptor, "w") as script:
            script.write(self.rendered_hook(context, name))
        atexit.register(os.unlink, path)
        return path

    def unchosen_paths(self, context):
        """The post-generation hook's paths of the options that are off, as copier exclusions (one a line)."""
        hook = {"__name__": "post_gen_project"}  # not "__main__": defines its names, runs nothing
        exec(compile(self.rendered_hook(context, "post_gen_project"), "post_gen_project.py", "exec"), hook)
        return "\n".join(f"/{path.as_posix()}" for path in hook["unchosen_paths"]())
