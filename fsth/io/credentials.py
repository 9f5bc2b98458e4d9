"""Content Credentials (C2PA): a signed statement, inside every image and video fsth writes,
that says what made it — for a talking head, ``trainedAlgorithmicMedia`` (IPTC's term for
media a trained model generated), the way generators now declare AI-made media.

Metadata notes and pixel marks (:mod:`fsth.provenance`) are unsigned: anyone can write them.
A C2PA manifest is signed with a certificate and binds a hash of the file's content, so a reader
(the ``c2pa`` library, Adobe's and the CAI's verify tools) can tell who signed it and whether the
content changed since. Signing needs a certificate:

* by default a **local test identity** — a certificate authority and a signer fsth makes on first
  use and keeps in its data folder (``$FSTH_C2PA_DIR``, else the user's data folder): a reader on
  this machine trusts it (:func:`read` adds its CA as a trust anchor), nobody else's does, which is
  honest — it proves the file hasn't changed and that this fsth made it, not who ran it;
* **your own** by option: ``fsth --c2pa-cert chain.pem --c2pa-key key.pem COMMAND`` or the
  environment variables ``FSTH_C2PA_CERT`` / ``FSTH_C2PA_KEY`` (a PEM chain, signer first, and its
  private key: EC P-256/P-384, Ed25519 or RSA-PSS). ``FSTH_C2PA_TSA_URL`` adds an RFC 3161
  timestamp (needs the network). ``FSTH_C2PA_TRUST``: more trust anchors (PEM) for :func:`read`.

    from fsth.io.credentials import read
    read("out.mp4").state            # "Trusted", "Valid" (signature good, signer unknown) or "Invalid"
"""
from __future__ import annotations

import datetime
import errno
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SOURCE_TYPES = {
    "synthetic": IPTC + "trainedAlgorithmicMedia",  # a talking head, a generated grid
    "figure": IPTC + "algorithmicMedia",  # a chart drawn from numbers
    "composite": IPTC + "composite",  # real frames with drawings on them (landmarks, contact sheets)
}
SIGNED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".mp4", ".m4v", ".mov", ".webp"}
LOCAL_SIGNER = "fsth local test signer"


class CredentialsError(ValueError):
    """A certificate or key fsth was given can't sign; the message names the file."""


@dataclass(frozen=True)
class Identity:
    """What signs: a PEM chain (signer first), its PEM private key, the C2PA algorithm name, and the
    anchors (PEM) a reader here should trust for it."""

    chain: bytes
    key: bytes
    alg: str
    anchors: bytes = b""
    local: bool = False


@dataclass(frozen=True)
class Credentials:
    """What :func:`read` found in a file. ``state``: "Trusted", "Valid", "Invalid" or None (no manifest)."""

    state: str | None
    source_type: str | None = None
    generator: str | None = None
    signer: str | None = None
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def synthetic(self) -> bool:
        return self.source_type == SOURCE_TYPES["synthetic"]


_chosen: Identity | None = None


def use_certificate(cert: str | os.PathLike, key: str | os.PathLike) -> Identity:
    """Sign everything this process writes from now on with ``cert`` (PEM chain) and ``key``."""
    global _chosen
    _chosen = load_identity(cert, key)
    return _chosen


def use_environment() -> None:
    """Forget :func:`use_certificate`'s choice: sign with the environment's or the local identity."""
    global _chosen
    _chosen = None


def load_identity(cert: str | os.PathLike, key: str | os.PathLike) -> Identity:
    """A user's signing identity, checked now so a bad file fails before any work."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    chain, key_pem = _read_pem(cert, "certificate"), _read_pem(key, "private key")
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError as err:
        raise CredentialsError(f"{cert}: not a PEM certificate chain ({err})") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise CredentialsError(f"{key}: not an unencrypted PEM private key ({err})") from None
    if certs[0].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CredentialsError(f"{key}: this key does not belong to the first certificate of {cert}")
    found = Identity(chain, key_pem, _algorithm(private, key))
    _probe(found, cert)
    return found


def _probe(who: Identity, cert) -> None:
    """Sign a 1-pixel PNG in memory, so a certificate c2pa refuses fails now, not after the work."""
    import io

    import c2pa
    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (1, 1)).save(image, format="PNG")
    image.seek(0)
    try:
        _sign_stream(who, _manifest("figure", "probe.png"), "png", image, io.BytesIO(), tsa=None)
    except c2pa.C2paError as err:
        raise CredentialsError(f"{cert}: c2pa cannot sign with this certificate ({_one_line(err)}); C2PA asks for "
                               "an end-entity certificate with digitalSignature key usage and an EKU such as "
                               "emailProtection or documentSigning") from None


def identity() -> Identity:
    """The identity fsth signs with: :func:`use_certificate`'s, the environment's, or the local one."""
    if _chosen is not None:
        return _chosen
    cert, key = os.environ.get("FSTH_C2PA_CERT"), os.environ.get("FSTH_C2PA_KEY")
    if cert or key:
        if not (cert and key):
            raise CredentialsError("FSTH_C2PA_CERT and FSTH_C2PA_KEY go together: set both or neither")
        return _environment_identity(cert, key)
    return local_identity()


@lru_cache(maxsize=4)
def _environment_identity(cert: str, key: str) -> Identity:
    return load_identity(cert, key)


def local_identity(folder: str | os.PathLike | None = None) -> Identity:
    """The local test identity (made on first use, kept in ``folder``; remade when it expires)."""
    folder = Path(folder or os.environ.get("FSTH_C2PA_DIR") or _data_dir() / "c2pa")
    return _local_identity(str(folder))


@lru_cache(maxsize=4)
def _local_identity(folder: str) -> Identity:
    from cryptography import x509

    path = Path(folder) / "test-identity.pem"
    try:
        pem = path.read_bytes()
        certs = x509.load_pem_x509_certificates(pem.split(b"-----BEGIN PRIVATE KEY-----")[0])
        if certs[0].not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30):
            return _split_local(pem)
    except (OSError, ValueError, IndexError):
        pass  # none yet, torn or expiring: make a new one
    pem = _make_local_pem()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".test-identity.", suffix=".tmp.pem")
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.chmod(tmp, 0o600)
        try:
            if path.exists():
                os.replace(tmp, path)  # an expiring or torn one: replaced
            else:
                os.link(tmp, path)  # first use: two processes at once agree on the one that landed first
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink(missing_ok=True)
        pem = path.read_bytes()
    except OSError:
        pass  # a read-only home: sign with this process's identity, kept in memory
    return _split_local(pem)


def sign(path: str | os.PathLike, kind: str = "synthetic", title: str | None = None,
         format: str | None = None) -> Path:
    """Embed a signed manifest in ``path`` in place (a temp file, then a rename): ``kind`` says
    what the content is (:data:`SOURCE_TYPES`); ``format``: the file's type where its name has
    no extension ("png"). Formats C2PA can't carry (pdf, svg, npz...) are left as they are."""
    import c2pa

    path = Path(path)
    suffix = "." + format.lower() if format else path.suffix.lower()
    if suffix not in SIGNED_SUFFIXES:
        return path
    who = identity()
    fd, signed = tempfile.mkstemp(dir=path.parent, prefix=".c2pa.", suffix=".tmp" + suffix)
    try:
        with open(path, "rb") as source, os.fdopen(fd, "w+b") as dest:
            _sign_stream(who, _manifest(kind, title or path.name), suffix.lstrip("."), source, dest,
                         tsa=os.environ.get("FSTH_C2PA_TSA_URL") or None)
        os.chmod(signed, stat.S_IMODE(os.stat(path).st_mode))  # the signed copy keeps the file's permissions
        os.replace(signed, path)
    except c2pa.C2paError as err:
        Path(signed).unlink(missing_ok=True)
        raise ValueError(f"{title or path}: cannot sign Content Credentials ({_one_line(err)})") from None
    except BaseException:
        Path(signed).unlink(missing_ok=True)
        raise
    return path


def _manifest(kind: str, title: str) -> dict:
    """The manifest fsth signs: one ``c2pa.created`` action saying what made the content and what it is."""
    agent = {"name": "fsth", "version": _version()}
    return {"claim_generator_info": [agent], "title": title,
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": SOURCE_TYPES[kind], "softwareAgent": agent,
                "description": _DESCRIPTIONS[kind]}]}}]}


def _sign_stream(who: Identity, manifest: dict, fmt: str, source, dest, tsa: str | None) -> None:
    import c2pa

    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(who.alg, who.chain, who.key, tsa))
    with c2pa.Builder(manifest, context=_builder_context()) as builder:
        builder.sign(signer, fmt, source, dest)


@lru_cache(maxsize=1)
def _builder_context():
    """No thumbnail in the manifest: c2pa would decode every frame of a GIF to draw one (seconds)."""
    import c2pa

    return c2pa.Context(c2pa.Settings.from_json(json.dumps({"builder": {"thumbnail": {"enabled": False}}})))


def read(path: str | os.PathLike, anchors: bytes | None = None) -> Credentials:
    """Read and validate ``path``'s manifest with c2pa's reader, trusting the local test CA, the
    signing identity's anchors and ``FSTH_C2PA_TRUST``'s (or ``anchors``)."""
    import c2pa

    if anchors is None:
        anchors = local_identity().anchors + identity().anchors
        extra = os.environ.get("FSTH_C2PA_TRUST")
        if extra:
            anchors += _read_pem(extra, "trust anchors")
    settings = c2pa.Settings.from_json(json.dumps({"trust": {"user_anchors": anchors.decode()},
                                                   "verify": {"verify_trust": True}}))
    if not Path(path).is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    try:
        with c2pa.Reader(str(path), context=c2pa.Context(settings)) as reader:
            store = json.loads(reader.json())
            results = reader.get_validation_results() or {}
            state = reader.get_validation_state()
    except c2pa.C2paError as err:
        if "ManifestNotFound" in type(err).__name__ or "JUMBF" in str(err):
            return Credentials(None)
        raise ValueError(f"{path}: cannot read Content Credentials ({_one_line(err)})") from None
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    actions = [a for assertion in active.get("assertions", []) if assertion.get("label", "").startswith("c2pa.actions")
               for a in assertion.get("data", {}).get("actions", [])]
    failures = tuple(f["code"] for f in results.get("activeManifest", {}).get("failure", []))
    generator = next((g.get("name") for g in active.get("claim_generator_info", [])), None)
    return Credentials(state, next((a.get("digitalSourceType") for a in actions), None), generator,
                       (active.get("signature_info") or {}).get("common_name"), failures)


# ---- the local test identity -------------------------------------------------------------------

_DESCRIPTIONS = {"synthetic": "generated by fsth (few-shot talking heads): not a recording of a real event",
                 "figure": "a figure drawn by fsth", "composite": "real frames with fsth's drawings on them"}


def _make_local_pem() -> bytes:
    """A CA and an end-entity signer (ES256, 10 years) as C2PA asks of a signing certificate:
    digitalSignature key usage, an email-protection EKU, not a CA, chained to its CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fsth (local test identity, not trusted elsewhere)")])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    def builder(subject, issuer, public):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))

    ca_name = name("fsth local test CA")
    ca = (builder(ca_name, ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(sign=False), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (builder(name(LOCAL_SIGNER), ca_name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(sign=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (leaf.public_bytes(pem) + ca.public_bytes(pem)
            + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _split_local(pem: bytes) -> Identity:
    chain, key = pem.split(b"-----BEGIN PRIVATE KEY-----")
    certs = chain.split(b"-----END CERTIFICATE-----")
    ca = certs[1].strip() + b"\n-----END CERTIFICATE-----\n"
    return Identity(chain, b"-----BEGIN PRIVATE KEY-----" + key, "es256", anchors=ca, local=True)


def _algorithm(private, where) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if private.curve.name in algs:
            return algs[private.curve.name]
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(private, rsa.RSAPrivateKey):
        return "ps256"
    raise CredentialsError(f"{where}: C2PA signs with EC P-256/P-384/P-521, Ed25519 or RSA keys, "
                           f"not {type(private).__name__}")


def _read_pem(path: str | os.PathLike, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise CredentialsError(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    if b"-----BEGIN" not in data:
        raise CredentialsError(f"{path}: not a PEM file (the {what} must be PEM text)")
    return data


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("fsth", appauthor=False))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fsth")
    except PackageNotFoundError:
        return "0+unknown"
