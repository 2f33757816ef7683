"""Throwaway certificates for loopback TLS: a CA, intermediates, leaves and self-signed certs.

Keys are EC P-256 so that a test session can mint dozens in milliseconds. Validity windows
are always chosen by the caller (expired, expiring in 3 days, not yet valid...), so nothing
here reads the wall clock except :func:`validity`, which takes ``now`` when a test wants it
fixed. Files are written as PEM; a server loads ``chain`` (leaf then intermediates).
"""

from __future__ import annotations

import ipaddress
import pathlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertFiles",
    "CertificateAuthority",
    "IssuedCert",
    "self_signed",
    "validity",
]


def validity(
    days: float, *, before: float = 1.0, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """A ``(not_before, not_after)`` pair: valid since ``before`` days, until ``days`` from now.

    A negative ``days`` gives an already expired window.
    """
    current = now or datetime.now(UTC)
    return current - timedelta(days=before), current + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class CertFiles:
    """Paths of the PEM files written for one certificate.

    ``chain`` holds the leaf followed by its intermediates, which is what a server presents.
    """

    cert: pathlib.Path
    key: pathlib.Path
    chain: pathlib.Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """A certificate with its key and the intermediates between it and the root."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    intermediates: tuple[x509.Certificate, ...] = ()

    def write(self, directory: pathlib.Path | str, stem: str) -> CertFiles:
        """Write ``<stem>.pem``, ``<stem>.key`` and ``<stem>.chain.pem`` into ``directory``.

        Raises:
            OSError: the directory cannot be written.
        """
        folder = pathlib.Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        files = CertFiles(
            cert=folder / f"{stem}.pem",
            key=folder / f"{stem}.key",
            chain=folder / f"{stem}.chain.pem",
        )
        files.cert.write_bytes(_pem(self.certificate))
        files.key.write_bytes(_pem_key(self.key))
        files.chain.write_bytes(
            _pem(self.certificate) + b"".join(_pem(c) for c in self.intermediates)
        )
        return files


class CertificateAuthority:
    """A root or intermediate CA that issues leaf certificates.

    Build a root with ``CertificateAuthority("Test Root", not_before=..., not_after=...)`` and
    an intermediate with :meth:`intermediate`; leaves issued by an intermediate carry it in
    ``IssuedCert.intermediates`` so that servers present the whole chain.
    """

    def __init__(
        self,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        parent: CertificateAuthority | None = None,
    ) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.parent = parent
        issuer_name = parent.certificate.subject if parent else _name(common_name)
        signing_key = parent.key if parent else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(issuer_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
        )
        if parent:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
                critical=False,
            )
        self.certificate: x509.Certificate = builder.sign(signing_key, hashes.SHA256())

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This CA and its parents below the root, nearest first (empty for a root)."""
        if self.parent is None:
            return ()
        return (self.certificate, *self.parent.chain)

    def intermediate(
        self, common_name: str, *, not_before: datetime, not_after: datetime
    ) -> CertificateAuthority:
        """An intermediate CA signed by this one."""
        return CertificateAuthority(
            common_name, not_before=not_before, not_after=not_after, parent=self
        )

    def issue(
        self,
        common_name: str,
        *,
        sans: tuple[str, ...] = (),
        not_before: datetime,
        not_after: datetime,
        client: bool = False,
    ) -> IssuedCert:
        """A leaf certificate for ``sans`` (DNS names or IP addresses), server or client auth."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(_san(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCert(certificate=cert, key=key, intermediates=self.chain)

    def write(self, directory: pathlib.Path | str, stem: str = "ca") -> pathlib.Path:
        """Write this CA's certificate as ``<stem>.pem`` (a trust anchor file) and return it.

        Raises:
            OSError: the directory cannot be written.
        """
        folder = pathlib.Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.pem"
        path.write_bytes(_pem(self.certificate))
        return path


def self_signed(
    common_name: str,
    *,
    sans: tuple[str, ...] = (),
    not_before: datetime,
    not_after: datetime,
) -> IssuedCert:
    """A leaf that signs itself: no CA will vouch for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(_san(sans), critical=False)
    return IssuedCert(certificate=builder.sign(key, hashes.SHA256()), key=key)
