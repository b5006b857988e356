"""Sign and verify 24 report PDFs: `auditlib sign/verify` vs a shell loop of `pyhanko` CLI calls.

Both sides run in the same invocation on the same inputs and the same PKCS#12 seal;
the baseline is the naive way (one `pyhanko sign addsig` / `pyhanko sign validate`
process per report). Prints both timings and the ratio.

Usage: python benchmarks/bench_sign.py [--reports 24]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditlib.testing.pki import TestPki  # noqa: E402

PASS = "bench-seal-passphrase"
HTML = "<h1>Rapport d'audit EDC PSC</h1>" + "".join(
    f"<p>Constat {i} : exigence vérifiée, conforme.</p>" for i in range(90)
)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload,no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=24)
    args = parser.parse_args()

    import weasyprint
    from pypdf import PdfReader

    python = sys.executable
    pyhanko = str(Path(python).with_name("pyhanko"))
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as tmp:
        work = Path(tmp)
        pki = TestPki.create()
        seal = pki.issue("EDC PSC AUDIT ORG SIGN", "sign")
        p12 = work / "seal.p12"
        p12.write_bytes(seal.pkcs12(PASS.encode(), [pki.issuing.certificate]))
        ca_dir = pki.write_ca_dir(work / "ca")
        root = work / "root.pem"
        root.write_bytes(pki.root.cert_pem())
        inputs = work / "in"
        inputs.mkdir()
        pdf = weasyprint.HTML(string=HTML).write_pdf()
        reports = []
        for i in range(args.reports):
            path = inputs / f"rapport-{i:02d}.pdf"
            path.write_bytes(pdf)
            reports.append(path)
        last_page = len(PdfReader(reports[0]).pages)
        env = {**os.environ, "BENCH_SEAL_PASS": PASS, "PYTHONPATH": str(ROOT)}

        ours_out = work / "ours"
        t0 = time.perf_counter()
        run(
            [
                *(python, "-m", "auditlib", "sign", *map(str, reports), "--p12", str(p12)),
                *("--pass-env", "BENCH_SEAL_PASS", "--output-dir", str(ours_out)),
            ],
            env=env,
        )
        ours_sign = time.perf_counter() - t0
        signed = sorted(ours_out.glob("*.pdf"))
        t0 = time.perf_counter()
        run([python, "-m", "auditlib", "verify", *map(str, signed), "--ca-dir", str(ca_dir)])
        ours_verify = time.perf_counter() - t0

        base_out = work / "baseline"
        base_out.mkdir()
        field = f"{last_page}/375,6,589,56/AuditSeal"
        t0 = time.perf_counter()
        for path in reports:
            run(
                [
                    *(pyhanko, "sign", "addsig", "--field", field, "--use-pades", "pkcs12"),
                    *(str(path), str(base_out / path.name), str(p12)),
                ],
                input=PASS + "\n",
            )
        base_sign = time.perf_counter() - t0
        t0 = time.perf_counter()
        for path in sorted(base_out.glob("*.pdf")):
            out = run(
                [
                    *(pyhanko, "sign", "validate", "--trust", str(root), "--trust-replace"),
                    *("--no-revocation-check", "--executive-summary", str(path)),
                ]
            )
            assert out.stdout.strip().endswith(":VALID"), out.stdout
        base_verify = time.perf_counter() - t0

    n = args.reports
    print(f"{n} reports, {os.cpu_count()} CPUs")
    print(f"sign   auditlib sign (one process): {ours_sign:6.2f} s")
    print(
        f"sign   pyhanko addsig loop        : {base_sign:6.2f} s  "
        f"ratio {base_sign / ours_sign:.1f}x"
    )
    print(f"verify auditlib verify            : {ours_verify:6.2f} s")
    print(
        f"verify pyhanko validate loop      : {base_verify:6.2f} s  "
        f"ratio {base_verify / ours_verify:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
