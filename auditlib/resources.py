"""Where the workbench finds the files it ships: profiles, report templates, notebooks, demo data.

The project keeps `templates/`, `notebooks/` and `data/` at the top of the repository; the
build maps them into the package as `auditlib._templates`, `auditlib._notebooks` and
`auditlib._data` (see `pyproject.toml`), and an editable install maps the same names onto
the checkout's folders. Every lookup goes through `importlib.resources`, so a wheel works
away from the checkout and no module builds a path from the repository root.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from auditlib.errors import AuditlibError

TEMPLATES_PACKAGE = "auditlib._templates"
NOTEBOOKS_PACKAGE = "auditlib._notebooks"
DATA_PACKAGE = "auditlib._data"
AUDIT_NOTEBOOK = "audit_report.ipynb"
PORTFOLIO_NOTEBOOK = "portfolio.ipynb"


class ResourceError(AuditlibError):
    """A file the package should ship is missing (a broken install or a partial checkout)."""


def _package_dir(package: str, what: str) -> Path:
    """The folder behind a resource package, as a real path (a wheel installs unzipped)."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise ResourceError(
            f"{what} not found: package {package} is not installed "
            "(reinstall auditlib: `pip install -e .` in a checkout)"
        ) from exc
    path = Path(str(root))
    if not path.is_dir():
        raise ResourceError(f"{what} not found at {path}")
    return path


def profile_path(name: str) -> Path:
    """A data profile shipped in `auditlib/profiles/` (YAML that the code reads as rules)."""
    path = Path(str(resources.files("auditlib").joinpath("profiles", name)))
    if not path.is_file():
        raise ResourceError(f"profile {name} not found at {path}")
    return path


def schema_path(name: str) -> Path:
    """A JSON schema shipped in `auditlib/schemas/`."""
    path = Path(str(resources.files("auditlib").joinpath("schemas", name)))
    if not path.is_file():
        raise ResourceError(f"schema {name} not found at {path}")
    return path


def templates_dir() -> Path:
    """The report templates (`templates/` in the checkout)."""
    return _package_dir(TEMPLATES_PACKAGE, "report templates")


def notebooks_dir() -> Path:
    """The notebook templates (`notebooks/` in the checkout)."""
    return _package_dir(NOTEBOOKS_PACKAGE, "notebooks")


def audit_notebook() -> Path:
    """The parameterised audit notebook that `batch` executes."""
    path = notebooks_dir() / AUDIT_NOTEBOOK
    if not path.is_file():
        raise ResourceError(f"audit notebook not found at {path}")
    return path


def portfolio_notebook() -> Path:
    """The parameterised portfolio notebook (every provider, across its audits)."""
    path = notebooks_dir() / PORTFOLIO_NOTEBOOK
    if not path.is_file():
        raise ResourceError(f"portfolio notebook not found at {path}")
    return path


def demo_data_dir() -> Path:
    """The demo data (`data/` in the checkout): registry, workbook, bundles, demo PKI."""
    return _package_dir(DATA_PACKAGE, "demo data")
