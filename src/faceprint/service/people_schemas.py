"""Request and response bodies of the ``/v1/people`` routes (the clustering folder the
web page's People tab reviews); the shared shapes (:class:`Box`) come from
:mod:`faceprint.service.schemas`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from faceprint.service.schemas import Box

Id = Annotated[int, Field(ge=1, le=2**62)]
NAME_PATTERN = r"^[^\x00-\x1f/]+$"
"""A person's name as the gallery routes take it (``/`` would make it unreachable)."""


class ClusterFaceOut(BaseModel):
    face_id: int
    photo: str = Field(
        description="The photo, relative to the folder the photos were clustered from "
        "(never a server path)."
    )
    sha256: str = Field(description="SHA-256 of the photo's bytes.")
    box: Box
    quality: float | None = Field(description="Quality score (null when not measured).")
    reasons: list[str] = Field(
        description="Why the face failed the quality gate (empty: usable); such faces "
        "are never enrolled."
    )
    how: str = Field(
        description="How it got into the cluster: `auto`, `joined` (matched a reviewed "
        "cluster), `attached` (a low-quality face placed by its best match) or `pinned` "
        "(kept by a review)."
    )
    similarity: float = Field(description="Cosine similarity to the representative face.")


class ClusterOut(BaseModel):
    id: int
    name: str | None = Field(description="The person's name; null while unnamed.")
    reviewed: bool = Field(
        description="Someone named, merged or split it: its faces survive re-clustering."
    )
    size: int
    representative: int = Field(description="Face id of the cluster's medoid.")
    members: list[ClusterFaceOut] = Field(description="Best match to the representative first.")


class ClusterList(BaseModel):
    model_id: str | None = Field(description="The embedding model of the folder's faces.")
    images: int
    faces: int
    total: int = Field(description="Every cluster, single faces included.")
    singletons: int = Field(
        description="Single-face clusters nobody named or reviewed (listed on request)."
    )
    named: int
    clusters: list[ClusterOut] = Field(description="Named first, then by size, then by id.")


class NameIn(BaseModel):
    person: str = Field(min_length=1, max_length=128, pattern=NAME_PATTERN)


class MergeIn(BaseModel):
    clusters: list[Id] = Field(min_length=2, max_length=1000)


class FacesIn(BaseModel):
    faces: list[Id] = Field(min_length=1, max_length=10_000)


class PeopleEdit(BaseModel):
    """What a review left: the cluster it changed (the target of a merge or a naming
    that merged), a split's new cluster, the clusters merged away, the faces removed."""

    cluster: ClusterOut
    new_cluster: ClusterOut | None = None
    merged: list[int] = Field(default_factory=list)
    removed: list[int] = Field(default_factory=list)


class PeopleEnrollIn(BaseModel):
    clusters: list[Id] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="Named clusters (default: every named one).",
    )
    collection: str = Field(default="default", min_length=1, max_length=128, pattern=NAME_PATTERN)


class EnrolledClusterOut(BaseModel):
    cluster: int
    person: str
    added: int = Field(description="Faces added to the person now.")
    already: int = Field(description="Faces whose photo was already enrolled for the person.")
    low_quality: int = Field(description="Faces skipped by the quality gate.")


class PeopleEnrolled(BaseModel):
    collection_id: str
    added: int
    clusters: list[EnrolledClusterOut]
