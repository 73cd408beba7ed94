"""A real `digitrec serve` and Debian's Chromium, driven by Playwright.

Every test here is skipped, with the reason, where /usr/bin/chromium or Playwright is
missing. Screenshots go to test-artifacts/browser/ (ignored by git).
"""

from __future__ import annotations

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


@pytest.fixture(scope="package")
def pad_server(tiny_bundle, running_server) -> PadServer:
    """`digitrec serve` on a free loopback port: the shipped MNIST model if there is one."""
    from digitrec.bundle import available_models

    shipped = available_models()
    model = str(shipped["default"]) if "default" in shipped else str(tiny_bundle)
    with running_server(["--model", model]) as url:
        yield PadServer(url=url, model=model, reads_handwriting="default" in shipped)


# Package scope: Playwright's sync API runs an event loop that must end with these tests.
@pytest.fixture(scope="package")
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
