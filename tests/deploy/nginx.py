"""deploy/nginx/opdq.conf, rendered for a test and run by the real nginx (Debian's package;
.ci/run installs it): the upstreams pointed at live servers, TLS with a throw-away
self-signed certificate, the redirect on a free port, everything else as shipped."""

from __future__ import annotations

import contextlib
import getpass
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from server.embedded import free_port

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "opdq.conf"

MAIN = """\
user {user};
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/opdq.conf;
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
    if not found:
        raise RuntimeError("nginx is not installed: `apt-get install -y nginx-light` "
                           "(.ci/run does it); the reverse proxy config cannot be tested")
    return found


def render(upstreams: list[int], https_port: int, http_port: int, tls_dir: Path) -> str:
    text = CONF.read_text()
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstreams)
    text, n = re.subn(r"(?m)^(    server web\d:8000;\n)+", servers + "\n", text)
    assert n == 1, "the upstream block changed: update tests/deploy/nginx.py"
    for old, new in ((r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                     (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("/etc/nginx/tls/", f"{tls_dir}/")):
        assert old in text, f"{old!r} is gone from opdq.conf: update tests/deploy/nginx.py"
        text = text.replace(old, new)
    return text


def self_signed(folder: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=opd.example.org", "-keyout", str(folder / "privkey.pem"),
         "-out", str(folder / "fullchain.pem")],
        check=True, capture_output=True)


@dataclass
class Proxy:
    https_port: int
    http_port: int
    proc: subprocess.Popen[bytes]
    folder: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}"

    def log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running(upstreams: list[int], folder: Path) -> Iterator[Proxy]:
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir(exist_ok=True)
    self_signed(folder)
    https_port, http_port = free_port(), free_port()
    (folder / "opdq.conf").write_text(render(upstreams, https_port, http_port, folder))
    (folder / "nginx.conf").write_text(MAIN.format(user=getpass.getuser(), dir=folder))
    cmd = [binary, "-p", str(folder), "-e", str(folder / "error.log"),
           "-c", str(folder / "nginx.conf")]
    check = subprocess.run([*cmd, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, f"nginx rejects the config:\n{check.stderr}"
    proc = subprocess.Popen([*cmd, "-g", "daemon off;"])
    proxy = Proxy(https_port, http_port, proc, folder)
    try:
        deadline = time.monotonic() + 10
        while not (_listening(https_port) and _listening(http_port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{proxy.log()}")
            time.sleep(0.05)
        yield proxy
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
