"""
A generated project served in production mode behind a TLS-terminating router, as on a platform:
Debian's nginx with a self-signed certificate for `localhost` in front of the Procfile's gunicorn
(and Tornado), for tests that need what a browser or a scanner sees over HTTPS.

nginx plays Heroku's router: it ends TLS, says so in X-Forwarded-Proto, adds X-Forwarded-For, and
passes WebSocket upgrades on. A plain-HTTP request to its HTTPS port goes on to the app as plain HTTP
(X-Forwarded-Proto: http), as port 80 would: so the app's own redirect to HTTPS is what a client sees.
"""

import contextlib
import os
import shutil
import subprocess
import time
import urllib.request

from .conftest import PRODUCTION_ENV, ProcfileProcess, free_port, project_venv, require, run, service_url

NGINX_CONFIG = """
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    proxy_http_version 1.1;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    ssl_certificate {folder}/cert.pem;
    ssl_certificate_key {folder}/key.pem;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}

    server {{
        listen 127.0.0.1:{https_port} ssl;
        # nginx's code for plain HTTP on a TLS port: handled as if it had come to port 80.
        error_page 497 = @plain_http;
        location / {{
            proxy_pass http://127.0.0.1:{web_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
        }}
        location @plain_http {{
            proxy_pass http://127.0.0.1:{web_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto http;
        }}
    }}
    server {{
        listen 127.0.0.1:{wss_port} ssl;
        location / {{
            proxy_pass http://127.0.0.1:{realtime_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


def nginx():
    found = shutil.which("nginx", path=f"{os.environ['PATH']}{os.pathsep}/usr/sbin")
    require(found, "nginx is missing (apt-get install nginx-light): it is the TLS router of this test")
    return found


class Router:
    """nginx on two free ports: https_url (and http_url, the same port) reach the web process, socket_url Tornado."""

    def __init__(self, folder, web_port, realtime_port):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        # A self-signed certificate, which is its own CA: clients are told to trust it (cert below).
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            + ["-keyout", folder / "key.pem", "-out", folder / "cert.pem", "-days", "2", "-subj", "/CN=localhost"]
            + ["-addext", "subjectAltName=DNS:localhost"],
            check=True,
            capture_output=True,
        )
        self.cert = folder / "cert.pem"
        ports = {"https_port": free_port(), "wss_port": free_port()}
        (folder / "nginx.conf").write_text(
            NGINX_CONFIG.format(folder=folder, web_port=web_port, realtime_port=realtime_port, **ports)
        )
        self.host = f"localhost:{ports['https_port']}"
        self.https_url, self.http_url = f"https://{self.host}", f"http://{self.host}"
        self.socket_url = f"wss://localhost:{ports['wss_port']}/ws"
        self.process = subprocess.Popen(
            [nginx(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout=30):
        """Until nginx passes a health check on to the app, and it answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited {self.process.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(f"{self.http_url}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"nginx did not answer within {timeout} s:\n{self.log()}")

    def log(self):
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


SUPERUSER = ("ada", "browser-test-password-1234")


@contextlib.contextmanager
def production_site(project, folder, debug=False):
    """The project as deployed (DEBUG off unless asked, static files collected, a superuser) behind Router."""
    bin_dir = project_venv(project)
    realtime = (project / project.name / "realtime").exists()
    router = None
    env = {
        **PRODUCTION_ENV,
        "DEBUG": str(debug).lower(),
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "WEB_CONCURRENCY": "1",
        "DJANGO_SUPERUSER_PASSWORD": SUPERUSER[1],
    }
    folder.mkdir(parents=True, exist_ok=True)
    run(["python", "manage.py", "collectstatic", "--noinput", "-v0"], project, bin_dir)
    run(["python", "manage.py", "migrate", "-v0"], project, bin_dir, env)
    superuser = ["python", "manage.py", "createsuperuser", "--noinput", "--username", SUPERUSER[0]]
    run([*superuser, "--email", "ada@example.com"], project, bin_dir, env)
    processes = []
    try:
        # Picked just before the servers bind them, so no other test's server is likely to take them first
        # (ProcfileProcess fails with PortTaken if one did).
        web_port, realtime_port = free_port(), free_port()
        router = Router(folder / "nginx", web_port, realtime_port)
        if realtime:
            # Browsers open the socket on the router's TLS port, which passes it on to Tornado.
            env |= {"REDIS_URL": service_url("REDIS_URL"), "REALTIME_URL": router.socket_url}
            env |= {"REALTIME_PORT": str(realtime_port)}
            processes.append(ProcfileProcess(project, "realtime", bin_dir, env, port=realtime_port))
        processes.append(ProcfileProcess(project, "web", bin_dir, env, port=web_port))
        router.wait()
        yield router
    finally:
        for process in processes:
            process.stop()
        if router:
            router.stop()
