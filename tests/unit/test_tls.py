"""The webhook certificate: signed by the shared CA, renewed with a third of its life left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from hopper_operator.kube.tls import issue, renewal_due

DAY = timedelta(days=1)


def test_a_serving_certificate_is_signed_by_the_ca_for_its_hosts() -> None:
    ca = issue("ca", validity=10 * DAY)
    serving = issue("svc", hosts=["svc.ns.svc", "127.0.0.1"], validity=DAY, issuer=ca)
    parsed = x509.load_pem_x509_certificate(serving.cert)
    parsed.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert))
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["svc.ns.svc"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca_parsed = x509.load_pem_x509_certificate(ca.cert)
    assert ca_parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_renewal_is_due_a_third_before_expiry_or_for_a_missing_host() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    pair = issue("svc", hosts=["a", "10.0.0.1"], validity=3 * DAY, now=now)
    third = DAY
    assert not renewal_due(pair.cert, now=now, renew_before=third, hosts=["a", "10.0.0.1"])
    assert not renewal_due(pair.cert, now=now + DAY + DAY / 2, renew_before=third)
    assert renewal_due(pair.cert, now=now + 2 * DAY + timedelta(minutes=6), renew_before=third)
    assert renewal_due(pair.cert, now=now, renew_before=third, hosts=["a", "b"])
    assert renewal_due(b"not a certificate", now=now, renew_before=third)
