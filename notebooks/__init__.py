"""Shipped inside the wheel as the resource package auditlib._notebooks (see pyproject.toml)."""
