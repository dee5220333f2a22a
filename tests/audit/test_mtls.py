"""On an mTLS listener the collector logs the client certificate subject as the entry's source."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette

from mamori.audit.log import AuditLog
from mamori.enforce.certs import load_ca, new_ca
from mamori.policy.config import Policy
from mamori.server import ingest
from mamori.server.http import TlsScopeProtocol
from mamori.server.state import ServerState
from tests.server.tlsutil import localhost_tls


def client_cert(tmp: Path) -> tuple[str, str, str]:
    ca = new_ca("test client CA")
    ca_cert, ca_key = load_ca(ca.cert_pem, ca.key_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node-7"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster-a")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp / "ca.pem", tmp / "client.pem", tmp / "client-key.pem"
    paths[0].write_bytes(ca.cert_pem)
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(paths[0]), str(paths[1]), str(paths[2])


def test_client_certificate_subject_is_the_source(tmp_path: Path, log: AuditLog) -> None:
    server_tls = localhost_tls(tmp_path / "srv")
    client_ca, cert, key = client_cert(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    w = ingest.GroupWriter(log)
    app = Starlette(routes=ingest.routes(ServerState(policy=Policy()), log, writer=w))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=TlsScopeProtocol, lifespan="off",
                            log_config=None, ssl_certfile=server_tls["cert"], ssl_keyfile=server_tls["key"],
                            ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        ctx = ssl.create_default_context(cafile=server_tls["ca"])
        ctx.load_cert_chain(cert, key)
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        r = httpx.post(f"https://127.0.0.1:{port}/v1/logs", json={"type": "node.boot"}, verify=ctx)
        assert r.status_code == 200, r.text
        assert log.query()[0].json()["source"] == "cert:O=cluster-a,CN=node-7"
        no_cert = ssl.create_default_context(cafile=server_tls["ca"])
        try:
            r = httpx.post(f"https://127.0.0.1:{port}/v1/logs", json={"type": "x"}, verify=no_cert)
            refused = r.status_code == 401
        except httpx.TransportError:
            refused = True  # the handshake itself fails without a client certificate
        assert refused and log.head().size == 1
    finally:
        server.should_exit = True
        thread.join(10)
        w.close()
