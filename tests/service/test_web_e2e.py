"""The web page end to end: a real `faceprint serve`, a real key, headless Chromium.

A user's path through the page: enter the key, create a collection, enroll two people
from the sample photos, search a group photo and read the names off the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.service.browser import (
    launch,
    playwright_or_skip,
    running_server,
    screenshot_path,
    server_env,
    wait_for,
)
from tests.shared_paths import SAMPLES

pytestmark = pytest.mark.integration

KNOWN = SAMPLES / "known"
GROUP = SAMPLES / "groups" / "two_people.jpg"
PEOPLE = ("barack_obama", "joe_biden")
STEP_TIMEOUT_MS = 120_000  # the first enrollment loads the models on a CPU


def _images(person: str) -> list[Path]:
    return sorted(p for p in (KNOWN / person).iterdir() if p.is_file())


@pytest.fixture()
def sync_playwright():
    found = playwright_or_skip()
    if not GROUP.is_file() or not all((KNOWN / p).is_dir() for p in PEOPLE):
        pytest.skip(f"sample faces not found under {SAMPLES}")
    return found


@pytest.fixture()
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return server_env(tmp_path_factory.getbasetemp())


@pytest.fixture()
def server(tmp_path: Path, env: dict[str, str], sync_playwright):
    """A `faceprint serve` on a free port with one `*:write` key; yields (base url, key,
    log)."""
    with running_server(tmp_path, env, ["--gallery", str(tmp_path / "gallery.db")]) as running:
        yield running


def _wait(page, condition_js: str, what: str, log: Path) -> None:
    wait_for(page, condition_js, what, log, timeout_ms=STEP_TIMEOUT_MS)


def test_enroll_and_search_in_the_browser(server, sync_playwright, tmp_path: Path) -> None:
    base, token, log = server
    page_errors: list[str] = []
    dialogs: list[str] = []

    with sync_playwright() as pw:
        browser = launch(pw)
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

            page.screenshot(
                path=str(screenshot_path(tmp_path, "service-search.png")), full_page=True
            )

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
