"""A local push service for tests: HTTPS on 127.0.0.1 with a certificate made on the spot,
recording what pywebpush POSTs (headers and the encrypted body) and answering each endpoint
as told (201 by default; 410 once the browser "unsubscribed"; a script of answers)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Pushed:
    path: str
    headers: Mapping[str, str]          # case-insensitive, as HTTP
    body: bytes
    status: int


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake push service")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class FakePushService:
    answers: dict[str, int] = field(default_factory=dict)     # path -> status
    script: dict[str, list[int]] = field(default_factory=dict)  # path -> the next answers
    received: list[Pushed] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: Any = None
    _dir: Any = None
    _cert: Path | None = None

    def endpoint(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/push/{name}"

    async def _handle(self, request: web.Request) -> web.Response:
        queued = self.script.get(request.path)
        status = queued.pop(0) if queued else self.answers.get(request.path, 201)
        self.received.append(Pushed(request.path, request.headers.copy(), await request.read(),
                                    status))
        self.changed.set()
        return web.Response(status=status)

    def client_session(self) -> aiohttp.ClientSession:
        """A session that trusts this service's certificate (and nothing else)."""
        assert self._cert
        ctx = ssl.create_default_context(cafile=str(self._cert))
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx))

    async def wait_for(self, n: int, within_s: float = 15) -> None:
        async with asyncio.timeout(within_s):
            while len(self.received) < n:
                self.changed.clear()
                await self.changed.wait()

    async def start(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self._cert, key = _certificate(Path(self._dir.name))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self._cert, key)
        app = web.Application()
        app.router.add_post("/push/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, ssl_context=tls).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
        self._dir.cleanup()
