"""The demo's organisation seal (ORG SIGN), issued by the demo CA into the output folder.

The seal is a PKCS#12 file encrypted with the demo-only passphrase held in
`AUDITLIB_DEMO_SEAL_PASS` (the demo sets the variable for its own process when it is
unset): no PEM private key, and no passphrase, is ever written to the output folder.
A rerun reuses the seal when it still opens and is valid, so reports signed by an
earlier run and the new ones name the same signer.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from auditlib.demo.data import DEMO_SEAL_PASS_ENV, load_demo_pki
from auditlib.errors import AuditlibError, SignError
from auditlib.files import write_atomic
from auditlib.sign import SignerSpec, load_signer

SEAL_FILE = "org-sign.p12"
SEAL_CN = "CABINET AUDIT DEMO ORG SIGN"
SEAL_ORGANISATION = "CABINET AUDIT DEMO"


def seal_spec(path: Path) -> SignerSpec:
    """How `auditlib.sign` opens the demo seal (passphrase by variable name, no prompt)."""
    return SignerSpec(p12_path=path, pass_env=DEMO_SEAL_PASS_ENV, prompt=False)


def ensure_seal(data_dir: Path, folder: Path) -> tuple[Path, bool]:
    """The seal in `folder` (created if missing or unusable); returns (path, created)."""
    path = folder / SEAL_FILE
    if path.is_file():
        try:
            load_signer(seal_spec(path))
            return path, False
        except AuditlibError:
            pass  # expired, other passphrase, damaged: issue a new one
    passphrase = os.environ.get(DEMO_SEAL_PASS_ENV)
    if not passphrase:
        raise SignError(f"environment variable {DEMO_SEAL_PASS_ENV} (seal passphrase) is not set")
    pki = load_demo_pki(data_dir)
    now = dt.datetime.now(dt.UTC)
    seal = pki.issue(
        SEAL_CN,
        "sign",
        not_before=now - dt.timedelta(days=1),
        days=3 * 365,
        organisation=SEAL_ORGANISATION,
    )
    data = seal.pkcs12(passphrase.encode("utf-8"), chain=[pki.issuing.certificate])
    write_atomic(path, data).chmod(0o600)
    return path, True
