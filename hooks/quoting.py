"""Jinja filters that turn a free-text answer into one string literal.

- `quoted`: JSON via `json.dumps(..., ensure_ascii=False)`, which escapes only quotes,
  backslashes and control characters, so it is a valid string in TOML, JSON and YAML
  alike and keeps non-ASCII text and emoji readable (Jinja's `tojson` writes emoji as
  surrogate pairs, which TOML rejects).
- `pyrepr`: a Python literal quoted the way `ruff format` wants it (double quotes unless
  the text holds more double than single quotes), so generated code stays format-clean.

The pre-generation hook rejects control characters, so no other escape is needed.
"""

import json

from jinja2.ext import Extension


def pyrepr(value):
    text = str(value).replace("\\", "\\\\")
    if text.count('"') > text.count("'"):
        return "'" + text.replace("'", "\\'") + "'"
    return '"' + text.replace('"', '\\"') + '"'


class QuotedExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["quoted"] = lambda value: json.dumps(str(value), ensure_ascii=False)
        environment.filters["pyrepr"] = pyrepr
