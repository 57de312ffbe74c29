"""Starts a real ``easel serve`` (binary from $EASEL_BIN, default build/easel) on a free
loopback port, with a temporary data dir and the fixture model, for the client's tests."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

from easel import Easel  # noqa: E402


class ServerProcess:
    def __init__(self, tmp: pathlib.Path, api_key: str = "") -> None:
        binary = os.environ.get("EASEL_BIN", str(ROOT / "build" / "easel"))
        models = tmp / "models"
        models.mkdir()
        (models / "sd1").symlink_to(ROOT / "tests" / "fixtures" / "sd1")
        self.port_file = tmp / "port"
        args = [binary, "serve", "--port", "0", "--port-file", str(self.port_file),
                "--data-dir", str(tmp / "data"), "--models-dir", str(models)]
        if api_key:
            args += ["--api-key", api_key]
        self.proc = subprocess.Popen(args)
        deadline = time.monotonic() + 30
        while not self.port_file.exists() or not self.port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"easel serve did not start ({binary})")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(self.port_file.read_text())}"
        client = Easel(self.url, api_key or None)
        deadline = time.monotonic() + 60
        while not client.health():
            if time.monotonic() > deadline:
                raise RuntimeError("easel serve did not become ready")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    with tempfile.TemporaryDirectory(prefix="easel-py-") as tmp:
        s = ServerProcess(pathlib.Path(tmp), api_key="py-test-key-1")
        yield s
        s.stop()


@pytest.fixture()
def client(server: ServerProcess) -> Easel:
    return Easel(server.url, api_key="py-test-key-1")
