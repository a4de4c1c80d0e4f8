"""Deploy-test plumbing: a self-signed certificate and Debian's nginx running deploy/nginx.conf."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .browser_support import free_port

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx.conf"


def nginx_path() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not path:
        # fail, never skip: CI installs Debian's nginx and these tests must run there
        raise RuntimeError("Debian's nginx is required for the deploy tests: apt-get install -y nginx")
    return path


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1; returns (cert, key) PEM paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def client_ssl(cert: Path) -> ssl.SSLContext:
    """Trusts exactly the test certificate: TLS is verified, not switched off."""
    return ssl.create_default_context(cafile=str(cert))


class Nginx:
    """deploy/nginx.conf with its ports, upstreams and certificate paths replaced, in the foreground
    with its own prefix, temp dirs, logs and pid file."""

    def __init__(self, folder: Path, upstream_ports: list[int], cert: Path, key: Path) -> None:
        self.folder = folder
        self.https_port, self.http_port = free_port(), free_port()
        self.base = f"https://localhost:{self.https_port}"
        site = SITE.read_text()
        replacements = {
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen [::]:80;": "",
            "/etc/letsencrypt/live/chat.example.com/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/chat.example.com/privkey.pem": str(key),
            "server 127.0.0.1:8081 ": f"server 127.0.0.1:{upstream_ports[0]} ",
            "server 127.0.0.1:8082 ": f"server 127.0.0.1:{upstream_ports[1]} ",
        }
        for old, new in replacements.items():
            assert old in site, f"deploy/nginx.conf no longer has {old!r}: update the test"
            site = site.replace(old, new)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "site.conf").write_text(site)
        temps = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # what Debian's /etc/nginx/nginx.conf gives the site: mime types inside http {}
        (folder / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder / "access.log"};
{temps}
    include {folder / "site.conf"};
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = str(self.folder / "nginx.conf")
        args = [nginx_path(), "-p", str(self.folder), "-c", conf, "-e", str(self.folder / "error.log")]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("nginx did not start: " + (self.folder / "error.log").read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            self.proc.wait(10)
            self.proc = None
