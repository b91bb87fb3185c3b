"""Response bodies of the service (pydantic models; they also document the OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong and what to do about it.")


class Problem(BaseModel):
    """Every error response (media type ``application/problem+json``)."""

    error: ErrorDetail
    request_id: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ThresholdInfo(BaseModel):
    similarity: float
    fmr: float | None


class Models(BaseModel):
    detector: str
    landmarks: str | None
    embedder: str
    model_id: str
    embedding_dim: int | None
    licences: dict[str, str]
    verification_threshold: ThresholdInfo
    score_decimals: int | None = Field(description="Similarities in responses are rounded to this.")
    responses: str = Field(
        description="What this key's answers carry: similarities and decisions, or decisions only."
    )
    verify_preset: str = Field(description="The 1:1 preset requests get unless they name one.")


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class DetectedFace(BaseModel):
    box: Box
    score: float
    landmarks: list[list[float]]
    issues: list[str]


class Detections(BaseModel):
    width: int
    height: int
    faces: list[DetectedFace]


class LivenessOut(BaseModel):
    score: float
    threshold: float
    is_live: bool


class DegradationOut(BaseModel):
    """How the capture degraded the face (see faceprint.core.degradation)."""

    detected: list[str]
    motion_blur: float
    motion_length: float
    motion_angle: float | None
    motion_evidence: float
    defocus: float
    noise: float
    brightness: float
    effective_resolution: float
    blockiness: float


class QualityOut(BaseModel):
    score: float
    reasons: list[str]
    face_size: float
    sharpness: float
    brightness: float
    contrast: float
    detector_score: float
    yaw: float | None
    pitch: float | None
    roll: float | None
    degradation: DegradationOut | None = None


class AttributesOut(BaseModel):
    age: float
    gender: str
    gender_score: float
    expression: str
    expressions: dict[str, float]
    yaw: float
    pitch: float
    roll: float


class AnalyzedFace(DetectedFace):
    liveness: LivenessOut | None
    quality: QualityOut | None
    attributes: AttributesOut | None


class Analysis(BaseModel):
    width: int
    height: int
    faces: list[AnalyzedFace]


class VerifyOut(BaseModel):
    similarity: float | None = Field(
        description="Cosine similarity, rounded as configured; null for keys whose answers "
        "are decisions only."
    )
    threshold: float
    fmr: float | None
    is_match: bool
    model_id: str
    face_a: DetectedFace
    face_b: DetectedFace


class CollectionIn(BaseModel):
    collection_id: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f/]+$")


class CollectionOut(BaseModel):
    collection_id: str
    persons: int
    faces: int
    created_at: str


class CollectionList(BaseModel):
    collections: list[CollectionOut]


class CollectionDeleted(BaseModel):
    collection_id: str
    faces_removed: int


class PersonIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f/]+$")


class PersonOut(BaseModel):
    person_id: str
    collection_id: str
    faces: int
    created_at: str


class PersonList(BaseModel):
    persons: list[PersonOut]


class EnrolledFaceOut(BaseModel):
    face_id: int
    source: str
    box: Box | None
    det_score: float | None
    enrolled_at: str


class PersonDetail(PersonOut):
    enrolled_faces: list[EnrolledFaceOut]


class PersonDeleted(BaseModel):
    collection_id: str
    person_id: str
    faces_removed: int


class Accepted(BaseModel):
    index: int
    filename: str
    face_id: int
    box: Box
    score: float
    faces_in_image: int


class Rejected(BaseModel):
    index: int
    filename: str
    code: str
    message: str


class FacesAdded(BaseModel):
    collection_id: str
    person_id: str
    accepted: list[Accepted]
    rejected: list[Rejected]


class FaceDeleted(BaseModel):
    face_id: int
    removed: bool


class MatchOut(BaseModel):
    person_id: str
    similarity: float
    face_id: int


class ClaimOut(BaseModel):
    """A 1:1 claim: is the image's most prominent face this enrolled person?"""

    collection_id: str
    person_id: str
    similarity: float | None = Field(
        description="Best similarity over the person's faces, rounded as configured; null "
        "for keys whose answers are decisions only."
    )
    threshold: float
    fmr: float | None
    is_match: bool
    model_id: str
    face: DetectedFace


class SearchFace(BaseModel):
    box: Box
    score: float
    decision: Literal["known", "unknown", "rejected"]
    person_id: str | None
    similarity: float | None
    reason: str | None
    matches: list[MatchOut]


class SearchOut(BaseModel):
    collection_id: str
    model_id: str
    gallery_size: int
    threshold: float
    fpir: float | None
    faces: list[SearchFace]


class PrivacyKeysOut(BaseModel):
    """Registered public keys of encrypted search."""

    key_id: str = Field(description="The id encrypted probes of these keys carry.")
    dim: int = Field(description="Template dimension the keys are made for.")
