"""Install the built wheel as a user would, in fresh virtual environments.

1. ``pip install faceprint-*.whl`` — the lean library: no web, video, CLI or plotting
   stack is installed, ``import faceprint`` works and verifies two real faces with the
   models from the mirror, and the ``faceprint`` command says which extra it needs.
2. ``pip install 'faceprint[all]'`` from the same wheel — every extra importable, the
   CLI lists every command and detects faces.

    python tools/wheel_smoke.py [--shared ../shared] [--keep DIR]

Needs the package index (or a pip cache) for the dependencies; CI runs it after
``make test``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("fastapi", "starlette", "uvicorn", "pydantic", "av", "lap", "typer", "rich", "matplotlib")

CORE_CHECK = """
import importlib.util, sys
import faceprint
present = [m for m in {heavy!r} if importlib.util.find_spec(m) is not None]
assert not present, f"the core install pulled in {{present}}"
from faceprint import FacePipeline, ModelStore, StoreConfig, load_image
store = ModelStore(StoreConfig(home={home!r}, mirror={mirror!r}, offline=True))
pipeline = FacePipeline.from_config(store=store)
a = pipeline.primary_face(load_image({a!r}))
b = pipeline.primary_face(load_image({b!r}))
result = pipeline.verify(a, b)
assert result.is_match, result
from faceprint.config import PipelineConfig
fair = FacePipeline.from_config(PipelineConfig(fairness="sface-gender-thresholds"), store=store)
assert fair.verify(a, b).is_match  # the packaged score adjusters ship in the wheel
print(f"core: verify similarity {{result.similarity:.3f}} (match), no extras installed")
"""

ALL_CHECK = """
import importlib
for name in {heavy!r}:
    importlib.import_module(name)
print("all: every extra imports")
"""


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    shown = ["-c <script>" if a == "-c" else str(a) for a in args if not str(a).startswith("\n")]
    print("$", " ".join(shown), flush=True)
    return subprocess.run([str(a) for a in args], env=env, text=True, capture_output=True)


def check(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        sys.stdout.write(result.stdout + result.stderr)
        raise SystemExit(f"failed with exit code {result.returncode}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="faceprint-wheel-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dist = work / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        check(run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT))
        (wheel,) = dist.glob("faceprint-*.whl")
        venv = work / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        check(run(sys.executable, "-m", "venv", venv))
        python, faceprint = venv / "bin" / "python", venv / "bin" / "faceprint"
        check(run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel))
        samples = args.shared / "datasets" / "samples"
        env = {**os.environ, "FACEPRINT_MODEL_MIRROR": str(args.shared / "models")}
        env |= {"FACEPRINT_OFFLINE": "1", "FACEPRINT_HOME": str(work / "home")}
        script = CORE_CHECK.format(
            heavy=HEAVY,
            home=str(work / "home"),
            mirror=str(args.shared / "models"),
            a=str(samples / "probes" / "obama1.jpg"),
            b=str(samples / "probes" / "obama3.jpg"),
        )
        print(check(run(python, "-c", script, env=env)), end="")
        bare = run(faceprint, "--version", env=env)
        assert bare.returncode == 1 and "faceprint[cli]" in bare.stderr, bare
        print("core: the faceprint command asks for the [cli] extra")

        check(
            run(
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"faceprint[all] @ {wheel.as_uri()}",
            )
        )
        print(check(run(python, "-c", ALL_CHECK.format(heavy=HEAVY))), end="")
        assert check(run(faceprint, "--version", env=env)).startswith("faceprint ")
        listing = check(run(python, "-m", "faceprint", "--help", env=env))
        for name in ("enroll", "identify", "gallery", "eval", "serve", "keys", "video"):
            assert name in listing, name
        found = check(
            run(
                faceprint, "-q", "detect", samples / "groups" / "two_people.jpg", "--jsonl", env=env
            )
        )
        assert '"faces"' in found, found
        print("all: faceprint --version, --help and detect work")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
