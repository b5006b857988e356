"""`auditlib evidence BUNDLE`: inventory, findings and requirement coverage of one bundle.

Exit codes: 0 clean, 1 findings, 2 bundle unusable (or an error such as a bad checkpoint file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlib.cli.exitcodes import ExitCode
from auditlib.requirements import Actor, requirement_sort_key

if TYPE_CHECKING:
    from auditlib.evidence import EvidenceBundle


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "evidence",
        help="verify and inventory a provider's evidence bundle (folder or .zip)",
        description=(
            "Verify every SHA-256 of an evidence bundle, list its items and findings, and "
            "(with --checkpoints) which applicable requirements have no evidence."
        ),
        epilog="Exit codes: 0 clean, 1 findings, 2 bundle unusable or error.",
    )
    parser.add_argument(
        "bundle",
        help="bundle folder or .zip holding manifest.yaml (a provider id with --registry)",
    )
    parser.add_argument(
        "--registry",
        type=Path,
        help="provider registry: BUNDLE is then a provider id, whose bundle is loaded",
    )
    parser.add_argument(
        "--checkpoints", type=Path, help="checkpoint workbook (.xlsx): known requirement ids"
    )
    parser.add_argument(
        "--actor",
        choices=[a.value for a in Actor],
        help="only the requirements applicable to this role (with --checkpoints)",
    )
    parser.add_argument("--provider", help="expected provider id (flag a manifest for another)")
    parser.add_argument(
        "--as-of",
        type=_parse_date,
        help="audit date, YYYY-MM-DD (default: today, UTC)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def _parse_date(text: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)


def run(args: argparse.Namespace) -> int:
    from auditlib.evidence.bundle import load_bundle

    roles: list[Actor] = [Actor(args.actor)] if args.actor else []
    bundle_path, provider_id = Path(args.bundle), args.provider
    if args.registry is not None:
        from auditlib.registry import load_registry

        provider = load_registry(args.registry).get(args.bundle)
        bundle_path, provider_id = provider.evidence_bundle, provider_id or provider.id
        roles = roles or list(provider.roles)
    known: list[str] | None = None
    applicable: list[str] | None = None
    if args.checkpoints is not None:
        from auditlib.checkpoints.reader import load_checkpoints  # lazy: openpyxl only when needed

        grid = load_checkpoints(args.checkpoints)
        known = grid.requirement_ids()
        applicable = (
            sorted(
                {r for role in roles for r in grid.requirement_ids(role)}, key=requirement_sort_key
            )
            if roles
            else known
        )
    bundle = load_bundle(
        bundle_path, known_requirements=known, as_of=args.as_of, provider_id=provider_id
    )
    coverage = bundle.coverage(applicable) if applicable is not None else None
    if args.json:
        payload: dict[str, Any] = bundle.to_dict()
        if coverage is not None:
            payload["coverage"] = {
                "roles": [str(r) for r in roles],
                "requirements": coverage,
                "without_evidence": [r for r, paths in coverage.items() if not paths],
            }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        from auditlib.files import printable  # file names come from the audited party

        print(printable(format_bundle(bundle, coverage, roles)))
    if not bundle.usable:
        return ExitCode.ERROR
    return ExitCode.FINDINGS if bundle.findings else ExitCode.OK


def format_bundle(
    bundle: EvidenceBundle,
    coverage: dict[str, list[str]] | None = None,
    roles: list[Actor] | None = None,
) -> str:
    """Human-readable report of a loaded bundle (what `auditlib evidence` prints)."""
    lines = [
        f"Bundle:      {bundle.source} ({bundle.source_type})",
        f"Provider:    {bundle.provider_id or '?'}",
        f"As of:       {bundle.as_of:%Y-%m-%d %H:%M} UTC",
    ]
    fp = bundle.fingerprint
    if fp is not None:
        if fp.source_sha256:
            lines.append(f"Zip SHA-256:      {fp.source_sha256}")
        if fp.manifest_sha256:
            lines.append(f"Manifest SHA-256: {fp.manifest_sha256}")
        if fp.content_sha256:
            lines.append(f"Content SHA-256:  {fp.content_sha256} ({fp.file_count} files)")
    if bundle.items:
        lines += ["", "Inventory:"]
        width = max(len(i.path) for i in bundle.items)
        for item in bundle.items:
            reqs = ", ".join(r.replace("EXI EDC PSC ", "") for r in item.requirements) or "-"
            lines.append(
                f"  {item.status.value:<13} {item.path:<{width}}  "
                f"{(item.kind.value if item.kind else '-'):<24} "
                f"{item.date.isoformat() if item.date else '-':<10}  req {reqs}"
            )
            for cert in item.certificates:
                lines.append(
                    f"      cert {cert.common_name}: {cert.key_type} {cert.key_size}, "
                    f"{cert.not_before:%Y-%m-%d} -> {cert.not_after:%Y-%m-%d}"
                    + (" (CA)" if cert.is_ca else "")
                )
    if bundle.sections:
        lines += ["", "Document de conformité sections:"]
        for s in bundle.sections:
            lines.append(f"  {s.state.value:<8} {s.section} ({s.item})")
    lines += ["", f"Findings ({len(bundle.findings)}):"]
    for f in bundle.findings:
        lines.append(f"  [{f.severity.value}] {f.code.value}: {f.message}")
    if not bundle.findings:
        lines.append("  none")
    if coverage is not None:
        scope = f" for {', '.join(r.value for r in roles)}" if roles else ""
        missing = [r for r, paths in coverage.items() if not paths]
        lines += ["", f"Coverage of {len(coverage)} requirement(s){scope}:"]
        for rid, paths in coverage.items():
            lines.append(f"  {rid:<20} {', '.join(paths) if paths else 'NO EVIDENCE'}")
        lines.append(f"  {len(missing)} without evidence")
    lines += ["", f"Bottom line: {bundle.bottom_line.value}"]
    return "\n".join(lines)
