"""The encrypted-search server over a faceprint gallery: registered keys, cached layouts.

:class:`PrivateSearch` is what the CLI (``faceprint privacy search``) and the REST
service (``/v1/privacy/…``) both call. A client registers its *public* keys once (a
secret key is refused); each probe names its key id, and the server lays the
collection out for that key (:class:`~faceprint.privacy.index.EncryptedIndex`) on the
first probe and again only after the gallery changes. Layouts of the least recently
used keys are closed beyond ``max_keys``.

The threshold follows the same rule as plaintext identification
(:func:`calibrated_threshold`): FPIR 1 % for the collection's size by default.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from faceprint.core.thresholds import identification_threshold
from faceprint.errors import NotFoundError, UsageError
from faceprint.gallery import Gallery
from faceprint.models.card import load_catalog
from faceprint.privacy.ckks import KeySet
from faceprint.privacy.index import EncryptedIndex
from faceprint.privacy.wire import unpack
from faceprint.types import Threshold

__all__ = ["PrivateSearch", "SearchAnswer", "calibrated_threshold"]


def calibrated_threshold(
    model_id: str,
    gallery_size: int,
    *,
    threshold: float | None = None,
    fpir: float | None = None,
    fmr: float | None = None,
) -> Threshold:
    """The open-set threshold of ``model_id``'s calibration for ``gallery_size`` templates
    (``threshold`` as given, else ``fmr``, else ``fpir``, default 1 %).

    Raises:
        faceprint.errors.CalibrationError: the rate is outside the calibration.
    """
    base = model_id.split("+", 1)[0]  # a cancelable template keeps its model's scores
    catalog = load_catalog()
    curve = catalog[base].calibration if base in catalog else None
    return identification_threshold(
        curve, gallery_size=gallery_size, similarity=threshold, fmr=fmr, fpir=fpir
    )


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    """A result frame and the threshold it was decided at."""

    result: bytes
    threshold: Threshold
    gallery_size: int
    mode: str


class PrivateSearch:
    """Encrypted search over one open gallery, for any number of registered key sets."""

    def __init__(self, gallery: Gallery, *, workers: int | None = None, max_keys: int = 4) -> None:
        self.gallery = gallery
        self.workers = workers
        self.max_keys = max_keys
        self._keys: OrderedDict[str, KeySet] = OrderedDict()
        self._indexes: dict[tuple[str, str | None], tuple[tuple[int, int], EncryptedIndex]] = {}
        self._lock = threading.RLock()

    def register(self, public_keys: bytes) -> KeySet:
        """Register a client's public keys (idempotent); returns them.

        Raises:
            UsageError: not a key file, a *secret* key file (never send it), or keys of
                another dimension than the gallery's templates.
        """
        frame = unpack(public_keys, what="key file")
        if frame.kind == "secret-keys":
            raise UsageError(
                "this is a secret key file: send the public one (faceprint privacy keygen "
                "writes both); whoever holds the secret key can decrypt every result"
            )
        keys = KeySet.from_bytes(public_keys, what="public keys")
        dim = self.gallery.embedding_dim
        if dim is not None and keys.dim != dim:
            raise UsageError(
                f"the keys are for {keys.dim}-d templates; this gallery holds {dim}-d ones"
            )
        with self._lock:
            if keys.key_id in self._keys:
                self._keys.move_to_end(keys.key_id)
                keys.close()
                return self._keys[keys.key_id]
            self._keys[keys.key_id] = keys
            while len(self._keys) > self.max_keys:
                old, dropped = self._keys.popitem(last=False)
                for where in [w for w in self._indexes if w[0] == old]:
                    self._indexes.pop(where)[1].close()
                dropped.close()
            return keys

    def search(
        self,
        probe: bytes,
        *,
        collection: str | None = None,
        mode: str = "decision",
        threshold: float | None = None,
        fpir: float | None = None,
    ) -> SearchAnswer:
        """Score an encrypted probe against the collection (``None``: every collection).

        Raises:
            NotFoundError: the probe's keys were never registered, or no such collection.
            UsageError: a damaged probe, an unknown mode, an empty collection.
            WrongKeyError: (from the index) a probe and keys that do not belong together.
        """
        key_id = str(unpack(probe, what="encrypted probe").expect("probe").header.get("key_id"))
        model_id = self.gallery.model_id
        size = self.gallery.size(collection=collection)
        if size == 0 or model_id is None:
            raise UsageError("the collection has no faces to search")
        chosen = calibrated_threshold(model_id, size, threshold=threshold, fpir=fpir)
        with self._lock:
            if key_id not in self._keys:
                raise NotFoundError(
                    f"no public keys {key_id} are registered here; register them first "
                    "(PUT /v1/privacy/keys, or --public-keys on the command line)"
                )
            self._keys.move_to_end(key_id)
            index = self._index(self._keys[key_id], collection)
            result = index.search(probe, threshold=chosen.similarity, mode=mode)
        return SearchAnswer(result=result, threshold=chosen, gallery_size=size, mode=mode)

    def _index(self, keys: KeySet, collection: str | None) -> EncryptedIndex:
        version = self.gallery.version()
        where = (keys.key_id, collection)
        cached = self._indexes.get(where)
        if cached is not None and cached[0] == version:
            return cached[1]
        if cached is not None:
            cached[1].close()
        index = EncryptedIndex.from_gallery(
            keys, self.gallery, collection=collection, workers=self.workers
        )
        self._indexes[where] = (version, index)
        return index

    def close(self) -> None:
        """Stop every worker process; idempotent."""
        with self._lock:
            for _, index in self._indexes.values():
                index.close()
            self._indexes.clear()
            for keys in self._keys.values():
                keys.close()
            self._keys.clear()
