"""What the web-page tests share: headless Chromium, and a real `faceprint serve` with a
real key on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.shared_paths import MODELS

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
SERVER_START_TIMEOUT_S = 60.0


def faceprint_command() -> list[str]:
    """The `faceprint` console script, as the installed entry point runs it."""
    script = Path(sys.executable).with_name("faceprint")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from faceprint.cli.main import main; main()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no server log)"


def playwright_or_skip():  # type: ignore[no-untyped-def]
    """Playwright's ``sync_playwright``, or skip the test when Chromium or Playwright is
    missing."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"playwright is not importable: {e}")
    return sync_playwright


def server_env(base_temp: Path) -> dict[str, str]:
    """The caller's environment with the shared models, offline, a test home and no
    gallery or clustering folder inherited."""
    env = dict(os.environ)
    env.setdefault("FACEPRINT_MODEL_MIRROR", str(MODELS))
    env.setdefault("FACEPRINT_OFFLINE", "1")
    env.setdefault("FACEPRINT_HOME", str(base_temp / "e2e-home"))
    env.pop("FACEPRINT_GALLERY", None)
    env.pop("FACEPRINT_PEOPLE", None)
    return env


@contextmanager
def running_server(
    tmp_path: Path, env: dict[str, str], serve_args: Sequence[str]
) -> Iterator[tuple[str, str, Path]]:
    """`faceprint serve SERVE_ARGS` on a free port with one `*:write` key; yields
    (base url, key, server log) once it answers its health check."""
    keys = tmp_path / "keys.db"
    created = subprocess.run(
        [
            *faceprint_command(),
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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *faceprint_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--keys",
                str(keys),
                *serve_args,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"faceprint serve exited with {proc.returncode}:\n{tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=2) as r:
                    if json.load(r).get("status") == "ok":
                        break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"faceprint serve not ready after {SERVER_START_TIMEOUT_S} s:\n{tail(log)}"
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


def wait_for(page, condition_js: str, what: str, log: Path, *, timeout_ms: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``condition_js`` holds or the page's status area shows an error."""
    page.wait_for_function(
        f"() => document.querySelector('#status.status-error') !== null || ({condition_js})",
        timeout=timeout_ms,
    )
    status = page.locator("#status")
    if "status-error" in (status.get_attribute("class") or ""):
        pytest.fail(f"the page showed an error while {what}: {status.text_content()}\n{tail(log)}")


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a test's screenshot goes: ``docs/screenshots/NAME`` when
    ``FACEPRINT_SAVE_SCREENSHOT=1`` (to refresh the docs), else the test's temp folder."""
    if os.environ.get("FACEPRINT_SAVE_SCREENSHOT") == "1":
        path = REPO / "docs" / "screenshots" / name
    else:
        path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def launch(pw):  # type: ignore[no-untyped-def]
    """Headless Chromium from a Playwright session."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
