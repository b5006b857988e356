"""`auditlib sign` and `auditlib verify`: seal report PDFs (PAdES) and check them offline.

Exit codes. sign: 0 every file signed, 2 any file not signed (bad key, passphrase, PDF).
verify: 0 every file has only intact, trusted signatures covering the whole file, made
with a certificate fit for sealing (the seal policy, unless --no-seal-policy);
1 a file is unsigned, altered, untrusted, modified after signing, or its seal does not
conform to the seal policy ("cachet non conforme");
2 a file (or the CA folder) could not be read. The highest code wins.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import AuditlibError


def _quiet_pyhanko() -> None:
    """pyHanko logs expected outcomes (an untrusted signer) as warnings with tracebacks;
    the CLI reports those itself, so keep stderr to our own one-line messages."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sign = sub.add_parser(
        "sign",
        help="sign report PDFs as PAdES with the organisation seal",
        description=(
            "Sign each PDF as PAdES (incremental update) with a visible stamp on the last "
            "page. The passphrase comes from --pass-env VAR or an interactive prompt, "
            "never from the command line."
        ),
        epilog="Exit codes: 0 all signed, 2 any file not signed.",
    )
    sign.add_argument("pdfs", nargs="+", type=Path, metavar="PDF")
    key = sign.add_mutually_exclusive_group(required=True)
    key.add_argument("--p12", type=Path, help="PKCS#12 (.p12/.pfx) with key and certificate")
    key.add_argument("--key", type=Path, help="PEM private key (with --cert)")
    sign.add_argument("--cert", type=Path, help="PEM certificate of --key")
    sign.add_argument(
        "--chain", type=Path, action="append", default=[], help="CA certificates to embed"
    )
    sign.add_argument(
        "--pass-env", metavar="VAR", help="NAME of the environment variable with the passphrase"
    )
    sign.add_argument("--signer", metavar="NAME", help="name shown (default: certificate CN)")
    sign.add_argument("--reason", default="Rapport d'audit EDC PSC")
    sign.add_argument("--location")
    sign.add_argument("--timestamp-url", metavar="URL", help="RFC 3161 server (PAdES B-T)")
    sign.add_argument("--invisible", action="store_true", help="no visible stamp")
    out = sign.add_mutually_exclusive_group()
    out.add_argument("--output-dir", type=Path, metavar="DIR", help="write signed PDFs here")
    out.add_argument(
        "--suffix", default=".signed", help="name suffix beside the input (default .signed)"
    )
    sign.add_argument("--json", action="store_true", help="machine-readable output")
    sign.set_defaults(handler=run_sign)

    verify = sub.add_parser(
        "verify",
        help="verify signed PDFs offline (intact, trusted, modified after signing)",
        description=(
            "Check every signature of each PDF against the CA certificates in --ca-dir, and "
            "its signer against the seal policy (Key Usage, Extended Key Usage, certificate "
            "policy, optional pinned subject or fingerprint). Offline: no CRL/OCSP "
            "fetching, so revocation is not checked."
        ),
        epilog=(
            "Exit codes: 0 all good, 1 unsigned/altered/untrusted/modified/cachet non "
            "conforme, 2 unreadable input."
        ),
    )
    verify.add_argument("pdfs", nargs="+", type=Path, metavar="PDF")
    verify.add_argument("--ca-dir", type=Path, metavar="DIR", help="folder of trusted CA files")
    policy = verify.add_mutually_exclusive_group()
    policy.add_argument(
        "--seal-policy",
        default="seal-policy",
        metavar="NAME|FILE",
        help="seal policy profile name or YAML file (default: the shipped seal-policy)",
    )
    policy.add_argument(
        "--no-seal-policy",
        action="store_true",
        help="judge integrity and trust only (a third-party document, not an audit report)",
    )
    verify.add_argument("--seal-subject", metavar="DN", help="expected seal subject (RFC 4514)")
    verify.add_argument(
        "--seal-fingerprint", metavar="SHA256", help="expected seal certificate SHA-256"
    )
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(handler=run_verify)


def _output_for(pdf: Path, args: argparse.Namespace) -> Path:
    if args.output_dir is not None:
        return Path(args.output_dir) / pdf.name
    return pdf.with_name(f"{pdf.stem}{args.suffix}{pdf.suffix or '.pdf'}")


def _check_outputs(args: argparse.Namespace) -> None:
    """`--suffix` is a name suffix (no folder separator), `--output-dir` a folder or absent,
    and every output path a regular file or absent; before any passphrase prompt."""
    from auditlib.errors import OutputPathError
    from auditlib.files import check_output_dir, check_output_file

    suffix = str(args.suffix)
    if args.output_dir is None and (
        not suffix or "/" in suffix or "\\" in suffix or "\x00" in suffix or suffix in (".", "..")
    ):
        raise OutputPathError(
            f"--suffix {suffix!r}: a name suffix such as .signed, without a folder separator"
        )
    if args.output_dir is not None:
        check_output_dir(args.output_dir)
    for pdf in args.pdfs:
        check_output_file(_output_for(pdf, args))


def run_sign(args: argparse.Namespace) -> int:
    from auditlib.errors import KeyMaterialError
    from auditlib.sign import SealPolicy, SignerSpec, SigningSettings, load_signer, sign_pdf

    _quiet_pyhanko()

    if args.key is not None and args.cert is None:
        raise KeyMaterialError("--key needs --cert")
    if args.cert is not None and args.key is None:
        raise KeyMaterialError("--cert goes with --key (a PKCS#12 holds its own certificate)")
    spec = SignerSpec(
        p12_path=args.p12,
        key_path=args.key,
        cert_path=args.cert,
        chain_paths=tuple(args.chain),
        pass_env=args.pass_env,
    )
    settings = SigningSettings(
        signer=spec,
        signer_name=args.signer,
        reason=args.reason,
        location=args.location,
        timestamp_url=args.timestamp_url,
        visible=not args.invisible,
    )
    _check_outputs(args)
    signer = load_signer(spec)  # once: one prompt for all files
    unfit = SealPolicy.load().check(signer.certificate)
    if unfit:  # signing goes on (a test key, a third-party use); verify will say it
        print(
            f"warning: {signer.common_name!r} is not fit to seal an audit report under the "
            f"shipped seal policy (auditlib verify will say 'cachet non conforme'): "
            + "; ".join(unfit),
            file=sys.stderr,
        )
    outputs: dict[Path, Path] = {}
    records: list[dict[str, Any]] = []
    code: ExitCode = ExitCode.OK
    for pdf in args.pdfs:
        target = _output_for(pdf, args)
        problem = None
        if target.resolve() == pdf.resolve():
            problem = f"output {target} would overwrite the unsigned input"
        elif target.resolve() in outputs:
            problem = f"output {target} already written for {outputs[target.resolve()]}"
        if problem:
            code = ExitCode.ERROR
            records.append({"input": str(pdf), "error": problem})
            _say(args, f"{pdf}: error: {problem}", err=True)
            continue
        outputs[target.resolve()] = pdf
        try:
            result = sign_pdf(pdf, target, settings, signer=signer)
        except AuditlibError as exc:
            from auditlib.files import redact  # a timestamp URL may carry user:password@

            code = ExitCode.ERROR
            records.append({"input": str(pdf), "error": redact(str(exc))})
            _say(args, f"{pdf}: error: {redact(str(exc))}", err=True)
            continue
        records.append(
            {
                "input": str(pdf),
                "output": str(result.output_path),
                "input_sha256": result.input_sha256,
                "output_sha256": result.output_sha256,
                "field": result.field_name,
                "signer": result.signer_name,
                "signing_time": result.signing_time.isoformat(),
                "level": str(result.level),
                "stamp": None
                if result.stamp is None
                else {
                    "page": result.stamp.page_index + 1,
                    "box": list(result.stamp.box),
                    "corner": result.stamp.corner,
                    "overlaps_text": result.stamp.overlaps_text,
                },
            }
        )
        where = (
            ""
            if result.stamp is None
            else f", stamp on page {result.stamp.page_index + 1} {result.stamp.corner}"
        )
        _say(args, f"{pdf} -> {result.output_path} ({result.level}{where})")
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return code


def _say(args: argparse.Namespace, text: str, err: bool = False) -> None:
    if not args.json:
        print(text, file=sys.stderr if err else sys.stdout)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def run_verify(args: argparse.Namespace) -> int:
    from auditlib.sign import SealPolicy, VerifyResult, load_trust_roots, verify_pdf
    from auditlib.sign.policy import SealPolicyError

    _quiet_pyhanko()

    if args.ca_dir is not None:
        load_trust_roots(args.ca_dir)  # an unusable CA folder is one error, not N
    policy: SealPolicy | None = None
    if args.no_seal_policy:
        if args.seal_subject or args.seal_fingerprint:
            raise SealPolicyError("--seal-subject/--seal-fingerprint need a seal policy")
    else:
        policy = SealPolicy.load(args.seal_policy).pinned(
            subject=args.seal_subject, fingerprint=args.seal_fingerprint
        )
    code: ExitCode = ExitCode.OK
    records: list[dict[str, Any]] = []
    for pdf in args.pdfs:
        try:
            result: VerifyResult = verify_pdf(pdf, args.ca_dir, policy=policy)
        except AuditlibError as exc:
            code = ExitCode.ERROR
            records.append({"path": str(pdf), "error": str(exc), "bottom_line": False})
            _say(args, f"{pdf}: ERROR: {exc}")
            continue
        if not result.bottom_line:
            code = max(code, ExitCode.FINDINGS)
        records.append(_verify_record(result))
        if not args.json:
            _print_verify(result)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return code


def _verify_record(result: Any) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "sha256": result.sha256,
        "bottom_line": result.bottom_line,
        "signed": result.signed,
        "intact": result.intact,
        "trusted": result.trusted,
        "modified_after_signing": result.modified_after_signing,
        "seal_policy": result.seal_policy,
        "seal_conforming": result.seal_conforming,
        "revocation_checked": result.revocation_checked,
        "trust_source": result.trust_source,
        "problems": list(result.problems),
        "notes": list(result.notes),
        "signatures": [
            {
                "field": s.field_name,
                "signer": s.signer_name,
                "signer_subject": s.signer_subject,
                "signing_time": s.signing_time.isoformat() if s.signing_time else None,
                "timestamp_time": s.timestamp_time.isoformat() if s.timestamp_time else None,
                "level": str(s.level) if s.level else None,
                "intact": s.intact,
                "valid": s.valid,
                "trusted": s.trusted,
                "trust_problem": s.trust_problem,
                "coverage": s.coverage,
                "modification_level": s.modification_level,
                "modified_after_signing": s.modified_after_signing,
                "changes_after": list(s.changes_after),
                "seal_problems": list(s.seal_problems),
                "bottom_line": s.bottom_line,
                "error": s.error,
            }
            for s in result.signatures
        ],
    }


def _print_verify(result: Any) -> None:
    verdict = "OK" if result.bottom_line else "FAILED"
    print(
        f"{result.path}: {verdict} (intact: {_yes(result.intact)}, "
        f"trusted: {_yes(result.trusted)}, modified after signing: "
        f"{'YES' if result.modified_after_signing else 'no'})"
    )
    if result.seal_conforming is not None:
        seal = "cachet conforme" if result.seal_conforming else "cachet non conforme"
        print(f"  {seal} (seal policy: {result.seal_policy})")
    for sig in result.signatures:
        when = sig.signing_time.strftime("%Y-%m-%d %H:%M:%SZ") if sig.signing_time else "?"
        print(
            f"  signature {sig.field_name} by {sig.signer_name or '?'} at {when}, "
            f"{sig.level or '?'}, coverage {sig.coverage}"
        )
    for problem in result.problems:
        print(f"  problem: {problem}")
    if result.seal_policy is None:
        print("  seal policy: none (integrity and trust only)")
    print(f"  trust anchors: {result.trust_source}; {'; '.join(result.notes)}")
