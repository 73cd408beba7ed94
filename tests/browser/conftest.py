"""A real `digitrec serve` and Debian's Chromium, driven by Playwright.

Every test here is skipped, with the reason, where /usr/bin/chromium or Playwright is
missing. Screenshots go to test-artifacts/browser/ (ignored by git).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # these machines run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class PadServer:
    """A running `digitrec serve`: its URL, and whether its model reads MNIST-style handwriting."""

    url: str
    model: str
    reads_handwriting: bool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"digitrec serve exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"digitrec serve did not answer /healthz within {timeout:.0f} s")


@pytest.fixture(scope="session")
def pad_server(tmp_path_factory, tiny_bundle) -> PadServer:
    """`digitrec serve` on a free loopback port: the shipped MNIST model if there is one."""
    from digitrec.bundle import available_models

    shipped = available_models()
    model = str(shipped["default"]) if "default" in shipped else str(tiny_bundle)
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "DIGITREC_TOKEN"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "digitrec", "serve", "--port", str(port), "--model", model],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield PadServer(url=url, model=model, reads_handwriting="default" in shipped)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (never a downloaded browser build)."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (the [test] extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
