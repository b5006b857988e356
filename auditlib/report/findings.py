"""The machine-readable audit record (`findings.json`) and its JSON Schema.

The record is built from an `AuditRun` only (no secret ever enters a run). Its shape is
described by `auditlib/schemas/findings.schema.json` (JSON Schema draft 2020-12, the
subset listed in `validate`); `FINDINGS_SCHEMA_VERSION` changes whenever the shape does
(minor: fields added; major: fields renamed or removed).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlib.audit.assess import DEADLINE_BASIS
from auditlib.audit.plan import actions_for, corrective_actions
from auditlib.errors import AuditlibError
from auditlib.report.changes import PreviousFindings, changes_since
from auditlib.resources import schema_path

if TYPE_CHECKING:
    from auditlib.audit.assess import ControlAssessment, UnplacedResult
    from auditlib.audit.plan import CorrectiveAction
    from auditlib.audit.run import AuditRun
    from auditlib.certs import CertificateInfo
    from auditlib.tls.evaluate import EndpointEvaluation, RuleResult

FINDINGS_SCHEMA_VERSION = "1.1"
FINDINGS_FORMAT = "auditlib.findings"
SCHEMA_PATH = schema_path("findings.schema.json")


class FindingsSchemaError(AuditlibError):
    """A findings record does not match its schema; the message lists each JSON path at fault."""


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _rule(result: RuleResult) -> dict[str, Any]:
    return {
        "rule": result.rule_id,
        "title": result.title,
        "status": str(result.status),
        "reason": result.reason,
        "requirement": result.requirement,
        "severity": result.severity,
        "level": result.level,
        "deviation": result.deviation,
        "counts": result.counts,
    }


def _certificate(cert: CertificateInfo) -> dict[str, Any]:
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "key": f"{cert.key_type} {cert.key_size}",
        "signature_hash": cert.signature_hash,
        "sha256_fingerprint": cert.sha256_fingerprint,
        "public_key_sha256": cert.public_key_sha256,
    }


def _endpoint(evaluation: EndpointEvaluation, run: AuditRun) -> dict[str, Any]:
    observation = next(
        (o for o in run.observations if (o.host, o.port) == (evaluation.host, evaluation.port)),
        None,
    )
    return {
        "label": evaluation.label,
        "host": evaluation.host,
        "port": evaluation.port,
        "scan_status": str(evaluation.scan_status),
        "scan_error": evaluation.scan_error,
        "scanned_at": _iso(observation.scanned_at) if observation else None,
        "profile": evaluation.profile_id,
        "level": evaluation.level,
        "bottom_line": str(evaluation.bottom_line),
        "days_until_expiry": evaluation.days_until_expiry,
        "certificate_not_after": _iso(evaluation.certificate_not_after),
        "versions": list(observation.accepted_versions) if observation else [],
        "groups": list(observation.groups or ()) if observation else [],
        "chain": [_certificate(c) for c in observation.chain] if observation else [],
        "suites": [
            {
                "version": s.version,
                "name": s.name,
                "status": str(s.status),
                "breaks": list(s.breaks),
                "tolerated_by": list(s.tolerated_by),
            }
            for s in evaluation.suites
        ],
        "rules": [_rule(r) for r in evaluation.results if r.rule_id != "HSTS"],
        "hsts": _rule(evaluation.hsts) if evaluation.hsts else None,
        "requirements": [
            {
                "requirement": r.requirement,
                "bottom_line": str(r.bottom_line),
                "failed": list(r.failed),
                "degraded": list(r.degraded),
                "incomplete": list(r.incomplete),
            }
            for r in evaluation.requirements
        ],
    }


def _control(c: ControlAssessment) -> dict[str, Any]:
    control = c.control
    verdict = c.verdict
    return {
        "ref": c.ref,
        "requirement": control.requirement_id,
        "phase": control.phase.value,
        "index": control.index,
        "text": control.text,
        "level": control.level.code if control.level else None,
        "expected_format": control.expected_format,
        "cell": control.cell,
        "row": control.row,
        "status": c.status.value,
        "automated_status": c.automated_status.value,
        "override": c.overridden,
        "severity": c.severity,
        "reason": c.reason,
        "verdict": {
            "status": verdict.status.value,
            "comment": verdict.comment,
            "auditor": verdict.auditor,
            "date": _iso(verdict.date),
            "severity": verdict.severity,
            "source": verdict.source,
        }
        if verdict
        else None,
        "checks": [
            {
                "check": k.check,
                "name": k.name,
                "outcome": k.outcome.value,
                "message": k.message,
                "severity": k.severity,
                "source": k.source,
            }
            for k in c.checks
        ],
        "evidence": [
            {"path": e.path, "kind": e.kind, "sha256": e.sha256, "status": e.status}
            for e in c.evidence
        ],
    }


def _unplaced(u: UnplacedResult) -> dict[str, Any]:
    k = u.check
    return {
        "check": k.check,
        "name": k.name,
        "outcome": k.outcome.value,
        "message": k.message,
        "severity": k.severity,
        "source": k.source,
        "requirements": list(k.requirements),
        "phases": [ph.value for ph in k.phases],
        "disposition": u.disposition,
        "reason": u.reason,
    }


def _action(x: CorrectiveAction) -> dict[str, Any]:
    return {
        "action": x.action,
        "due": _iso(x.due),
        "owner": x.owner,
        "targets": list(x.targets),
        "plan": x.plan,
    }


def findings_record(
    run: AuditRun,
    generated_at: dt.datetime | None = None,
    previous: PreviousFindings | None = None,
) -> dict[str, Any]:
    """Everything the audit concluded, JSON-ready, in the documented shape; with
    `previous` (the provider's previous record), what changed since
    (`changes_since_previous`, `auditlib.report.changes`), else null there."""
    record = _record(run, generated_at)
    record["changes_since_previous"] = changes_since(record, previous) if previous else None
    return record


def changes_for(run: AuditRun, previous: PreviousFindings | None) -> dict[str, Any] | None:
    """What `findings_record(run, previous=previous)` will hold as `changes_since_previous`."""
    return changes_since(_record(run, None), previous) if previous else None


def _record(run: AuditRun, generated_at: dt.datetime | None) -> dict[str, Any]:
    a = run.assessment
    p = run.provider
    bundle = run.bundle
    outcome = a.outcome
    settings = run.assessment_settings
    plan = corrective_actions(bundle)
    return {
        "schema_version": FINDINGS_SCHEMA_VERSION,
        "format": FINDINGS_FORMAT,
        "generated_at": (generated_at or dt.datetime.now(dt.UTC)).isoformat(),
        "audit": {
            "id": run.spec.audit_id,
            "provider_id": run.spec.provider_id,
            "trigger": run.spec.trigger.value,
            "trigger_label": run.spec.trigger.label,
            "date": run.spec.date.isoformat(),
            "auditor": run.spec.auditor,
            "reference": run.spec.reference,
            "language": run.settings.language,
        },
        "provider": {
            "id": p.id,
            "name": p.name,
            "habilitation": p.habilitation,
            "roles": [r.value for r in p.roles],
            "relies_on": list(p.relies_on),
            "endpoints": [
                {"label": e.label, "host": e.host, "port": e.port, "sni": e.sni, "mtls": e.mtls}
                for e in p.endpoints
            ],
            "client_certificate_subject": p.client_certificate_subject,
        },
        "bottom_line": a.bottom_line.value,
        "counts": a.counts(),
        "by_requirement": {k: v.value for k, v in a.by_requirement().items()},
        "by_phase": a.by_phase(),
        "by_level": a.by_level(),
        "applicability": [
            {
                "requirement": r.requirement_id,
                "chapter": r.chapter,
                "applies": r.applies,
                "reason": r.reason,
                "roles": [x.value for x in r.roles],
            }
            for r in a.applicability
        ],
        "controls": [_control(c) for c in a.controls],
        "outcome": {
            "value": outcome.value.value,
            "recommendation": outcome.recommendation.value,
            "reservations": list(outcome.reservations),
            "grounds": outcome.grounds,
            "basis": outcome.basis,
            "phases": [ph.value for ph in a.phases],
        },
        "remediation": {
            "basis": DEADLINE_BASIS,
            "days": dict(settings.remediation_days) if settings else None,
        },
        "nonconformities": [
            {
                "control": n.control_ref,
                "requirement": n.requirement_id,
                "status": n.status.value,
                "severity": n.severity,
                "deadline": n.deadline.isoformat() if n.deadline else None,
                "deadline_basis": n.deadline_basis,
                "reasons": list(n.reasons),
                "corrective_actions": [
                    _action(x) for x in actions_for(plan, n.control_ref, n.requirement_id)
                ],
            }
            for n in a.nonconformities
        ],
        "corrective_plan": [_action(x) for x in plan],
        "unmapped_findings": [_unplaced(u) for u in a.unmapped_findings],
        "set_aside_findings": [_unplaced(u) for u in a.unplaced if not u.unmapped],
        "conflicts": [
            {
                "control": c.control_ref,
                "verdict": c.verdict.value,
                "automated": c.automated.value,
                "failing_checks": list(c.failing_checks),
            }
            for c in a.conflicts
        ],
        "unmatched_verdicts": unmatched_verdicts(run),
        "tls": [_endpoint(e, run) for e in run.evaluations],
        "evidence": _evidence(run),
        "supervision": [t.to_dict() for t in run.traces],
        "problems": list(run.problems),
        "inputs": {
            "hashes": dict(run.input_hashes),
            "checkpoints": {
                "path": str(run.grid.source) if run.grid.source else None,
                "sheet": run.grid.sheet,
                "profile": run.grid.profile,
            },
        },
        "tool": {
            "name": "auditlib",
            "version": run.tool_version,
            "tls_profile": run.tls_profile_id,
        },
        "started_at": run.started_at.isoformat(),
        "bundle_status": str(bundle.bottom_line) if bundle else None,
    }


def _evidence(run: AuditRun) -> dict[str, Any] | None:
    bundle = run.bundle
    if bundle is None:
        return None
    record = bundle.to_dict()
    # keep the shape small and explicit: sections stay, per-certificate details stay
    return {
        "source": record["source"],
        "source_type": record["source_type"],
        "usable": record["usable"],
        "bottom_line": record["bottom_line"],
        "fingerprint": record["fingerprint"],
        "items": [
            {k: item[k] for k in ("path", "kind", "requirements", "date", "size", "sha256")}
            | {"status": item["status"], "certificates": item["certificates"]}
            for item in record["items"]
        ],
        "findings": record["findings"],
        "sections": record["sections"],
    }


def to_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2, default=_default) + "\n"


def _default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


# ------------------------------------------------------------------ schema and validation


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FindingsSchemaError(f"findings schema {path} cannot be read: {exc}") from exc
    return schema


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def validate(instance: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Problems of `instance` against `schema` (default: the findings schema), as
    `$.path: message` lines; empty when valid.

    A small validator for the JSON Schema subset the findings schema uses: `type` (one or
    a list), `properties`, `required`, `additionalProperties` (bool or schema), `items`,
    `enum`, `const`, `pattern`, `minimum`, `minLength`, `$ref` to `#/$defs/...`. It is not
    a general JSON Schema implementation (no `oneOf`, `format`, ...; the schema avoids them)
    so the workbench does not need the `jsonschema` package.
    """
    root = schema if schema is not None else load_schema()
    problems: list[str] = []
    _check(instance, root, root, "$", problems)
    return problems


def check_record(record: dict[str, Any]) -> None:
    problems = validate(record)
    if problems:
        raise FindingsSchemaError(
            f"findings record does not match its schema ({len(problems)} problem(s))\n"
            + "\n".join(f"  - {p}" for p in problems[:20])
        )


def _check(
    value: Any, schema: dict[str, Any], root: dict[str, Any], at: str, out: list[str]
) -> None:
    if "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith("#/$defs/"):
            out.append(f"{at}: unsupported $ref {ref}")
            return
        schema = root["$defs"][ref.removeprefix("#/$defs/")]
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        ok = any(
            isinstance(value, _TYPES[n])
            and not (n in ("integer", "number") and isinstance(value, bool))
            for n in names
        )
        if not ok:
            out.append(f"{at}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if len(value) < int(schema.get("minLength", 0)):
            out.append(f"{at}: shorter than {schema['minLength']}")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        out.append(f"{at}: {value} is below {schema['minimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{at}: missing required key {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], root, f"{at}.{key}", out)
            elif extra is False:
                out.append(f"{at}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{at}.{key}", out)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _check(item, schema["items"], root, f"{at}[{index}]", out)


def unmatched_verdicts(run: Any) -> list[str]:
    """Every auditor verdict that judged no assessed control, with the reason: the
    assessment's own list (no such control), then verdicts on controls that do not apply
    to the provider's roles (kept, never dropped silently: the auditor wrote them)."""
    a = run.assessment
    found = list(a.unmatched_verdicts)
    assessed = {c.control.ref for c in a.controls}
    listed = {text.rsplit(": ", 1)[-1] for text in found}
    reasons = {r.requirement_id: r.reason for r in a.applicability if not r.applies}
    requirement_of = {c.ref: c.requirement_id for c in run.grid.controls}
    for verdict in getattr(run, "verdicts", None) or ():
        ref = verdict.control_ref
        if ref in assessed or ref in listed:
            continue
        requirement = requirement_of.get(ref)
        why = reasons.get(requirement or "", "not applicable to the provider's roles")
        found.append(
            f"{verdict.source or 'verdicts'}: {ref} ({verdict.status.value}): "
            f"control not applicable: {why}"
        )
    return found
