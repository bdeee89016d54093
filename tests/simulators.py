"""What the DMS and OEM test helpers share (no tests here): a simulator (``boxes dms-simulator``,
``boxes oem-simulator``) as a separate HTTP server process on loopback, with the simulated clock.
Each simulator's control API is in its helpers: tests/dms/test_helpers.py, tests/oem_helpers.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from boxes.simulators import wait_until_serving
from tests.conftest import free_port


class SimulatorProcess:
    """``boxes <command>`` on a free port of 127.0.0.1, started and serving (else the test fails
    with what it printed); ``stop()`` (or leaving a ``with`` block) ends it."""

    command: str  # "dms-simulator"
    title: str  # "DMS simulator", for a test's failure

    def __init__(self, *, seed: int, vehicles: int, dealers, options: tuple[str, ...] = ()):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "boxes.cli", self.command, "--port", str(self.port), "--clock", "simulated",
                "--seed", str(seed), "--vehicles", str(vehicles), *options]
        for d in dealers:
            argv += ["--dealer", d]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_until_serving(self.base, 30, process=self.process):
            err = self.process.stderr.read().decode() if self.process.stderr else ""
            self.stop()
            pytest.fail(f"the {self.title} did not start: {err[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
