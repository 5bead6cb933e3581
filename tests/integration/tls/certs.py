"""Test certificates, made in the test run with Debian's /usr/bin/openssl (never committed):
a CA, a server certificate for 127.0.0.1 and localhost signed by it, an expired one, one for
another host, and a key that belongs to no certificate here.

    python3 certs.py DIR      writes them into DIR (also importable: make(DIR) -> paths)
"""

import subprocess
import sys
from pathlib import Path

OPENSSL = "/usr/bin/openssl"


def run(*argv, cwd):
    subprocess.run([OPENSSL, *argv], cwd=cwd, check=True, capture_output=True, timeout=60)


def new_key(name, cwd):
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name,
        cwd=cwd)


def sign(name, subject, alt_names, days, cwd):
    """name.key and name.pem: a server certificate signed by the CA, valid for `days` from now
    (negative: its notAfter is already past)."""
    new_key(f"{name}.key", cwd)
    run("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    (Path(cwd) / f"{name}.ext").write_text(
        f"subjectAltName={alt_names}\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=critical,CA:FALSE\n")
    run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", str(days), "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=cwd)


def make(directory, server_only=False):
    """The files, by name; `server_only`: the CA and server.pem/server.key alone."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    new_key("ca.key", d)
    run("req", "-x509", "-key", "ca.key", "-subj", "/CN=wssniff test CA", "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem", cwd=d)
    sign("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", 2, d)
    if server_only:
        return {name: str(d / name) for name in ("ca.pem", "server.pem", "server.key")}
    sign("expired", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", -1, d)
    sign("wrong_host", "/CN=elsewhere.example", "DNS:elsewhere.example", 2, d)
    new_key("stray.key", d)
    return {name: str(d / name) for name in (
        "ca.pem", "server.pem", "server.key", "expired.pem", "expired.key", "wrong_host.pem",
        "wrong_host.key", "stray.key")}


if __name__ == "__main__":
    print(make(sys.argv[1]))
