"""End-to-end test in a real browser: ``streamlit run app.py`` + Playwright driving Debian's chromium.

Needs ``/usr/bin/chromium`` (CI: ``apt-get install -y chromium``); without it the test fails with
a clear message rather than being skipped. The server runs with a temporary models folder holding
a random-weight model, so the test never depends on shipped models or the network.
Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import make_checkpoint

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VERDICT = re.compile(r"^(OK|NG) \d+\.\d%$")

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 60.0) -> float:
    """Poll ``/_stcore/health`` until it answers ``ok``; returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer {url}/_stcore/health within {timeout:.0f} s")


@contextmanager
def streamlit_server(models_dir: Path, log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``streamlit run app.py`` on a free port; always terminated on exit."""
    port = free_port()
    env = {**os.environ, "CAM_INSPECTOR_MODELS": str(models_dir), "PYTHONUNBUFFERED": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def launch_chromium(playwright: object) -> object:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                    "(apt-get install -y chromium)", pytrace=False)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)  # type: ignore[attr-defined]


def wait_until_idle(page: object) -> None:
    """Wait until no script run is in progress (Streamlit's running icon stays gone for a second).

    A widget used during a rerun can be replaced by that rerun: an upload is then lost, and a deferred
    download points at data the rerun has replaced."""
    from playwright.sync_api import expect

    running = page.locator(  # type: ignore[attr-defined]
        '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')
    for _ in range(2):
        page.wait_for_timeout(500)  # type: ignore[attr-defined]
        expect(running).to_have_count(0)


def uploader(page: object, label: str) -> object:
    """The file input of the uploader labelled ``label`` (never "the first uploader": under load another one,
    e.g. "Defect masks", can render first)."""
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label)  # type: ignore[attr-defined]
    return box.locator('input[type="file"]')


def write_part_png(path: Path) -> Path:
    """A realistic input: a synthetic NG part (falls back to noise if the generator is unavailable)."""
    from PIL import Image

    try:
        from cam_core.synth import render_part

        image = render_part(np.random.default_rng(5), kind="plate", size=640, defect="scratch").image
    except ImportError:
        image = Image.fromarray(np.random.default_rng(5).integers(0, 255, (480, 640, 3), dtype=np.uint8))
    image.save(path)
    return path


@contextmanager
def browser_page(tmp_path: Path, log_name: str, log_holds: str = "") -> Iterator[tuple[str, object]]:
    """A fresh ``streamlit run`` server (random-weight model) and a chromium page; yields ``(url, page)``.
    Afterwards the server log must hold no traceback, and ``log_holds``."""
    from playwright.sync_api import expect, sync_playwright

    models = tmp_path / "models"
    make_checkpoint(models / "squeezenet1_1-browser.safetensors", input_size=224)
    log_path = ARTIFACTS / log_name
    with streamlit_server(models, log_path) as (url, process), sync_playwright() as playwright:
        wait_until_healthy(url, process)
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)
            yield url, page
        finally:
            browser.close()  # type: ignore[attr-defined]
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert log_holds in log, log[-3000:]


def reload_keeps_the_batch(page: object) -> None:
    """A reload is a new session: the work comes back from the workspace its ``?ws=`` key names."""
    from playwright.sync_api import expect

    assert "ws=" in page.url  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    expect(page.get_by_text("Showing your last batch")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.get_by_text(VERDICT)).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("img.cb-layer")).to_have_count(2)  # type: ignore[attr-defined]


def assert_all_local(requested: list[str], url: str) -> None:
    outside = [u for u in requested if not u.startswith((url, "data:", "blob:"))]
    assert not outside, f"the page fetched from outside the server (offline sites break): {outside[:5]}"


def test_the_server_loads_the_default_network_before_anyone_asks_for_a_page(tmp_path: Path) -> None:
    """``app.py``'s start-up hook (``st.App``'s lifespan) starts the background load: no page is requested here."""
    models = tmp_path / "models"
    make_checkpoint(models / "squeezenet1_1-browser.safetensors", input_size=224)
    log_path = ARTIFACTS / "warm-at-start-server.log"
    with streamlit_server(models, log_path) as (url, process):
        wait_until_healthy(url, process)
        deadline = time.monotonic() + 120
        while " loaded in the background in " not in log_path.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_explain_page_in_a_real_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    picture = write_part_png(tmp_path / "ng part.png")
    # the first page load starts the default network's load in the background (app_ui.warmup); it must finish
    with browser_page(tmp_path, "browser-server.log", " loaded in the background in ") as (url, page):
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url)
        expect(page.get_by_role("heading", name="Explain: why OK, why NG?")).to_be_visible()
        wait_until_idle(page)   # the first run of a fresh server may rerun once; an upload during it is lost
        uploader(page, "Upload part images").set_input_files(str(picture))
        expect(page.get_by_text(VERDICT)).to_be_visible()
        images = page.locator("img.cb-layer")      # the maps, blended over the part in the browser
        expect(images).to_have_count(2)
        expect(images.nth(0)).to_be_visible()
        expect(images.nth(1)).to_be_visible()
        titles = page.locator(".cb-title")
        expect(titles.nth(0)).to_have_text("OK map")
        expect(titles.nth(1)).to_have_text("NG map")
        expect(page.locator(".cb-words").nth(1)).to_contain_text("signs of NG")

        before = images.nth(1).get_attribute("src")
        slider = page.locator("input.cb-opacity")
        thumb_value = page.locator(".cb-value")
        expect(thumb_value).to_have_text("50 %")
        for expected in ("55 %", "60 %", "65 %", "70 %"):   # blended in the browser: no rerun
            slider.focus()
            slider.press("ArrowRight")
            expect(thumb_value).to_have_text(expected)
        expect(images.nth(1)).to_have_attribute("src", before or "")   # the map itself was not redrawn
        assert images.nth(1).evaluate("e => getComputedStyle(e).opacity") == "0.7"
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "explain.png"), full_page=True)

        wait_until_idle(page)
        with page.expect_download(timeout=120_000) as download_info:  # ZIP is built on click (deferred data)
            page.get_by_role("button", name="Overlay PNGs (ZIP)").click()
        archive = zipfile.ZipFile(download_info.value.path())
        assert sorted(archive.namelist()) == ["ng_part_ng.png", "ng_part_ok.png"]
        with page.expect_download(timeout=120_000) as download_info:
            page.get_by_role("button", name="Scores (CSV)").click()
        header = Path(download_info.value.path()).read_text().splitlines()[0]
        assert header.startswith("file,predicted,verdict,probability,defect_probability")   # the CLI's results.csv schema

        nav = page.locator(".st-key-app_menu")
        nav.get_by_text("Models", exact=True).click()
        expect(page.get_by_role("heading", name="Models")).to_be_visible()
        expect(page.get_by_text("squeezenet1_1-browser").first).to_be_visible()

        nav.get_by_text("Explain", exact=True).click()
        expect(page.get_by_text("Showing your last batch")).to_be_visible()
        expect(page.get_by_text(VERDICT)).to_be_visible()
        expect(images).to_have_count(2)
        expect(thumb_value).to_have_text("70 %")  # the opacity survives page switches (kept in the browser)
        reload_keeps_the_batch(page)
        assert_all_local(requested, url)


def test_first_visit_straight_to_a_page_shows_the_app_menu(tmp_path: Path) -> None:
    """On a fresh server, a first visitor opening /compare directly (Streamlit runs the page file on its own,
    app.py has not run yet) gets the app's menu, not Streamlit's list of raw pages/ file names, and can
    move on to another page from it."""
    from playwright.sync_api import expect

    with browser_page(tmp_path, "browser-server-deeplink.log") as (url, page):
        page.goto(f"{url}/compare")
        expect(page.get_by_role("heading", name="Compare networks")).to_be_visible()
        menu = page.locator(".st-key-app_menu")
        expect(menu.get_by_text("Compare networks", exact=True)).to_be_visible()
        expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
        expect(page.get_by_text("app", exact=True)).to_have_count(0)       # no raw file names (app.py, …)
        menu.get_by_text("Models", exact=True).click()
        expect(page.get_by_role("heading", name="Models")).to_be_visible()
