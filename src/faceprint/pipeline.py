"""FacePipeline: detect → refine landmarks → align → embed, and 1:1 decisions.

The pipeline composes backends built from model cards; it never touches the gallery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from faceprint.backends.omz_attributes import OMZAttributes
from faceprint.backends.protocols import Detector, Embedder, LandmarkRefiner, LivenessDetector
from faceprint.backends.registry import (
    build_attributes,
    build_detector,
    build_embedder,
    build_landmarks,
    build_liveness,
)
from faceprint.config import PipelineConfig
from faceprint.core.align import align
from faceprint.core.boxes import primary_face_index
from faceprint.core.calibration import CalibrationCurve
from faceprint.core.cancelable import PLAIN, TemplateKey
from faceprint.core.degradation import assess_degradation
from faceprint.core.quality import QualityPolicy, assess, with_degradation
from faceprint.core.restoration import RestorationPolicy, detection_retries, restore_face
from faceprint.core.score_adjust import ScoreAdjuster
from faceprint.decisions import Decisions
from faceprint.errors import ConfigError, MultipleFacesError, NoFaceError
from faceprint.models.card import Catalog, ModelCard, load_catalog
from faceprint.models.runtime import resolve_device
from faceprint.models.store import ModelStore
from faceprint.types import (
    Attributes,
    DegradationReport,
    Detection,
    Embedding,
    Face,
    ImageArray,
    Liveness,
    Quality,
)

log = logging.getLogger(__name__)


class FacePipeline(Decisions):
    """Find faces and map each to a unit embedding.

    Build one with :meth:`from_config` (real models through the store) or pass backends
    directly (e.g. the fakes in :mod:`faceprint.testing`).
    """

    def __init__(
        self,
        *,
        detector: Detector,
        embedder: Embedder,
        landmarks: LandmarkRefiner | None = None,
        calibration: CalibrationCurve | None = None,
        liveness: Callable[[], LivenessDetector] | LivenessDetector | None = None,
        attributes: Callable[[], OMZAttributes] | None = None,
        restoration: RestorationPolicy | None = None,
        templates: TemplateKey | None = None,
        score_adjuster: ScoreAdjuster | None = None,
    ) -> None:
        self.detector = detector
        self.score_adjuster = score_adjuster  # fairness post-processing (core.score_adjust)
        self.templates = templates or PLAIN  # a key: cancelable templates (core.cancelable)
        self.restoration = restoration
        self.embedder = embedder
        self.landmarks = landmarks
        self.calibration = calibration
        self._liveness: LivenessDetector | None = None
        self._liveness_factory: Callable[[], LivenessDetector] | None = None
        if isinstance(liveness, LivenessDetector):
            self._liveness = liveness
        else:
            self._liveness_factory = liveness
        self._attributes: OMZAttributes | None = None
        self._attributes_factory = attributes

    @classmethod
    def from_config(
        cls,
        config: PipelineConfig | None = None,
        *,
        store: ModelStore,
        catalog: Catalog | None = None,
        accept_licence: bool = False,
        templates: TemplateKey | None = None,
    ) -> FacePipeline:
        """Build the pipeline named by ``config`` (default: the permissive default models).

        Model files are fetched and verified through ``store``.

        Raises:
            faceprint.errors.ModelError: a model is unknown, unavailable, fails its
                checksum, needs a licence opt-in, or fails to load.
            faceprint.errors.ConfigError: a model of the wrong task was named.
        """
        config = config or PipelineConfig()
        config = replace(config, device=resolve_device(config.device))
        catalog = catalog or load_catalog()

        def path_for(card: ModelCard) -> Path:
            return store.ensure(card.name, accept_licence=accept_licence)

        cache_dir = store.session_cache_dir  # compiled models, reused by later processes
        detector = build_detector(catalog[config.detector], path_for, config=config)
        refiner = (
            build_landmarks(catalog[config.landmarks], path_for, config=config, cache_dir=cache_dir)
            if config.landmarks
            else None
        )
        embed_card = catalog[config.embedder]
        embedder = build_embedder(
            embed_card, path_for, catalog=catalog, config=config, cache_dir=cache_dir
        )
        log.info(
            "pipeline: detector=%s landmarks=%s embedder=%s",
            config.detector,
            config.landmarks,
            config.embedder,
        )

        def liveness() -> LivenessDetector:
            cards = [catalog[name] for name in config.liveness_models]
            return build_liveness(cards, path_for, config=config, cache_dir=cache_dir)

        def attributes() -> OMZAttributes:
            cards = [catalog[name] for name in config.attribute_models]
            return build_attributes(cards, path_for, config=config, cache_dir=cache_dir)

        adjuster = None
        if config.fairness:
            from faceprint.models.adjusters import pipeline_adjuster

            adjuster = pipeline_adjuster(
                config.fairness, model_id=embedder.model_id, templates=templates is not None
            )
        return cls(
            detector=detector,
            embedder=embedder,
            landmarks=refiner,
            calibration=embed_card.calibration,
            liveness=liveness,
            attributes=attributes,
            restoration=RestorationPolicy() if config.restore else None,
            templates=templates,
            score_adjuster=adjuster,
        )

    @property
    def attribute_estimator(self) -> OMZAttributes:
        """Age/gender, expression and head-pose models, built on first use.

        Raises:
            ConfigError: the pipeline was built without them.
        """
        if self._attributes is None:
            if self._attributes_factory is None:
                raise ConfigError("this pipeline has no attribute models; use from_config")
            self._attributes = self._attributes_factory()
        return self._attributes

    @property
    def liveness_detector(self) -> LivenessDetector:
        """The presentation-attack detector, built on first use.

        Raises:
            ConfigError: the pipeline was built without one.
        """
        if self._liveness is None:
            if self._liveness_factory is None:
                raise ConfigError(
                    "this pipeline has no liveness models; pass liveness= or use from_config"
                )
            self._liveness = self._liveness_factory()
        return self._liveness

    @property
    def model_id(self) -> str:
        """The embedding space of this pipeline's embeddings."""
        return self.templates.model_id(self.embedder.model_id)

    # --- detection -------------------------------------------------------------------

    def detect(self, image: ImageArray) -> list[Detection]:
        """Faces in an H×W×3 RGB uint8 image with (refined) landmarks, best score first."""
        return self.detect_batch([image])[0]

    # --- embedding -------------------------------------------------------------------

    def _embed(self, items: Sequence[tuple[ImageArray, Detection]]) -> list[Face]:
        return self._embed_reporting(items, resolution=False)[0]

    def _embed_reporting(
        self, items: Sequence[tuple[ImageArray, Detection]], *, resolution: bool
    ) -> tuple[list[Face], list[DegradationReport | None]]:
        """Embed faces (each from its restored region where the policy calls for it)
        and return each face's degradation report (``None`` when none was measured)."""
        sources, reports = self._restored(items, resolution=resolution)
        vectors = self.templates.apply(self.embedder.embed(sources))
        faces = [
            Face(detection=det, embedding=Embedding(vector=vec, model_id=self.model_id))
            for (_, det), vec in zip(items, vectors, strict=True)
        ]
        return faces, reports

    def analyze(
        self,
        image: ImageArray,
        *,
        liveness: bool = False,
        attributes: bool = False,
        quality: bool | QualityPolicy = False,
    ) -> list[Face]:
        """Every face in the image with its embedding, best detector score first.

        With ``liveness`` each face also carries a presentation-attack verdict; with
        ``attributes`` its age, gender, expression and head pose; with ``quality`` (True
        for the default :class:`QualityPolicy`, or a policy) its quality measures and the
        reasons it fails the policy (head pose is estimated for this).
        """
        return self.analyze_batch(
            [image], liveness=liveness, attributes=attributes, quality=quality
        )[0]

    def detect_batch(self, images: Sequence[ImageArray]) -> list[list[Detection]]:
        """:meth:`detect` for many images, batched where the backends support it."""
        batch_detect = getattr(self.detector, "detect_batch", None)
        found: list[list[Detection]] = (
            batch_detect(images) if batch_detect else [self.detector.detect(i) for i in images]
        )
        seen = list(images)  # the pixels each image's faces were found in
        if self.restoration is not None:
            for i, image in enumerate(images):
                if found[i]:
                    continue
                for _, enhanced in detection_retries(image, self.restoration):
                    found[i] = self.detector.detect(enhanced)
                    if found[i]:
                        seen[i] = enhanced
                        break
        return self._refine(seen, found)

    def _refine(
        self, images: Sequence[ImageArray], found: Sequence[list[Detection]]
    ) -> list[list[Detection]]:
        if self.landmarks is None:
            return list(found)
        batch_refine = getattr(self.landmarks, "refine_batch", None)
        if batch_refine is not None:
            return list(batch_refine(list(zip(images, found, strict=True))))
        return [self.landmarks.refine(i, d) if d else d for i, d in zip(images, found, strict=True)]

    def _restored(
        self, items: Sequence[tuple[ImageArray, Detection]], *, resolution: bool
    ) -> tuple[list[tuple[ImageArray, Detection]], list[DegradationReport | None]]:
        """Each face's degradation report (complete with ``resolution``, else only what
        restoration gates on), and the (image, detection) to embed it from:
        the face's region restored (and its landmarks refined again there) where the
        restoration policy calls for it, else the item unchanged."""
        policy = self.restoration
        if policy is None and not resolution:
            return list(items), [None] * len(items)
        limits = policy.limits if policy is not None else None
        reports: list[DegradationReport | None] = [
            assess_degradation(
                image,
                det.bbox_xyxy,
                limits=limits,
                resolution=resolution,
                noise=resolution or (policy is not None and policy.denoise),
                defocus=resolution or (policy is not None and policy.refocus),
            )
            for image, det in items
        ]
        if policy is None:
            return list(items), reports
        out = list(items)
        changed = []
        for k, ((image, det), report) in enumerate(zip(items, reports, strict=True)):
            assert report is not None
            restored, steps = restore_face(image, det.bbox_xyxy, report, policy)
            if steps:
                out[k] = (restored, det)
                changed.append(k)
        if changed and self.landmarks is not None:
            again = self._refine([out[k][0] for k in changed], [[out[k][1]] for k in changed])
            for k, dets in zip(changed, again, strict=True):
                out[k] = (out[k][0], dets[0] if dets else out[k][1])
        return out, reports

    def analyze_batch(
        self,
        images: Sequence[ImageArray],
        *,
        liveness: bool = False,
        attributes: bool = False,
        quality: bool | QualityPolicy = False,
    ) -> list[list[Face]]:
        """:meth:`analyze` for many images; every model runs in batches across images."""
        return self.analyze_detected(
            images,
            self.detect_batch(images),
            liveness=liveness,
            attributes=attributes,
            quality=quality,
        )

    def analyze_detected(
        self,
        images: Sequence[ImageArray],
        detections: Sequence[Sequence[Detection]],
        *,
        liveness: bool = False,
        attributes: bool = False,
        quality: bool | QualityPolicy = False,
    ) -> list[list[Face]]:
        """Embed (and optionally check) the given detections of each image, every model
        in one batch across images; ``detections[i]`` belong to ``images[i]``."""
        per_image = [list(d) for d in detections]
        items = [
            (image, det) for image, dets in zip(images, per_image, strict=True) for det in dets
        ]
        flat, reports = self._embed_reporting(items, resolution=bool(quality))
        embedded = iter(flat)
        faces = [[next(embedded) for _ in dets] for dets in per_image]
        degradations = iter(reports)
        per_face_reports = [[next(degradations) for _ in dets] for dets in per_image]
        pairs = list(zip(images, per_image, strict=True))
        if liveness and items:
            verdicts = self.liveness_detector.score_batch(pairs)
            faces = [
                [replace(f, liveness=v) for f, v in zip(fs, vs, strict=True)]
                for fs, vs in zip(faces, verdicts, strict=True)
            ]
        if attributes and items:
            estimates = self.attribute_estimator.estimate_batch(pairs)
            faces = [
                [replace(f, attributes=a) for f, a in zip(fs, es, strict=True)]
                for fs, es in zip(faces, estimates, strict=True)
            ]
        if quality and items:
            policy = quality if isinstance(quality, QualityPolicy) else QualityPolicy()
            faces = [
                [replace(f, quality=q) for f, q in zip(fs, qs, strict=True)]
                for fs, qs in zip(
                    faces,
                    self.assess_quality(
                        [
                            (image, [f.detection for f in fs])
                            for image, fs in zip(images, faces, strict=True)
                        ],
                        policy=policy,
                        attributes=[[f.attributes for f in fs] for fs in faces]
                        if attributes
                        else None,
                        liveness=[[f.liveness for f in fs] for fs in faces],
                    ),
                    strict=True,
                )
            ]
            faces = [
                [
                    replace(f, quality=with_degradation(f.quality, r, policy)) if f.quality else f
                    for f, r in zip(fs, rs, strict=True)
                ]
                for fs, rs in zip(faces, per_face_reports, strict=True)
            ]
        return faces

    def assess_quality(
        self,
        items: Sequence[tuple[ImageArray, Sequence[Detection]]],
        *,
        policy: QualityPolicy,
        attributes: Sequence[Sequence[Attributes | None]] | None = None,
        liveness: Sequence[Sequence[Liveness | None]] | None = None,
    ) -> list[list[Quality]]:
        """Quality of each detection of each image against ``policy``.

        Head pose comes from ``attributes`` when given, else the pose model runs (in one
        batch across images); a failed ``liveness`` verdict adds ``spoof_suspected``.
        """
        if attributes is None or any(a is None for row in attributes for a in row):
            attributes = self.attribute_estimator.estimate_batch(items)
        out = []
        for k, ((image, dets), attrs) in enumerate(zip(items, attributes, strict=True)):
            verdicts = liveness[k] if liveness is not None else [None] * len(dets)
            row = []
            for det, attr, live in zip(dets, attrs, verdicts, strict=True):
                assert attr is not None
                crop = align(image, det.landmarks_array(), template="arcface_112")[0]
                row.append(
                    assess(
                        det,
                        crop,
                        policy=policy,
                        pose=(attr.yaw, attr.pitch, attr.roll),
                        liveness=live,
                    )
                )
            out.append(row)
        return out

    def embed(self, image: ImageArray, detections: Sequence[Detection]) -> list[Face]:
        """Embed the given detections of one image (same order)."""
        return self._embed([(image, det) for det in detections])

    def embed_many(self, items: Sequence[tuple[ImageArray, Detection]]) -> list[Face]:
        """Embed (image, detection) pairs from any number of images in batches."""
        return self._embed(items)

    def primary_detection(
        self,
        image: ImageArray,
        *,
        strict: bool = False,
        detections: Sequence[Detection] | None = None,
    ) -> Detection:
        """The face the photo is about (large and central); see ``core.boxes``.

        ``detections`` may be passed to avoid detecting again.

        Raises:
            NoFaceError: no face was found.
            MultipleFacesError: ``strict`` and more than one face was found.
        """
        if detections is None:
            detections = self.detect(image)
        if not detections:
            raise NoFaceError("no face found in the image; use a photo where the face is visible")
        if strict and len(detections) > 1:
            raise MultipleFacesError(
                f"{len(detections)} faces found where exactly one was required; crop the photo "
                "or drop --strict to use the most prominent face"
            )
        height, width = image.shape[:2]
        return detections[primary_face_index(detections, image_width=width, image_height=height)]

    def primary_face(self, image: ImageArray, *, strict: bool = False) -> Face:
        """The embedded primary face. Raises as :meth:`primary_detection`."""
        return self._embed([(image, self.primary_detection(image, strict=strict))])[0]
