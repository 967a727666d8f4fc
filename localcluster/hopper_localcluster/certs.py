"""Throw-away PKI for one control plane: CA, serving cert, admin client cert, SA keys.

Uses the `openssl` command: a whole CA with client and serving certificates takes a few
commands there, and the local cluster then needs no Python package the operator's image
would not (the operator's own `cryptography` makes only its self-signed serving
certificates). Only options that OpenSSL 1.1, 3.x and LibreSSL all understand are used.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hopper_localcluster.binaries import ControlPlaneError

ADMIN_USER = "hopper-admin"
ADMIN_GROUP = "system:masters"
# Long enough for a `hopper-localcluster dev` session left running for days; the files die
# with the control plane anyway.
VALID_DAYS = "30"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError("The `openssl` command is needed to create certificates.")
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _ec_key(path: Path) -> Path:
    # P-256 keys are generated instantly; RSA would cost seconds on a slow CI machine.
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )
    return path


def _config(path: Path, subject: dict[str, str], extensions: list[str]) -> Path:
    # A config file of our own keeps the system openssl.cnf's defaults (which differ
    # between distributions) out of the certificates.
    lines = ["[req]", "prompt = no", "distinguished_name = dn", "[dn]"]
    lines += [f"{key} = {value}" for key, value in subject.items()]
    lines += ["[ext]", *extensions]
    path.write_text("\n".join(lines) + "\n")
    return path


def _sign(
    directory: Path,
    name: str,
    subject: dict[str, str],
    extensions: list[str],
    ca: tuple[Path, Path],
) -> tuple[Path, Path]:
    key = _ec_key(directory / f"{name}.key")
    config = _config(directory / f"{name}.cnf", subject, extensions)
    csr = directory / f"{name}.csr"
    cert = directory / f"{name}.crt"
    _openssl("req", "-new", "-config", str(config), "-key", str(key), "-out", str(csr))
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-set_serial",
        str(secrets.randbits(63)),
        "-days",
        VALID_DAYS,
        "-extfile",
        str(config),
        "-extensions",
        "ext",
        "-out",
        str(cert),
    )
    csr.unlink()
    config.unlink()
    return cert, key


LEAF = (
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature",
    "authorityKeyIdentifier = keyid",
)


def _client_cert(
    directory: Path, name: str, user: str, group: str, ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    extensions = [*LEAF, "extendedKeyUsage = clientAuth"]
    return _sign(directory, name, {"O": group, "CN": user}, extensions, ca)


def create_client_cert(pki: Pki, name: str, *, user: str, group: str) -> tuple[Path, Path]:
    """A client certificate and key for `user` in `group`, signed by the pki's CA."""
    return _client_cert(pki.ca_cert.parent, name, user, group, (pki.ca_cert, pki.ca_key))


def create_pki(directory: Path) -> Pki:
    """Write every PEM file the control plane needs into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _ec_key(directory / "ca.key")
    ca_config = _config(
        directory / "ca.cnf",
        {"CN": "hopper-controlplane-ca"},
        [
            "basicConstraints = critical, CA:TRUE",
            "keyUsage = critical, keyCertSign, cRLSign",
            "subjectKeyIdentifier = hash",
        ],
    )
    ca_cert = directory / "ca.crt"
    _openssl(
        "req",
        "-x509",
        "-new",
        "-config",
        str(ca_config),
        "-extensions",
        "ext",
        "-key",
        str(ca_key),
        "-set_serial",
        str(secrets.randbits(63)),
        "-days",
        VALID_DAYS,
        "-out",
        str(ca_cert),
    )
    ca_config.unlink()
    ca = (ca_cert, ca_key)

    serving_cert, serving_key = _sign(
        directory,
        "apiserver",
        {"CN": "kube-apiserver"},
        [
            *LEAF,
            "extendedKeyUsage = serverAuth",
            # 10.0.0.1 is the `kubernetes` Service's IP in --service-cluster-ip-range.
            "subjectAltName = IP:127.0.0.1, DNS:localhost, IP:10.0.0.1, DNS:kubernetes.default",
        ],
        ca,
    )
    admin_cert, admin_key = _client_cert(directory, "admin", ADMIN_USER, ADMIN_GROUP, ca)

    # The ServiceAccount token signer is RSA: the issuer's JWKS consumers expect RS256.
    sa_key = directory / "service-account.key"
    sa_public = directory / "service-account.pub"
    _openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(sa_key)
    )
    _openssl("pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_public))

    return Pki(
        ca_cert=ca_cert,
        ca_key=ca_key,
        serving_cert=serving_cert,
        serving_key=serving_key,
        admin_cert=admin_cert,
        admin_key=admin_key,
        service_account_key=sa_key,
        service_account_public_key=sa_public,
    )
