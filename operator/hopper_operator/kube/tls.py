"""Certificates for the operator's TLS endpoints: made, judged, and loaded.

The metrics endpoint makes a throw-away self-signed one at start; the webhook server shares
one, signed by a CA of its own, between every replica through a Secret. Both come from
`issue`, and both are loaded by `load_into`.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

YEAR = timedelta(days=365)
BACKDATE = timedelta(minutes=5)  # clocks of the API server and the operator may differ


@dataclass(frozen=True)
class KeyPair:
    cert: bytes  # PEM
    key: bytes  # PEM, PKCS8, unencrypted


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue(
    common_name: str,
    *,
    hosts: Sequence[str] = (),
    validity: timedelta,
    issuer: KeyPair | None = None,
    now: datetime | None = None,
) -> KeyPair:
    """A certificate for `hosts` signed by `issuer`; without hosts, a CA; without an
    issuer, self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = (now or datetime.now(UTC)) - BACKDATE
    signer, issuer_name = key, name
    if issuer is not None:
        issuer_cert = x509.load_pem_x509_certificate(issuer.cert)
        signer = serialization.load_pem_private_key(issuer.key, None)  # type: ignore[assignment]
        issuer_name = issuer_cert.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + BACKDATE + validity)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    certificate = builder.sign(signer, hashes.SHA256())
    return KeyPair(
        cert=certificate.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def renewal_due(
    cert: bytes, *, now: datetime, renew_before: timedelta, hosts: Sequence[str] = ()
) -> bool:
    """True when `cert` is unreadable, expires within `renew_before`, or misses a host."""
    try:
        parsed = x509.load_pem_x509_certificate(cert)
    except ValueError:
        return True
    if now >= parsed.not_valid_after_utc - renew_before:
        return True
    if not hosts:
        return False
    try:
        names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    covered = {str(n) for n in names.get_values_for_type(x509.DNSName)}
    covered |= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return not {str(_san(h).value) for h in hosts} <= covered


def server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def load_into(context: ssl.SSLContext, pair: KeyPair) -> None:
    """Load `pair` into `context`: connections accepted from now on present it, those
    open keep theirs (so a rotation needs no restart of the listener)."""
    # ssl reads only files: write both to a private temporary directory (/tmp is the only
    # writable place in the operator's pod) and remove them once loaded.
    with tempfile.TemporaryDirectory(prefix="hopper-tls-") as directory:
        cert, key = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert.write_bytes(pair.cert)
        key.write_bytes(pair.key)
        context.load_cert_chain(cert, key)


def self_signed_context(name: str) -> ssl.SSLContext:
    """A server context with a throw-away certificate for `name`, as controller-runtime
    makes when given none: clients skip verification (or the server is given a real
    certificate)."""
    context = server_context()
    load_into(context, issue(name, hosts=["localhost"], validity=YEAR))
    return context


def files_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context presenting the certificate and key in these files."""
    context = server_context()
    context.load_cert_chain(cert, key)
    return context
