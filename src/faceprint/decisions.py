"""The decisions of a pipeline: similarity, the calibrated thresholds, 1:1 verify.

:class:`Decisions` needs only the embedding model's calibration and an optional
fairness score adjuster (:mod:`faceprint.core.score_adjust`); :class:`~faceprint.pipeline.FacePipeline`
inherits it, so ``pipeline.verify(a, b)`` and friends live here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from faceprint.core.calibration import CalibrationCurve
from faceprint.core.score_adjust import ScoreAdjuster
from faceprint.core.thresholds import identification_threshold, verification_threshold
from faceprint.errors import ModelMismatchError
from faceprint.types import Embedding, Face, Threshold, Verification

__all__ = ["Decisions"]


class Decisions:
    """1:1 and 1:N decisions on embeddings of one model.

    Attributes:
        calibration: the model's similarity→FMR curve (``None``: uncalibrated).
        score_adjuster: re-scores pairs when matching (``None``: cosine similarity).
    """

    calibration: CalibrationCurve | None
    score_adjuster: ScoreAdjuster | None

    def similarity(self, a: Embedding, b: Embedding) -> float:
        """Cosine similarity of two embeddings of the same model.

        Raises:
            ModelMismatchError: the embeddings come from different models.
        """
        if a.model_id != b.model_id or a.dimension != b.dimension:
            raise ModelMismatchError(
                f"cannot compare an embedding of {a.model_id!r} with one of {b.model_id!r}"
            )
        return float(np.clip(np.dot(a.vector, b.vector), -1.0, 1.0))

    def score(self, a: Embedding, b: Embedding) -> float:
        """The similarity a decision compares with its threshold: the cosine similarity,
        or with a :attr:`score_adjuster` the adjusted one (on the same calibrated
        scale, so thresholds keep their FMR).

        Raises:
            ModelMismatchError: the embeddings come from different models.
        """
        value = self.similarity(a, b)
        if self.score_adjuster is None:
            return value
        return float(self.score_adjuster.pair_scores(a.vector[None, :], b.vector[None, :])[0])

    def rescore(
        self, probe: NDArray[np.float32], vectors: NDArray[np.float32]
    ) -> NDArray[np.float64]:
        """Adjusted similarities of one probe vector with each row of ``vectors`` (the
        gallery's shortlist); the plain dot products without an adjuster."""
        if self.score_adjuster is None:
            return np.clip((vectors @ probe).astype(np.float64), -1.0, 1.0)
        return np.asarray(self.score_adjuster.scores(probe[None, :], vectors)[0], dtype=np.float64)

    def verification_threshold(
        self, *, threshold: float | None = None, fmr: float | None = None
    ) -> Threshold:
        """The 1:1 threshold (explicit, or from an FMR; default FMR 1e-3)."""
        return verification_threshold(self.calibration, similarity=threshold, fmr=fmr)

    def identification_threshold(
        self,
        *,
        gallery_size: int,
        threshold: float | None = None,
        fmr: float | None = None,
        fpir: float | None = None,
    ) -> Threshold:
        """The open-set 1:N threshold for ``gallery_size`` templates (default FPIR 1 %)."""
        return identification_threshold(
            self.calibration,
            gallery_size=gallery_size,
            similarity=threshold,
            fmr=fmr,
            fpir=fpir,
        )

    def verify(
        self,
        a: Face | Embedding,
        b: Face | Embedding,
        *,
        threshold: float | None = None,
        fmr: float | None = None,
    ) -> Verification:
        """1:1 decision: are ``a`` and ``b`` the same person?

        Returns the similarity, the threshold used (with the FMR it was calibrated at)
        and the decision ``similarity >= threshold``.
        """
        ea = a.embedding if isinstance(a, Face) else a
        eb = b.embedding if isinstance(b, Face) else b
        value = self.score(ea, eb)
        chosen = self.verification_threshold(threshold=threshold, fmr=fmr)
        return Verification(similarity=value, threshold=chosen, is_match=value >= chosen.similarity)
