"""Whether a key may see, read or change a collection.

A key that may not read a collection gets the same 404 as for a missing one, so a
scoped key learns nothing about collections outside its scopes (no existence oracle);
a key that may read but not write gets 403.
"""

from __future__ import annotations

from contextlib import suppress

from faceprint.errors import NotFoundError
from faceprint.gallery import Gallery
from faceprint.gallery.records import CollectionInfo
from faceprint.service.keys import ApiKey
from faceprint.service.problems import ServiceError


def visible(gallery: Gallery, key: ApiKey, collection: str) -> None:
    """Pass if the collection exists and the key may read it; 404 alike otherwise.

    Raises:
        NotFoundError: no such collection, or the key may not read it.
    """
    if not (key.can(collection, "read") and gallery.has_collection(collection)):
        raise _hidden(collection)


def readable(gallery: Gallery, key: ApiKey, collection: str) -> CollectionInfo:
    """The collection (with its counts) if the key may read it; 404 alike otherwise.

    Raises:
        NotFoundError: no such collection, or the key may not read it.
    """
    if key.can(collection, "read"):
        with suppress(NotFoundError):  # its message would list the other collections
            return gallery.collection(collection)
    raise _hidden(collection)


def writable(gallery: Gallery, key: ApiKey, collection: str) -> None:
    """Pass if the key may change the collection; 404 if it may not even see it.

    Raises:
        NotFoundError: no such collection, or the key may not read it.
        ServiceError: ``forbidden``, the key may read but not change it.
    """
    visible(gallery, key, collection)
    if not key.can(collection, "write"):
        raise ServiceError("forbidden", f"this key may read but not change {collection!r}")


def _hidden(collection: str) -> NotFoundError:
    """The one answer for a collection that is missing or outside the key's scopes."""
    return NotFoundError(f"no collection {collection!r}")
