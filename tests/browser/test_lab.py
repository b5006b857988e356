"""The auditor's desk in a real browser: JupyterLab on a free loopback port (with a token),
driven by the distribution's Chromium through Playwright (`executable_path`, no browser
download). Skipped, with the reason, only when no Chromium binary is installed.

Screenshots are kept as test artefacts under pytest's tmp path
(`<basetemp>/browser*/screenshots/*.png`; `pytest --basetemp=DIR` keeps them in DIR).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditlib.audit.assess import ControlStatus
from auditlib.audit.verdicts import load_verdicts
from auditlib.checkpoints.reader import load_checkpoints
from auditlib.cli import main
from auditlib.tls.scan import save_observations

pytestmark = [pytest.mark.browser, pytest.mark.loopback, pytest.mark.notebook]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
TEMPLATE = ROOT / "notebooks" / "audit_report.ipynb"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROVIDER = "medilogic"
AUDIT_DATE = dt.date(2026, 11, 28)
FOLDER = f"{PROVIDER}_certificate_expiry_{AUDIT_DATE.isoformat()}"


def chromium_binary() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    shots: Path

    def page_url(self, relative: str) -> str:
        """The notebook in a fresh workspace of its own (no layout restored)."""
        workspace = secrets.token_hex(4)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{relative}?reset&token={self.token}"


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.skip(
            "no Chromium binary installed (looked for /usr/bin/chromium and "
            f"{', '.join(CHROMIUM_NAMES)} on PATH): apt-get install -y chromium"
        )
    return binary


@pytest.fixture(scope="module")
def lab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("browser")
    work = root / "work"
    scans = save_observations(root / "no-scan.json", [])
    code = main(
        [
            "new-audit",
            PROVIDER,
            "--date",
            AUDIT_DATE.isoformat(),
            "--work",
            str(work),
            "--registry",
            str(DATA / "registry.yaml"),
            "--checkpoints",
            str(DATA / "checkpoints_demo.xlsx"),
            "--scan-results",
            str(scans),
            "--auditor",
            "Auditrice navigateur",
            "--previous-verdicts",
            str(DATA / "verdicts" / f"{PROVIDER}.yaml"),
        ]
    )
    assert code == 0
    template = json.loads(TEMPLATE.read_text("utf-8"))
    # JupyterLab writes its kernel's exact Python version: the template carries the
    # project's (scripts/make_notebook.py); on another Python the copy gets this one's.
    template["metadata"]["language_info"]["version"] = platform.python_version()
    (work / "template_copy.ipynb").write_text(json.dumps(template, indent=1) + "\n", "utf-8")
    token = secrets.token_hex(16)
    port = free_port()
    env = dict(os.environ)
    env["JUPYTER_CONFIG_DIR"] = str(root / "jupyter-config")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(root / "lab-workspaces")
    settings = root / "lab-settings"
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}), "utf-8")
    env.pop("AUDITLIB_TABLES", None)
    log = (root / "jupyterlab.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n"
                        + (root / "jupyterlab.log").read_text(errors="replace")[-3000:]
                    )
                time.sleep(0.3)
        shots = root / "screenshots"
        shots.mkdir()
        yield Lab(url=url, token=token, root=work, shots=shots)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(chromium: str, lab: Lab) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the test extra: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(lab.root.parent / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


def wait_for_kernel_idle(page: Any, timeout: float = 60_000) -> None:
    """The notebook is shown and its kernel says Idle in the status bar."""
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=timeout)
    page.wait_for_function(
        """() => {
            const bar = document.querySelector('#jp-main-statusbar');
            return bar && /\\|\\s*Idle/.test(bar.innerText);
        }""",
        timeout=timeout,
    )


ROWS_JS = """([name, search]) => {
    const box = document.querySelector(`[data-table="${name}"]`);
    if (!box) return null;
    const table = box.matches('table') ? box
        : (box.querySelector('table.dataTable') || box.querySelector('table'));
    if (!table) return [];
    return [...table.querySelectorAll('tbody tr')]
        .map(tr => [...tr.cells].map(td => td.textContent.trim()))
        .filter(cells => cells.length > 1 && cells[0] !== ''
                && (!search || cells[0] === search));
}"""
ROW_HAS = (
    "(args) => { const [name, ref, status] = args; const rows = ("
    + ROWS_JS
    + ")([name, ref]); return !!rows && rows.some(r => r[1] === status); }"
)


def rows(page: Any, name: str, search: str | None = None) -> list[list[str]]:
    """The visible rows of a table (static, or interactive: searched for `search` first,
    as an auditor would, since only one page is shown)."""
    field = page.locator(f'[data-table="{name}"] input[type="search"]')
    if search and field.count():
        field.first.fill(search)
        page.wait_for_timeout(300)
    found: list[list[str]] | None = page.evaluate(ROWS_JS, [name, search])
    assert found is not None, f"no table {name!r} on the page"
    return found


def row_of(page: Any, name: str, ref: str) -> list[str]:
    matching = rows(page, name, ref)
    assert len(matching) == 1, f"{ref} in table {name}: {matching}"
    return matching[0]


def tab_is_dirty(page: Any) -> bool:
    return bool(
        page.evaluate(
            "() => !!document.querySelector('.jp-mod-current.jp-mod-dirty, "
            "li.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')"
        )
    )


def test_template_opens_unmodified(browser: Any, lab: Lab) -> None:
    """The template's metadata is complete: opening it and starting its kernel does not mark
    it modified (JupyterLab would autosave it, outputs and all)."""
    before = (lab.root / "template_copy.ipynb").read_bytes()
    page = browser.new_page()
    page.goto(lab.page_url("template_copy.ipynb"))
    wait_for_kernel_idle(page)
    page.wait_for_timeout(1500)  # JupyterLab updates the metadata from the kernel's info
    page.screenshot(path=str(lab.shots / "template-opened.png"))
    assert not tab_is_dirty(page), "the template opened as modified"
    # the check can fail: an edit does mark it modified
    page.locator(".jp-CodeCell .cm-content").first.click()
    page.keyboard.type("x")
    page.wait_for_timeout(300)
    assert tab_is_dirty(page)
    page.close()
    assert (lab.root / "template_copy.ipynb").read_bytes() == before


def test_run_all_record_a_verdict_tables_update(browser: Any, lab: Lab) -> None:
    page = browser.new_page()
    page.goto(lab.page_url(f"{FOLDER}/audit.ipynb"))
    wait_for_kernel_idle(page)
    page.screenshot(path=str(lab.shots / "1-opened.png"))

    # Run All, from the Run menu
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_selector(".auditlib-save", timeout=60_000)
    page.wait_for_selector("text=Sorties de l'audit", timeout=90_000)  # the last cell
    wait_for_kernel_idle(page, timeout=90_000)
    page.screenshot(path=str(lab.shots / "2-run-all.png"), full_page=True)

    # the pending list shows the controls awaiting the auditor
    pending = rows(page, "pending")
    assert pending, "no control awaits the auditor"
    first_pending = pending[0][0]
    assert row_of(page, "findings", first_pending)[1] == "à évaluer"

    # record one verdict through the form (the first pending control is preselected)
    shown = page.locator(".auditlib-verdict select").first.input_value()
    assert shown == f"{first_pending} (à évaluer)"
    control = first_pending
    page.locator(".auditlib-verdict select").nth(1).select_option(label="non conforme")
    page.locator(".auditlib-verdict select").nth(2).select_option(label="élevée")
    page.locator(".auditlib-verdict textarea").fill("Vérifié en séance <script>x</script>")
    page.locator(".auditlib-save").click()
    page.wait_for_selector(".auditlib-message >> text=Enregistré", timeout=30_000)

    # the tables above and below the form were recomputed in place
    page.wait_for_function(ROW_HAS, arg=["findings", control, "non conforme"], timeout=30_000)
    page.screenshot(path=str(lab.shots / "3-verdict-recorded.png"), full_page=True)
    found = row_of(page, "findings", control)
    assert found[1] == "non conforme"
    assert "<script>x</script>" in found[3]  # shown as text: escaped
    status_cell = page.locator(f'[data-table="findings"] tbody tr:has(td:text-is("{control}"))')
    assert "background-color" in status_cell.first.inner_html()  # inline colour
    assert control not in [r[0] for r in rows(page, "pending")]
    nc = row_of(page, "nonconformities", control)
    assert nc[1] == "non conforme" and nc[2] == "élevée"

    # the audit's verdicts file holds it, with its provenance
    verdicts_file = lab.root / FOLDER / "verdicts.yaml"
    grid = load_checkpoints(DATA / "checkpoints_demo.xlsx")
    (verdict,) = [
        v
        for v in load_verdicts(verdicts_file, grid, PROVIDER, audit=FOLDER)
        if v.control_ref == control
    ]
    assert verdict.status is ControlStatus.NON_CONFORME
    assert verdict.severity == "high"
    assert verdict.auditor == "Auditrice navigateur"
    assert verdict.date == dt.date.today()
    assert "audit: " + FOLDER in verdicts_file.read_text("utf-8")

    # the template was never touched
    assert json.loads(TEMPLATE.read_text("utf-8"))["cells"][1]["outputs"] == []
    page.close()
    print(f"screenshots: {lab.shots}")
