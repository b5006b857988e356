"""Shipped inside the wheel as the resource package auditlib._data (see pyproject.toml)."""
