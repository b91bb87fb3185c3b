"""The web page end to end: a real `faceprint serve`, a real key, headless Chromium.

A user's path through the page: enter the key, create a collection, enroll two people
from the sample photos, search a group photo and read the names off the page.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.shared_paths import MODELS, SAMPLES

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
KNOWN = SAMPLES / "known"
GROUP = SAMPLES / "groups" / "two_people.jpg"
PEOPLE = ("barack_obama", "joe_biden")
SERVER_START_TIMEOUT_S = 60.0
STEP_TIMEOUT_MS = 120_000  # the first enrollment loads the models on a CPU


def _faceprint() -> list[str]:
    """The `faceprint` console script, as the installed entry point runs it."""
    script = Path(sys.executable).with_name("faceprint")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from faceprint.cli.main import main; main()"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _images(person: str) -> list[Path]:
    return sorted(p for p in (KNOWN / person).iterdir() if p.is_file())


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no server log)"


@pytest.fixture()
def sync_playwright():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"playwright is not importable: {e}")
    if not GROUP.is_file() or not all((KNOWN / p).is_dir() for p in PEOPLE):
        pytest.skip(f"sample faces not found under {SAMPLES}")
    return sync_playwright


@pytest.fixture()
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("FACEPRINT_MODEL_MIRROR", str(MODELS))
    env.setdefault("FACEPRINT_OFFLINE", "1")
    env.setdefault("FACEPRINT_HOME", str(tmp_path_factory.getbasetemp() / "e2e-home"))
    env.pop("FACEPRINT_GALLERY", None)
    return env


@pytest.fixture()
def server(tmp_path: Path, env: dict[str, str], sync_playwright):
    """A `faceprint serve` on a free port with one `*:write` key; yields (base url, key)."""
    gallery = tmp_path / "gallery.db"
    keys = tmp_path / "keys.db"
    created = subprocess.run(
        [
            *_faceprint(),
            "keys",
            "create",
            "e2e",
            "--scope",
            "*:write",
            "--keys",
            str(keys),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, f"keys create failed:\n{created.stdout}\n{created.stderr}"
    token = json.loads(created.stdout)["token"]
    assert token.startswith("fp_")

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *_faceprint(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--gallery",
                str(gallery),
                "--keys",
                str(keys),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"faceprint serve exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=2) as r:
                    health = json.load(r)
                if health.get("status") == "ok":
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"faceprint serve not ready after {SERVER_START_TIMEOUT_S} s:\n{_tail(log)}"
                )
            time.sleep(0.25)
        yield base, token, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _wait(page, condition_js: str, what: str, log: Path) -> None:
    """Wait until ``condition_js`` holds or the page's status area shows an error."""
    page.wait_for_function(
        f"() => document.querySelector('#status.status-error') !== null || ({condition_js})",
        timeout=STEP_TIMEOUT_MS,
    )
    status = page.locator("#status")
    if "status-error" in (status.get_attribute("class") or ""):
        pytest.fail(f"the page showed an error while {what}: {status.text_content()}\n{_tail(log)}")


def _screenshot_path(tmp_path: Path) -> Path:
    if os.environ.get("FACEPRINT_SAVE_SCREENSHOT") == "1":
        path = REPO / "docs" / "screenshots" / "service-search.png"
    else:
        path = tmp_path / "service-search.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_enroll_and_search_in_the_browser(server, sync_playwright, tmp_path: Path) -> None:
    base, token, log = server
    page_errors: list[str] = []
    dialogs: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: page_errors.append(str(e)))

            def on_dialog(dialog) -> None:
                dialogs.append(f"{dialog.type}: {dialog.message}")
                if dialog.type == "confirm":
                    dialog.accept()
                else:
                    dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(base + "/")
            assert page.title() == "faceprint"

            # The key.
            page.fill("#api-key", token)
            page.click("#save-key")
            _wait(
                page, "document.querySelector('#status.status-ok') !== null", "using the key", log
            )
            assert page.evaluate("sessionStorage.getItem('faceprint.apiKey')") == token

            # A collection.
            page.fill("#new-collection", "e2e")
            page.click("#create-collection")
            _wait(
                page,
                "document.getElementById('collection-select').value === 'e2e'",
                "creating the collection",
                log,
            )

            # Two people.
            for person in PEOPLE:
                images = _images(person)
                page.fill("#person-name", person)
                page.set_input_files("#enroll-files", [str(p) for p in images])
                page.click("#enroll-button")
                _wait(
                    page,
                    f"document.querySelector('#persons-list li[data-person-id=\"{person}\"]') !== null"
                    " && document.querySelector('#status.status-ok') !== null",
                    f"enrolling {person}",
                    log,
                )
                result = page.locator("#enroll-result").inner_text()
                for img in images:
                    assert img.name in result, result
                assert "accepted" in result, result

            persons = page.locator("#persons-list li[data-person-id]")
            assert sorted(
                persons.evaluate_all("els => els.map(e => e.dataset.personId)")
            ) == sorted(PEOPLE)
            persons_text = page.locator("#persons-list").inner_text()
            for person in PEOPLE:
                assert person in persons_text
            assert "face" in persons_text

            # A search with both of them in one photo.
            page.set_input_files("#search-file", str(GROUP))
            page.click("#search-button")
            _wait(
                page,
                "document.querySelectorAll('#search-result li').length > 0"
                " && document.querySelector('#status.status-ok') !== null",
                "searching",
                log,
            )
            lines = page.locator("#search-result li").all_inner_texts()
            text = "\n".join(lines)
            for person in PEOPLE:
                assert person in text, text
            known = page.locator("#search-result li[data-decision='known']").all_inner_texts()
            for person in PEOPLE:
                assert any(person in line for line in known), text
            assert all("similarity" in line and "threshold" in line for line in known), text
            canvas = page.evaluate(
                "(() => { const c = document.getElementById('search-canvas');"
                " return [c.width, c.height]; })()"
            )
            assert 0 < canvas[0] <= 720 and canvas[1] > 0, canvas

            page.screenshot(path=str(_screenshot_path(tmp_path)), full_page=True)

            # A wrong key: the service's error is shown and the page asks for a key.
            page.fill("#api-key", "fp_nosuchkey_0000")
            page.click("#refresh-collections")
            page.wait_for_selector("#status.status-error", timeout=STEP_TIMEOUT_MS)
            status = page.locator("#status").inner_text()
            assert ": " in status and status.split(":")[0].strip(), status
            assert any(d.startswith("prompt") for d in dialogs), dialogs
        finally:
            browser.close()

    assert not page_errors, page_errors
