"""A self-signed certificate for `--tls`, made with the `openssl` command at start.

The certificate names 127.0.0.1 and localhost and is marked as a CA, so a client
can trust it directly with `verify=<cert path>` (strict X.509 checkers require
the CA flag and key usage on a trust anchor).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
x509_extensions = v3
prompt = no

[dn]
CN = 127.0.0.1
O = sandfly_assets simulator

[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
"""


def make_self_signed(cert_path: Path, key_path: Path, days: int = 30) -> None:
    """Write a fresh P-256 key and self-signed certificate (raises RuntimeError on failure)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("--tls needs the 'openssl' command, which was not found on PATH")
    config_path = key_path.with_suffix(".cnf")
    config_path.write_text(_OPENSSL_CONFIG)
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key_path),
        "-out",
        str(cert_path),
        "-days",
        str(days),
        "-config",
        str(config_path),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    config_path.unlink(missing_ok=True)
    if completed.returncode != 0:
        raise RuntimeError(f"openssl could not create the certificate: {completed.stderr.strip()}")
    key_path.chmod(0o600)
