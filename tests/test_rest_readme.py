"""
The generated README's "Add a resource" (use_rest=true), done as its reader would: in a copy
of the bake, startapp notes, paste each python block where the text says, migrate, and run
the README's own test and the schema check. The resource then answers over HTTP as it says.
"""

import re
import shutil

import yaml

from .conftest import project_venv, run


def section(readme, title):
    return readme.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]


def test_the_readmes_add_a_resource_steps_give_a_working_documented_endpoint(bake, tmp_path):
    project = tmp_path / "my_project"
    shutil.copytree(bake(use_rest=True), project)
    steps = section((project / "README.md").read_text(), "Add a resource")
    model, serializer, viewset, route, test = re.findall(r"^```python\n(.*?)^```$", steps, re.DOTALL | re.MULTILINE)
    bin_dir = project_venv(project)

    run(["python", "manage.py", "startapp", "notes"], project, bin_dir)
    settings = project / "my_project/settings.py"
    settings.write_text(settings.read_text().replace('    "my_project.api",', '    "notes",\n    "my_project.api",', 1))
    for path, code in [("notes/models.py", model), ("my_project/api/serializers.py", serializer)]:
        (project / path).write_text((project / path).read_text() + "\n\n" + code)
    views = project / "my_project/api/views.py"
    views.write_text(views.read_text() + "\n\n" + viewset)
    (project / "my_project/api/tests/test_notes.py").write_text(test)
    urls = project / "my_project/api/urls.py"
    router = "router = routers.DefaultRouter()"
    assert router in urls.read_text(), "the README says the route goes under `router = ...`"
    urls.write_text(re.sub(rf"^({re.escape(router)}.*)$", rf"\1\n{route}", urls.read_text(), count=1, flags=re.M))
    run(["python", "manage.py", "makemigrations", "notes", "-v0"], project, bin_dir)

    readme_test = run(
        [
            "python",
            "-m",
            "pytest",
            "my_project/api/tests/test_notes.py",
            "-k",
            "test_users_see_only_their_own_notes",
            "-p",
            "no:randomly",
        ],
        project,
        bin_dir,
    )
    assert "1 passed" in readme_test.stdout, readme_test.stdout
    schema = yaml.safe_load(
        run(["python", "manage.py", "spectacular", "--validate", "--fail-on-warn"], project, bin_dir).stdout
    )
    assert {"/api/notes/", "/api/notes/{id}/"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/notes/{id}/"]) >= {"get", "put", "patch", "delete"}
    assert list(schema["components"]["schemas"]["Note"]["properties"]) == ["id", "text"]
