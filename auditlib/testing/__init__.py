"""Throw-away material for tests, benchmarks and the demo: a test PKI named like the
IGC-Santé test chain, local TLS servers, workbook and trace generators.

Never imported by the core (a test in `tests/` checks the import graph).
"""
