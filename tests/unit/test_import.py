"""`import faceprint` does no I/O, loads no model and imports no runtime."""

from __future__ import annotations

import subprocess
import sys


def test_import_has_no_side_effects(tmp_path):
    code = (
        "import sys, os, builtins\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "def spy(f, *a, **k):\n"
        "    opened.append(str(f)); return real_open(f, *a, **k)\n"
        "builtins.open = spy\n"
        "import faceprint\n"
        "heavy = [m for m in ('onnxruntime', 'openvino', 'cv2', 'typer', 'rich', 'onnx', 'PIL') if m in sys.modules]\n"
        "print(repr((heavy, opened, sorted(os.listdir('.')))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    heavy, opened, listing = eval(out.stdout.strip())
    assert heavy == []
    assert opened == []
    assert listing == []


def test_public_names_resolve_lazily():
    import faceprint

    assert "FacePipeline" in dir(faceprint)
    assert faceprint.FacePipeline.__name__ == "FacePipeline"
    try:
        faceprint.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("unknown attribute should raise")


def test_every_result_type_and_error_is_public():
    import dataclasses
    import importlib

    import faceprint
    from faceprint import errors

    result_modules = [
        "faceprint.types",
        "faceprint.batch",
        "faceprint.recognition.results",
        "faceprint.recognition.layout",
        "faceprint.recognition.claims",
        "faceprint.gallery.records",
        "faceprint.gallery.archive.writer",
        "faceprint.gallery.archive.importer",
        "faceprint.eval.embedding",
        "faceprint.eval.lfw",
        "faceprint.eval.identification",
        "faceprint.eval.quality",
        "faceprint.eval.liveness",
        "faceprint.eval.degrade",
        "faceprint.eval.robustness",
        "faceprint.core.degradation",
        "faceprint.core.restoration",
        "faceprint.eval.cluster",
    ]
    missing = []
    for name in result_modules:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            public = not attr.startswith("_") and getattr(value, "__module__", "") == name
            if public and dataclasses.is_dataclass(value) and attr not in faceprint.__all__:
                missing.append(f"{name}.{attr}")
    for attr, value in vars(errors).items():
        is_error = isinstance(value, type) and issubclass(value, Exception)
        if is_error and attr not in faceprint.__all__:
            missing.append(f"faceprint.errors.{attr}")
    assert missing == []
    for name in faceprint.__all__:
        assert getattr(faceprint, name) is not None, name
