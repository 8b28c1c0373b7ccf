"""Fixtures for interop tests: a real `flyq serve` process on a free port, owned by the test.

The binary is target/debug/flyq (built by `cargo test` in scripts/test) unless FLYQ_BIN says
otherwise. Brokers are stopped by PID: SIGTERM at the end of a test, SIGKILL where a test
simulates a crash.
"""
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("FLYQ_BIN", ROOT / "target" / "debug" / "flyq"))


class Flyq:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.addr = "127.0.0.1:0"
        self.http = None
        self.proc = None
        self.log_lines = []

    def start(self):
        assert BINARY.exists(), f"{BINARY} is missing: build it with `cargo build -p flyq`"
        self.proc = subprocess.Popen(
            # The HTTP API on a free port: its default port would clash between brokers.
            [str(BINARY), "serve", "--data-dir", str(self.data_dir), "--kafka-addr", self.addr,
             "--http-addr", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RUST_LOG": "info"},
        )
        found = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log_lines.append(line)
                m = re.search(r"flyq listening .*kafka=(\S+).* http=(\S+)", line)
                if m and not found.is_set():
                    self.addr = m.group(1)
                    self.http = m.group(2)
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        assert found.wait(30), "flyq did not start:\n" + "".join(self.log_lines)
        return self

    @property
    def bootstrap(self):
        return self.addr

    def kill9_and_restart(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def flyq(tmp_path):
    broker = Flyq(tmp_path / "data").start()
    yield broker
    broker.stop()


def wait_until(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
