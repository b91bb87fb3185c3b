"""Library results as response schemas, for the shapes several resources return."""

from __future__ import annotations

from faceprint.gallery.records import CollectionInfo, PersonInfo
from faceprint.service import schemas as s
from faceprint.service.keys import ApiKey
from faceprint.service.settings import ServiceSettings
from faceprint.types import BBox, Detection


def box(bbox: BBox) -> s.Box:
    return s.Box(x1=bbox[0], y1=bbox[1], x2=bbox[2], y2=bbox[3])


def detected(det: Detection) -> s.DetectedFace:
    return s.DetectedFace(
        box=box(det.bbox_xyxy),
        score=det.score,
        landmarks=[[float(x), float(y)] for x, y in det.landmarks_array().tolist()],
        issues=[str(i.value) if hasattr(i, "value") else str(i) for i in det.issues],
    )


def score(settings: ServiceSettings, value: float) -> float:
    """A similarity rounded to ``settings.score_decimals`` (decisions use the exact one)."""
    decimals = settings.score_decimals
    return float(value) if decimals is None else round(float(value), decimals)


def reveals_scores(settings: ServiceSettings, key: ApiKey) -> bool:
    """Whether ``key``'s answers carry similarities (its own ``responses``, else the
    service's); decision-only answers starve score-driven attacks (docs/security.md)."""
    return (key.responses or settings.responses) == "scores"


def key_score(settings: ServiceSettings, key: ApiKey, value: float) -> float | None:
    """What ``key`` is told of a similarity: rounded, or nothing in decision-only mode."""
    return score(settings, value) if reveals_scores(settings, key) else None


def collection(info: CollectionInfo) -> s.CollectionOut:
    return s.CollectionOut(
        collection_id=info.name, persons=info.persons, faces=info.faces, created_at=info.created_at
    )


def person(info: PersonInfo) -> s.PersonOut:
    return s.PersonOut(
        person_id=info.name,
        collection_id=info.collection,
        faces=info.faces,
        created_at=info.created_at,
    )
