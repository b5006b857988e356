"""The demo's organisation seal (ORG SIGN), issued into the output folder.

The seal is a PKCS#12 file encrypted with the demo-only passphrase held in
`AUDITLIB_DEMO_SEAL_PASS` (the demo sets the variable for its own process when it is
unset): no PEM private key, and no passphrase, is ever written to the output folder.
A rerun reuses the seal when it still opens and is valid, so reports signed by an
earlier run and the new ones name the same signer.

In a checkout the demo CA (`data/pki/ca` with its keys in `data/pki/ca-private`) issues
the seal. An installed wheel leaves the CA keys out, so the demo generates a seal CA of
its own into the output folder (`pki/seal-ca/`, its keys never written) and verifies the
reports against the demo CA plus that one (`pki/trust/`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from auditlib.classify import ANCHORS_FILE
from auditlib.demo.data import CA_DIR, DEMO_SEAL_PASS_ENV, has_demo_ca_keys, load_demo_pki
from auditlib.errors import AuditlibError, SignError
from auditlib.files import write_atomic
from auditlib.sign import SignerSpec, load_signer
from auditlib.testing.pki import TestPki

SEAL_FILE = "org-sign.p12"
SEAL_CN = "CABINET AUDIT DEMO ORG SIGN"
SEAL_ORGANISATION = "CABINET AUDIT DEMO"
SEAL_CA_DIR = "seal-ca"
TRUST_DIR = "trust"
SEAL_ROOT_CN = "DEMO AC RACINE CACHET (fictive, generee localement)"
SEAL_ISSUING_CN = "DEMO AC CACHET ORGANISATIONS (fictive, generee localement)"


@dataclass(frozen=True)
class DemoSeal:
    path: Path
    """The PKCS#12 seal."""
    created: bool
    """Issued by this run (False: an earlier run's seal, still valid, reused)."""
    trust_dir: Path
    """The CA folder that verifies the demo's reports and endpoints."""


def seal_spec(path: Path) -> SignerSpec:
    """How `auditlib.sign` opens the demo seal (passphrase by variable name, no prompt)."""
    return SignerSpec(p12_path=path, pass_env=DEMO_SEAL_PASS_ENV, prompt=False)


def ensure_seal(data_dir: Path, folder: Path) -> DemoSeal:
    """The seal in `folder` (created if missing or unusable), and where to verify it."""
    path = folder / SEAL_FILE
    local_ca = not has_demo_ca_keys(data_dir)
    trust_dir = folder / TRUST_DIR if local_ca else data_dir / CA_DIR
    if path.is_file() and (not local_ca or trust_dir.is_dir()):
        try:
            load_signer(seal_spec(path))
            return DemoSeal(path, False, trust_dir)
        except AuditlibError:
            pass  # expired, other passphrase, damaged: issue a new one
    passphrase = os.environ.get(DEMO_SEAL_PASS_ENV)
    if not passphrase:
        raise SignError(f"environment variable {DEMO_SEAL_PASS_ENV} (seal passphrase) is not set")
    now = dt.datetime.now(dt.UTC)
    if local_ca:
        pki = TestPki.create(now=now, root_cn=SEAL_ROOT_CN, issuing_cn=SEAL_ISSUING_CN)
        anchors = {
            "demo-seal-root.pem": pki.root.cert_pem(),
            "demo-seal-issuing.pem": pki.issuing.cert_pem(),
        }
        shutil.rmtree(trust_dir, ignore_errors=True)
        for name, pem in anchors.items():
            write_atomic(folder / SEAL_CA_DIR / name, pem)
            write_atomic(trust_dir / name, pem)
        for anchor in sorted((data_dir / CA_DIR).glob("*.pem")):
            write_atomic(trust_dir / anchor.name, anchor.read_bytes())
        declared = data_dir / CA_DIR / ANCHORS_FILE  # which demo roots are production/test
        if declared.is_file():
            write_atomic(trust_dir / declared.name, declared.read_bytes())
    else:
        pki = load_demo_pki(data_dir)
    seal = pki.issue(
        SEAL_CN,
        "sign",
        not_before=now - dt.timedelta(days=1),
        days=3 * 365,
        organisation=SEAL_ORGANISATION,
    )
    data = seal.pkcs12(passphrase.encode("utf-8"), chain=[pki.issuing.certificate])
    write_atomic(path, data).chmod(0o600)
    return DemoSeal(path, True, trust_dir)
