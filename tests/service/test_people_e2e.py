"""The web page's People tab end to end: a real `faceprint serve --people`, headless Chromium.

A user's path: cluster the sample photos of known people, open the People tab, find the
card holding Obama's photos, name it, enroll the named clusters, then search a photo of
Obama that was never clustered with the Gallery tab's search and read the name.
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
PROBE = SAMPLES / "probes" / "obama1.jpg"
STEP_TIMEOUT_MS = 60_000
PERSON = "Barack Obama"


@pytest.fixture()
def sync_playwright():
    found = playwright_or_skip()
    if not PROBE.is_file() or not (KNOWN / "barack_obama").is_dir():
        pytest.skip(f"sample faces not found under {SAMPLES}")
    return found


@pytest.fixture()
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return server_env(tmp_path_factory.getbasetemp())


@pytest.fixture()
def clustering(sync_playwright, tmp_path: Path, pipeline) -> Path:
    """The photos of known people (not the probes) clustered into a folder."""
    from faceprint.people import cluster_photos

    folder = tmp_path / "people"
    cluster_photos(pipeline, [KNOWN], folder, sheets=False)
    return folder


@pytest.fixture()
def server(tmp_path: Path, env: dict[str, str], clustering: Path):
    """`faceprint serve --people` on a free port with one `*:write` key; yields
    (base url, key, log)."""
    args = ["--gallery", str(tmp_path / "gallery.db"), "--people", str(clustering)]
    with running_server(tmp_path, env, args) as running:
        yield running


def _wait(page, condition_js: str, what: str, log: Path) -> None:
    wait_for(page, condition_js, what, log, timeout_ms=STEP_TIMEOUT_MS)


STATUS_OK = "document.querySelector('#status.status-ok') !== null"
OBAMA_CARD = '#people-clusters li.cluster-card:has(li.face[data-photo="barack_obama/obama.jpg"])'


def test_name_enroll_and_search_on_the_people_tab(server, sync_playwright, tmp_path: Path) -> None:
    base, token, log = server
    page_errors: list[str] = []

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(base + "/")
            page.fill("#api-key", token)
            page.click("#save-key")
            _wait(page, STATUS_OK, "using the key", log)

            # The People tab lists the clusters, with thumbnails.
            page.click("#tab-people")
            assert page.get_attribute("#tab-people", "aria-selected") == "true"
            assert page.locator("#panel-gallery").is_hidden()
            _wait(
                page,
                "document.querySelectorAll('#people-clusters li.cluster-card').length > 0"
                f" && {STATUS_OK}",
                "loading the clusters",
                log,
            )
            card = page.locator(OBAMA_CARD)
            assert card.count() == 1
            assert "unnamed" in card.locator(".cluster-name").inner_text()
            photos = card.locator("li.face").evaluate_all("els => els.map(e => e.dataset.photo)")
            assert sorted(photos) == ["barack_obama/obama.jpg", "barack_obama/obama2.jpg"]
            page.wait_for_function(
                "(sel) => { const i = document.querySelector(sel + ' .cluster-toggle img');"
                " return i && i.complete && i.naturalWidth === 112; }",
                arg=OBAMA_CARD,
                timeout=STEP_TIMEOUT_MS,
            )

            # Expanding shows the member thumbnails.
            toggle = card.locator(".cluster-toggle")
            toggle.click()
            assert toggle.get_attribute("aria-expanded") == "true"
            assert card.locator(".cluster-faces").is_visible()
            page.wait_for_function(
                "(sel) => Array.from(document.querySelectorAll(sel + ' li.face img'))"
                ".every(i => i.complete && i.naturalWidth === 112)",
                arg=OBAMA_CARD,
                timeout=STEP_TIMEOUT_MS,
            )

            # Name it.
            card.locator("input.cluster-name-input").fill(PERSON)
            card.locator("button.cluster-name-button").click()
            _wait(
                page,
                f"document.querySelector('#status').textContent.includes('is {PERSON}')"
                f" && {STATUS_OK}",
                "naming the cluster",
                log,
            )
            card = page.locator(OBAMA_CARD)  # re-rendered, still expanded
            assert card.locator(".cluster-name").inner_text() == PERSON
            assert "reviewed" in card.inner_text()
            first = page.locator("#people-clusters li.cluster-card").first
            assert first.get_attribute("data-cluster-id") == card.get_attribute("data-cluster-id")

            # Enroll the named clusters.
            assert page.input_value("#people-collection") == "default"
            page.click("#people-enroll")
            _wait(
                page,
                "document.querySelectorAll('#people-enroll-result li').length > 0"
                " && document.querySelector('#status').textContent.includes('Enrolled')"
                f" && {STATUS_OK}",
                "enrolling",
                log,
            )
            result = page.locator("#people-enroll-result").inner_text()
            assert f"{PERSON}" in result and "2 faces added" in result, result
            assert "2 faces added" in page.locator("#status").inner_text()
            page.screenshot(
                path=str(screenshot_path(tmp_path, "service-people.png")), full_page=True
            )

            # Search a photo that was never clustered, on the Gallery tab.
            page.click("#tab-gallery")
            assert page.locator("#panel-people").is_hidden()
            assert page.input_value("#collection-select") == "default"
            page.set_input_files("#search-file", str(PROBE))
            page.click("#search-button")
            _wait(
                page,
                "document.querySelectorAll('#search-result li').length > 0"
                " && document.querySelector('#status').textContent.startsWith('Searched')",
                "searching",
                log,
            )
            known = page.locator("#search-result li[data-decision='known']").all_inner_texts()
            assert len(known) == 1 and PERSON in known[0], known
            persons = page.locator("#persons-list li[data-person-id]")
            assert persons.evaluate_all("els => els.map(e => e.dataset.personId)") == [PERSON]
        finally:
            browser.close()

    assert not page_errors, page_errors
