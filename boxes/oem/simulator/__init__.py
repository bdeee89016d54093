"""``boxes oem-simulator``: the OEM's CRM for tests, the demo and the benchmarks (see server.py)."""
