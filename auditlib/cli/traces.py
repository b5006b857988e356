"""`auditlib traces FILE_OR_URL`: check a Proxy e-Santé trace export (file or live mTLS fetch).

Exit codes: 0 no finding, 1 findings, 2 unusable export or error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlib.cli.exitcodes import ExitCode

if TYPE_CHECKING:
    from auditlib.traces.analysis import TraceAnalysis, TraceSettings
    from auditlib.traces.model import SupervisionProfile

# Kept free of pandas imports: `auditlib --help` builds every subcommand's parser.
SEVERITIES = ("info", "low", "medium", "high", "critical")
DEFAULT_TIMEOUT = 30.0
EXIT_BY_VERDICT = {
    "clean": ExitCode.OK,
    "findings": ExitCode.FINDINGS,
    "unusable": ExitCode.ERROR,
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "traces",
        help="check a Proxy e-Santé trace export (file or live fetch over mTLS)",
        description=(
            "Validate a Proxy e-Santé trace export (the JSON list GET /traces returns) and run "
            "the supervision checks of the profile. A https:// source is fetched live over "
            "mutual TLS for --start/--end and the raw response kept as evidence."
        ),
        epilog="Exit codes: 0 no finding, 1 findings, 2 unusable export or error.",
    )
    parser.add_argument("source", metavar="FILE_OR_URL", help="trace export file or https:// URL")
    parser.add_argument("--provider", help="provider id (carried into supervision events)")
    parser.add_argument(
        "--registry",
        metavar="FILE",
        help="provider registry: with --provider, supplies the registered client certificate "
        "subjects (per clientId from the provider's `clients`, else --expected-dn) and, for "
        "a live fetch, the client certificate, key and passphrase variable of the "
        "provider's mTLS endpoint",
    )
    parser.add_argument(
        "--expected-dn",
        metavar="DN",
        help="registered client certificate subject for every clientId (RFC 4514 or "
        "/C=FR/O=.../CN=... form); the registry's per-client subjects win",
    )
    parser.add_argument("--start", metavar="ISO", help="window start, with offset (e.g. ...+01:00)")
    parser.add_argument("--end", metavar="ISO", help="window end, with offset")
    fetch = parser.add_argument_group("live fetch (https:// source)")
    fetch.add_argument("--client-cert", metavar="FILE", help="client certificate (PEM)")
    fetch.add_argument("--client-key", metavar="FILE", help="client private key (PEM)")
    fetch.add_argument(
        "--key-pass-env", metavar="VAR", help="environment variable holding the key passphrase"
    )
    fetch.add_argument("--ca-dir", metavar="DIR", help="trust anchors for the server (PEM files)")
    fetch.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="overall deadline of the fetch in seconds (default: %(default)s)",
    )
    fetch.add_argument(
        "--evidence-dir",
        metavar="DIR",
        default="traces-evidence",
        help="where the raw response and its fetch record are kept (default: %(default)s)",
    )
    parser.add_argument("--profile", metavar="YAML", help="supervision profile (default: packaged)")
    parser.add_argument(
        "--events",
        metavar="FILE",
        help="write supervision events (provider,date,event,severity) to FILE (.csv or .yaml)",
    )
    parser.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        help="lowest severity written as an event (default: the profile's)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from auditlib.errors import TraceError
    from auditlib.traces import (
        TraceSettings,
        analyse_traces,
        fetch_traces,
        load_traces,
        parse_iso_datetime,
        write_events_csv,
        write_events_yaml,
    )
    from auditlib.traces.model import load_supervision_profile

    profile = load_supervision_profile(args.profile)
    start = parse_iso_datetime(args.start, "--start") if args.start else None
    end = parse_iso_datetime(args.end, "--end") if args.end else None
    if args.events and not args.provider:
        raise TraceError("--events needs --provider (events name the provider)")
    settings = TraceSettings(
        profile=profile, expected_client_subject=args.expected_dn, provider=args.provider
    )
    if args.registry:
        settings = _fill_from_registry(args, profile)
    source: str = args.source
    if source.lower().startswith(("https://", "http://")):
        if start is None or end is None:
            raise TraceError("a live fetch needs --start and --end")
        if not args.client_cert or not args.client_key:
            raise TraceError("a live fetch needs --client-cert and --client-key (mutual TLS)")
        export = fetch_traces(
            source,
            start,
            end,
            args.client_cert,
            args.client_key,
            key_passphrase_env=args.key_pass_env,
            ca_dir=args.ca_dir,
            timeout=args.timeout,
            evidence_dir=args.evidence_dir,
            profile=profile,
        )
    else:
        export = load_traces(source, profile, start=start, end=end)
    analysis = analyse_traces(export, settings)
    if args.events:
        events = analysis.supervision_events(args.min_severity)
        target = Path(args.events)
        if target.suffix.lower() in {".yaml", ".yml"}:
            write_events_yaml(events, target)
        else:
            write_events_csv(events, target)
    if args.json:
        print(json.dumps(analysis.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(render_text(analysis, events_file=args.events))
    return EXIT_BY_VERDICT[analysis.bottom_line.value]


def _fill_from_registry(args: argparse.Namespace, profile: SupervisionProfile) -> TraceSettings:
    """Take what the command line leaves out from the provider's registry entry."""
    from auditlib.errors import TraceError
    from auditlib.registry import load_registry
    from auditlib.traces.clients import settings_for_provider

    if not args.provider:
        raise TraceError("--registry needs --provider (which provider's entry to use)")
    provider = load_registry(args.registry).get(args.provider)
    mtls = next((e for e in provider.endpoints if e.mtls and e.client_cert), None)
    if mtls is not None and not args.client_cert:
        args.client_cert = str(mtls.client_cert)
        args.client_key = str(mtls.client_key)
        args.key_pass_env = args.key_pass_env or mtls.key_passphrase_env
    settings = settings_for_provider(
        provider, expected_client_subject=args.expected_dn, profile=profile
    )
    args.expected_dn = settings.expected_client_subject
    return settings


def _sample_line(index: int, record: dict[str, Any]) -> str:
    if set(record) == {"reason"}:
        return f"      #{index}: {record['reason']}"
    if "absent" in record:
        return f"      #{index}: {record.get('type')} without {record['absent']}"
    keys = ("type", "timestamp", "proxy_id_session", "session_state", "clientId", "IdRPPS", "dn")
    shown = " ".join(f"{k}={record.get(k)}" for k in keys if k in record)
    return f"      #{index}: {shown}"


def render_text(analysis: TraceAnalysis, events_file: str | None = None) -> str:
    e = analysis.export
    lines = [
        f"Trace export: {e.source}",
        f"  sha256 {e.sha256}, {e.size_bytes} bytes, {e.total_records} records, "
        f"{len(e.records)} well formed, {e.malformed_count} malformed",
    ]
    if analysis.start or analysis.end:
        start = analysis.start.isoformat() if analysis.start else "-"
        end = analysis.end.isoformat() if analysis.end else "-"
        lines.append(f"  window {start} .. {end}")
    if e.evidence_path and e.fetch:
        lines.append(f"  evidence kept: {e.evidence_path} (+ .fetch.json)")
    lines.append(f"Verdict: {analysis.bottom_line.value} ({len(analysis.findings)} finding(s))")
    for f in analysis.findings:
        reqs = ", ".join(f.requirements) or "-"
        lines.append(f"  [{f.severity.value.upper()}] {f.check}: {f.title} ({f.count}) [{reqs}]")
        lines.append(f"      {f.message}")
        if f.indexes:
            more = f" (+{f.count - len(f.indexes)})" if f.count > len(f.indexes) else ""
            shown = ", ".join(str(i) for i in f.indexes[:20])
            lines.append(f"      records #{shown}{' ...' if len(f.indexes) > 20 else ''}{more}")
        lines.extend(_sample_line(s.index, s.record) for s in f.samples)
    for o in analysis.outcomes:
        if o.status.value in {"not_evaluated", "disabled"} or (o.note and not o.finding):
            lines.append(f"  ({o.status.value}) {o.check}: {o.note or o.title}")
    lines.extend(_stats_lines(analysis.stats))
    if events_file:
        lines.append(f"Supervision events written to {events_file}")
    return "\n".join(lines)


def _stats_lines(stats: dict[str, Any]) -> list[str]:
    """Statistics (never findings): per-API volumes, sessions opened before the window."""
    lines = ["Statistics (not findings):"]
    types = stats.get("types") or {}
    if types:
        lines.append("  records by type: " + ", ".join(f"{k} {v}" for k, v in types.items()))
    carried = stats.get("opened_before_window") or {}
    if carried.get("sends"):
        lines.append(
            f"  {carried['sends']} SEND on {carried['sessions']} session(s) "
            f"« {carried['label']} » (no CONNECT_SUCCESS in the export)"
        )
    volumes = stats.get("api_volumes") or []
    if volumes:
        lines.append("  SEND per national API (apiRequest.nomApiPsc):")
        lines.extend(f"    {v['nomApiPsc']:<24} {v['methode']:<7} {v['count']}" for v in volumes)
    return lines if len(lines) > 1 else []
