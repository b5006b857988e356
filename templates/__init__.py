"""Shipped inside the wheel as the resource package auditlib._templates (see pyproject.toml)."""
