"""PAdES seals on audit reports: load the seal's keys, place the stamp, sign, verify.

Layered like pyHanko: `async_sign_pdf` / `async_verify_pdf` do the work (notebooks must
call these: pyHanko's synchronous helpers call `asyncio.run()`, which fails inside
Jupyter's running loop); `sign_pdf` / `verify_pdf` are synchronous wrappers.
"""

from auditlib.sign.keys import LoadedSigner, load_signer
from auditlib.sign.model import (
    PadesLevel,
    SignatureCheck,
    SignerSpec,
    SigningSettings,
    SignResult,
    StampPlacement,
    VerifyResult,
)
from auditlib.sign.policy import DEFAULT_SEAL_POLICY, SealPolicy, SealPolicyError
from auditlib.sign.signer import async_sign_pdf, sign_pdf
from auditlib.sign.verify import async_verify_pdf, load_trust_roots, verify_pdf

__all__ = [
    "DEFAULT_SEAL_POLICY",
    "LoadedSigner",
    "PadesLevel",
    "SealPolicy",
    "SealPolicyError",
    "SignResult",
    "SignatureCheck",
    "SignerSpec",
    "SigningSettings",
    "StampPlacement",
    "VerifyResult",
    "async_sign_pdf",
    "async_verify_pdf",
    "load_signer",
    "load_trust_roots",
    "sign_pdf",
    "verify_pdf",
]
