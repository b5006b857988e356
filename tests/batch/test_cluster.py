"""The batch on a real Dask cluster (a scheduler and two worker processes on 127.0.0.1):
the same findings as the local pool, each audit's ledger records naming its worker."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlib.batch.cluster import ClusterSpec, check_spec
from auditlib.batch.ledger import read_ledger
from auditlib.cli import main
from auditlib.errors import BatchError
from auditlib.tls.scan import save_observations

pytestmark = [pytest.mark.loopback, pytest.mark.notebook]

DATA = Path(__file__).resolve().parents[2] / "data"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
DASK = Path(sys.executable).parent / "dask"


@contextlib.contextmanager
def local_cluster(folder: Path, workers: int = 2) -> Iterator[str]:
    """`dask scheduler` and `dask worker` processes on loopback; yields the address."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / "scheduler.json"
    common = ["--no-dashboard"]
    logs = contextlib.ExitStack()
    procs = [
        subprocess.Popen(
            [
                str(DASK),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scheduler-file",
                str(info),
                *common,
            ],
            stdout=subprocess.DEVNULL,
            stderr=logs.enter_context((folder / "scheduler.log").open("w")),
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.is_file() or not info.read_text().strip():
            assert time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for n in range(workers):
            procs.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--name",
                        f"w{n}",
                        "--host",
                        "127.0.0.1",
                        *common,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=logs.enter_context((folder / f"worker{n}.log").open("w")),
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            addresses = sorted(client.scheduler_info()["workers"])
        yield address
        assert len(addresses) == workers
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


def batch_argv(out: Path, scans: Path) -> list[str]:
    return [
        "batch",
        "--registry",
        str(DATA / "registry.yaml"),
        "--checkpoints",
        str(DATA / "checkpoints_demo.xlsx"),
        "--as-of",
        "2027-01-10",
        "--within",
        "0d",  # medicab and proxisante-editions overdue
        "--scan-results",
        str(scans),
        "--output",
        str(out),
        "--json",
    ]


@pytest.mark.slow
def test_cluster_batch_gives_the_local_pool_findings_and_names_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    sys.path.insert(0, str(SCRIPTS))
    from compare_findings import differences, normalise

    scans = save_observations(tmp_path / "scans.json", [])
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main([*batch_argv(local, scans), "--workers", "2"]) == 0
    capsys.readouterr()
    with local_cluster(tmp_path / "cluster") as address:
        assert main([*batch_argv(remote, scans), "--scheduler", address]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == 2 and summary["failed"] == 0

    folders = sorted(p.parent.name for p in local.glob("*/findings.json"))
    assert len(folders) == 2
    assert folders == sorted(p.parent.name for p in remote.glob("*/findings.json"))
    roots = (str(local), str(remote))
    for name in folders:
        a = normalise(json.loads((local / name / "findings.json").read_text()), roots)
        b = normalise(json.loads((remote / name / "findings.json").read_text()), roots)
        assert differences(a, b) == [], name

    records = read_ledger(remote / "ledger.jsonl")
    assert records[0]["event"] == "run_start" and records[0]["scheduler"] == address
    for event in ("start", "end"):
        named = {r["audit"]: r.get("worker") for r in records if r["event"] == event}
        assert sorted(named) == folders
        assert all(w and w.startswith("tcp://127.0.0.1:") for w in named.values()), named
    local_records = read_ledger(local / "ledger.jsonl")
    assert all("worker" not in r for r in local_records)  # the local pool names none


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ClusterSpec("tcp://10.0.0.5:8786"), "only on loopback"),
        (ClusterSpec("192.168.1.2:8786"), "only on loopback"),
        (ClusterSpec("udp://127.0.0.1:8786"), "scheme"),
        (ClusterSpec("tcp://127.0.0.1"), "port"),
        (ClusterSpec("tls://scheduler.example:8786"), "--dask-ca"),
        (ClusterSpec("tls://h:1", Path("/nonexistent/ca"), Path("c"), Path("k")), "no such file"),
    ],
)
def test_cluster_address_rules(spec: ClusterSpec, message: str) -> None:
    with pytest.raises(BatchError, match=message):
        check_spec(spec)


def test_loopback_tcp_is_accepted() -> None:
    for address in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "tcp://localhost:1", "tcp://[::1]:2"):
        check_spec(ClusterSpec(address))


def test_an_unreachable_scheduler_is_one_error(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from auditlib.batch.cluster import connect
    from auditlib.testing.servers import closed_port

    with pytest.raises(BatchError, match="unreachable"):
        connect(ClusterSpec(f"tcp://127.0.0.1:{closed_port()}", connect_timeout=2))
