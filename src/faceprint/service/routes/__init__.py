"""The ``/v1`` endpoints, one module per resource; each route parses the request,
checks the key's scope (:mod:`.access`) and calls the library.

- :mod:`.meta` — health, models
- :mod:`.faces` — detect, analyze, verify
- :mod:`.collections` — collections
- :mod:`.persons` — persons and their enrolled faces
- :mod:`.search` — 1:N search in a collection
- :mod:`.privacy` — 1:N over encrypted probes (CKKS)
- :mod:`.people` — the clusters of a clustering folder: review, name, enroll

:mod:`.render` builds the response shapes several resources share and :mod:`.params`
holds their shared path and query parameters.
"""

from __future__ import annotations

from fastapi import APIRouter

from faceprint.service.routes import (
    collections,
    faces,
    meta,
    people,
    persons,
    privacy,
    search,
)

router = APIRouter()
for _resource in (meta, faces, collections, persons, search, privacy, people):
    router.include_router(_resource.router)

__all__ = ["router"]
