"""Real models on real faces: detection, verification, identification."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.shared_paths import LFW, SAMPLES

from faceprint.errors import ModelMismatchError, NoFaceError
from faceprint.gallery import Gallery
from faceprint.media.images import decode_image, load_image
from faceprint.recognition import enroll_tree, identify_faces

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gallery(pipeline):
    with Gallery.open(":memory:", model_id=pipeline.model_id) as g:
        report = enroll_tree(pipeline, g, SAMPLES / "known")
        assert report.skipped == ()
        assert report.persons == [
            "alex_lacamoire",
            "barack_obama",
            "joe_biden",
            "kit_harington",
            "lin_manuel_miranda",
            "rose_leslie",
        ]
        yield g


def _people_left_to_right(pipeline, gallery, path):
    found = identify_faces(pipeline, gallery, load_image(path))
    found.sort(key=lambda f: f.face.detection.bbox_xyxy[0])
    return found


def test_two_people_are_obama_then_biden(pipeline, gallery):
    found = _people_left_to_right(pipeline, gallery, SAMPLES / "groups" / "two_people.jpg")
    assert [f.identification.person for f in found] == ["barack_obama", "joe_biden"]
    for f in found:
        ident = f.identification
        assert ident.best is not None
        assert ident.best.similarity >= ident.threshold.similarity
        assert ident.threshold.source == "fpir"
        assert ident.threshold.fpir == pytest.approx(0.01)
        assert ident.threshold.gallery_size == gallery.size()


def test_kit_with_rose_is_rose_then_kit(pipeline, gallery):
    found = _people_left_to_right(pipeline, gallery, SAMPLES / "probes" / "kit_with_rose.jpg")
    assert [f.identification.person for f in found] == ["rose_leslie", "kit_harington"]


@pytest.mark.parametrize(
    ("probe", "person"),
    [
        ("obama1.jpg", "barack_obama"),
        ("obama3.jpg", "barack_obama"),
        ("alex_lacamoire1.jpg", "alex_lacamoire"),
        ("alex-lacamoire.png", "alex_lacamoire"),
        ("johnsnow_test1.jpg", "kit_harington"),
    ],
)
def test_single_probe_identified(pipeline, gallery, probe, person):
    found = identify_faces(pipeline, gallery, load_image(SAMPLES / "probes" / probe))
    assert person in [f.identification.person for f in found]


def test_obama_and_biden_photo_contains_both(pipeline, gallery):
    found = identify_faces(
        pipeline, gallery, load_image(SAMPLES / "probes" / "obama_and_biden.jpg")
    )
    assert {"barack_obama", "joe_biden"} <= {f.identification.person for f in found}


def test_verify_same_and_different_people(pipeline):
    obama1 = pipeline.primary_face(load_image(SAMPLES / "probes" / "obama1.jpg"))
    obama3 = pipeline.primary_face(load_image(SAMPLES / "probes" / "obama3.jpg"))
    faces = pipeline.analyze(load_image(SAMPLES / "groups" / "two_people.jpg"))
    faces.sort(key=lambda f: f.detection.bbox_xyxy[0])
    obama, biden = faces
    same = pipeline.verify(obama1, obama3)
    assert same.is_match and same.similarity > 0.5
    assert same.threshold.fmr == pytest.approx(1e-3)
    different = pipeline.verify(obama, biden)
    assert not different.is_match
    assert different.similarity < different.threshold.similarity
    assert pipeline.verify(obama1, obama).is_match


def test_embeddings_are_unit_128d_and_deterministic(pipeline):
    image = load_image(SAMPLES / "probes" / "obama1.jpg")
    a = pipeline.primary_face(image).embedding
    b = pipeline.primary_face(image).embedding
    assert a.model_id == "sface" and a.dimension == 128
    assert np.linalg.norm(a.vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)


def test_fused_template_cosine_is_mean_of_component_cosines(store, fused_pipeline):
    from faceprint.config import PipelineConfig
    from faceprint.pipeline import FacePipeline

    reid = FacePipeline.from_config(PipelineConfig(embedder="reid-0095"), store=store)
    sface = FacePipeline.from_config(PipelineConfig(embedder="sface"), store=store)
    imgs = [load_image(SAMPLES / "probes" / n) for n in ("obama1.jpg", "obama3.jpg")]
    sims, firsts = {}, {}
    for name, pipe in (("fused", fused_pipeline), ("reid", reid), ("sface", sface)):
        fa, fb = (pipe.primary_face(i) for i in imgs)
        sims[name] = pipe.similarity(fa.embedding, fb.embedding)
        firsts[name] = fa.embedding
    assert firsts["fused"].dimension == 384
    assert np.linalg.norm(firsts["fused"].vector) == pytest.approx(1.0, abs=1e-5)
    assert sims["fused"] == pytest.approx(0.5 * (sims["sface"] + sims["reid"]), abs=1e-4)
    with pytest.raises(ModelMismatchError):
        fused_pipeline.similarity(firsts["fused"], firsts["sface"])


def test_every_sample_face_is_found(pipeline):
    counts = {
        p.name: len(pipeline.detect(load_image(p))) for p in sorted((SAMPLES / "groups").iterdir())
    }
    assert counts["two_people.jpg"] == 2
    assert counts["t1.jpg"] == 6
    assert counts["multiface.jpg"] == 6


def test_no_face_is_a_typed_error(pipeline):
    blank = np.full((240, 320, 3), 127, np.uint8)
    assert pipeline.detect(blank) == []
    with pytest.raises(NoFaceError):
        pipeline.primary_face(blank)


def test_exif_rotated_photo_gives_boxes_in_upright_image(pipeline):
    path = SAMPLES / "probes" / "obama1.jpg"
    upright = load_image(path)
    # Store the pixels rotated 90° clockwise with EXIF orientation 8 ("rotate 90° CCW to view").
    rotated = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    rotated.save(buf, format="JPEG", quality=95, exif=exif)
    decoded = decode_image(buf.getvalue())
    assert decoded.exif_rotated
    assert decoded.pixels.shape == upright.shape
    box_a = pipeline.primary_face(upright).detection.bbox_xyxy
    box_b = pipeline.primary_face(decoded.pixels).detection.bbox_xyxy
    np.testing.assert_allclose(box_a, box_b, atol=6.0)


def test_lfw_fold_accuracy_at_calibrated_threshold(pipeline):
    """First fold of LFW View 2 (600 pairs) at the catalog's FMR 1e-3 threshold."""
    from faceprint.eval.datasets import read_pairs

    pairs = [p for p in read_pairs(LFW / "pairs.txt", root=LFW / "images") if p.fold == 0]
    cache = {}
    for p in pairs:
        for path in (p.path_a, p.path_b):
            if path not in cache:
                cache[path] = pipeline.primary_face(load_image(path))
    threshold = pipeline.verification_threshold().similarity
    correct = sum(
        pipeline.verify(cache[p.path_a], cache[p.path_b]).is_match == p.same for p in pairs
    )
    accuracy = correct / len(pairs)
    # FMR 1e-3 is a strict operating point: few false matches, some false non-matches.
    assert accuracy >= 0.97, (accuracy, threshold)
    false_matches = sum(
        pipeline.verify(cache[p.path_a], cache[p.path_b]).is_match for p in pairs if not p.same
    )
    assert false_matches <= 3


@pytest.mark.slow
def test_every_lfw_pair_image_yields_a_face(pipeline):
    """All 7,701 images of the LFW View-2 pairs give a face (detection + landmarks)."""
    from faceprint.eval.datasets import pair_images, read_pairs

    paths = pair_images(read_pairs(LFW / "pairs.txt", root=LFW / "images"))
    assert len(paths) == 7701
    missing = [str(p) for p in paths if not pipeline.detect(load_image(p))]
    assert missing == []


def test_catalog_calibrations_cover_fmr_1e6():
    from faceprint.models.card import load_catalog

    catalog = load_catalog()
    for name in ("sface", "reid-0095", "sface+reid-0095"):
        curve = catalog[name].calibration
        assert curve is not None, name
        assert curve.impostor_pairs > 29_000_000
        assert curve.fmr_range[0] == pytest.approx(1e-6)
        # thresholds rise as the FMR falls, and sit where cosine thresholds of these models live
        assert 0.25 < curve.threshold_for_fmr(1e-3) < 0.45
        assert curve.threshold_for_fmr(1e-6) > curve.threshold_for_fmr(1e-3)
