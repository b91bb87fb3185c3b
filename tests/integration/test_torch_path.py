"""The PyTorch (GPU) path: same numbers as the CPU runtimes, run on the CPU here; the
CUDA tests run only where PyTorch sees a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.shared_paths import LFW, SAMPLES

from faceprint.config import PipelineConfig
from faceprint.media.images import load_image
from faceprint.models.runtime import (
    OnnxRuntimeSession,
    OpenVINOSession,
    TorchSession,
    cuda_available,
)
from faceprint.pipeline import FacePipeline

pytestmark = pytest.mark.integration
torch = pytest.importorskip("torch")

MODELS = ("landmarks-0009", "sface", "reid-0095")  # YuNet: compared as a detector below


def _reference(path: Path):
    if path.suffix == ".xml":
        return OpenVINOSession(path)  # f32 (the card's precision is not applied here)
    return OnnxRuntimeSession(path)


@pytest.mark.parametrize("name", MODELS)
def test_torch_session_matches_cpu_runtime(store, name):
    path = store.ensure(name)
    card = store.catalog[name]
    x = np.random.default_rng(0).uniform(0, 255, (4, 3, card.input.height, card.input.width))
    x = x.astype(np.float32)
    got = TorchSession(path, device="cpu").run(x)[0].reshape(4, -1)
    want = _reference(path).run(x)[0].reshape(4, -1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def torch_pipeline(store):
    return FacePipeline.from_config(PipelineConfig(device="torch-cpu"), store=store)


def test_torch_path_pipeline_agrees_with_cpu_on_lfw_pairs(pipeline, torch_pipeline):
    """First 60 pairs of LFW fold 1: same decisions, similarities within 0.01."""
    from faceprint.eval.datasets import read_pairs

    pairs = [p for p in read_pairs(LFW / "pairs.txt", root=LFW / "images") if p.fold == 0]
    pairs = pairs[:30] + pairs[300:330]
    for p in pairs:
        a, b = load_image(p.path_a), load_image(p.path_b)
        cpu = pipeline.verify(pipeline.primary_face(a), pipeline.primary_face(b))
        gpu = torch_pipeline.verify(torch_pipeline.primary_face(a), torch_pipeline.primary_face(b))
        assert abs(cpu.similarity - gpu.similarity) < 0.01, p
        assert cpu.is_match == gpu.is_match == p.same, p


def test_torch_path_identifies_two_people(torch_pipeline):
    faces = torch_pipeline.analyze(load_image(SAMPLES / "groups" / "two_people.jpg"))
    assert len(faces) == 2
    assert all(abs(np.linalg.norm(f.embedding.vector) - 1) < 1e-5 for f in faces)


@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")
@pytest.mark.parametrize("half", [False, True])
def test_cuda_session_matches_cpu_runtime(store, half):
    path = store.ensure("sface")
    x = np.random.default_rng(0).uniform(0, 255, (64, 3, 112, 112)).astype(np.float32)
    got = TorchSession(path, device="cuda", half=half).run(x)[0]
    want = OnnxRuntimeSession(path).run(x)[0]
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() > (0.999 if half else 0.99999)


@pytest.mark.parametrize(
    "image",
    [
        "groups/t1.jpg",
        "groups/two_people.jpg",
        "probes/obama_and_biden.jpg",
        "probes/kit_with_rose.jpg",
    ],
)
def test_torch_yunet_matches_opencv_detector(pipeline, torch_pipeline, image):
    """YuNet as a torch graph + our head decoding + NMS = OpenCV's FaceDetectorYN."""
    pixels = load_image(SAMPLES / image)
    cpu = pipeline.detector.detect(pixels)
    gpu = torch_pipeline.detector.detect(pixels)
    assert len(cpu) == len(gpu) >= 1
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a.bbox_xyxy, b.bbox_xyxy, atol=0.05)
        np.testing.assert_allclose(a.landmarks_5, b.landmarks_5, atol=0.05)
        assert a.score == pytest.approx(b.score, abs=1e-4)
