"""
MDN's HTTP Observatory, the scanner itself: its command line (`src/scan.js` of the npm package
@mdn/mdn-http-observatory) run against each add-on combination as deployed, behind a TLS router
(tests/tls_router.py). Every page a visitor starts from must get A+ (a score of 100 or more) with
all of the scanner's tests passed: /, /admin/login/, /api/docs/, /realtime/ (and the board's page).

What the scan needs, here and in CI: node and npm. The package is installed once per version into
LDJ_OBSERVATORY_CACHE with --ignore-scripts (its post-install step downloads Chromium's HSTS preload
list and IANA's TLD list from the internet); an empty preload list stands in, so nothing counts as
preloaded. The scanner trusts the router's self-signed certificate through NODE_EXTRA_CA_CERTS (its
own wrapper, bin/wrapper.js, would replace that with Mozilla's CA bundle, so scan.js runs directly).
"""

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ADDON_COMBINATIONS, BOARD, combination_param, require
from .tls_router import production_site

OBSERVATORY = "@mdn/mdn-http-observatory@1.4.8"
CACHE = Path(os.environ.get("LDJ_OBSERVATORY_CACHE", "/tmp/ldj-observatory"))


@pytest.fixture(scope="session")
def scanner():
    """The command that scans a host[:port][/path] and prints the Observatory's JSON result."""
    node, npm = shutil.which("node"), shutil.which("npm")
    require(node and npm, "node and npm are missing (apt-get install npm): they run MDN's HTTP Observatory")
    folder = CACHE / OBSERVATORY.replace("/", "+")
    package = folder / "node_modules" / "@mdn" / "mdn-http-observatory"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be installing it
        if not (folder / "ready").exists():
            install = [npm, "install", "--prefix", str(folder), "--ignore-scripts", "--no-audit", "--no-fund"]
            result = subprocess.run([*install, OBSERVATORY], capture_output=True, text=True, timeout=600)
            require(result.returncode == 0, f"npm could not install {OBSERVATORY}:\n{result.stderr[-2000:]}")
            (package / "conf" / "hsts-preload.json").write_text("{}")  # what its post-install would download
            (folder / "ready").write_text(OBSERVATORY)
    return [node, str(package / "src" / "scan.js")]


def scan(scanner, router, path):
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(router.cert)}
    result = subprocess.run([*scanner, router.host + path], capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(result.stdout or "{}")
    assert result.returncode == 0 and "scan" in report, f"{path}: {result.stdout}{result.stderr}"
    return report


def pages(answers):
    return (
        ["/", "/admin/login/"]
        + (["/api/docs/"] if answers["use_rest"] else [])
        + (["/realtime/"] if answers["use_realtime"] else [])
        + (["/board/"] if answers.get("example_app") == "board" else [])
    )


@pytest.mark.parametrize("answers", [combination_param(answers) for answers in [*ADDON_COMBINATIONS, BOARD]])
def test_every_page_gets_a_plus_from_mdns_http_observatory(answers, bake, scanner, tmp_path):
    grades, failed = {}, []
    with production_site(bake(**answers), tmp_path) as router:
        for path in pages(answers):
            report = scan(scanner, router, path)
            grades[path] = f"{report['scan']['grade']} ({report['scan']['score']})"
            if report["scan"]["grade"] != "A+":  # a score of 100 or more
                failed.append(f"{path}: {grades[path]}")
            failed += [
                f"{path}: {name}: {test['result']} ({test['scoreModifier']:+})"
                for name, test in report["tests"].items()
                if not test["pass"]
            ]
    assert not failed, "\n".join([*failed, f"grades: {grades}"])
