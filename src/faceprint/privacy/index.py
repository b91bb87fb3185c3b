"""The server of encrypted search: a gallery laid out for CKKS, answering encrypted probes.

:class:`EncryptedIndex` takes the client's public keys and either a plaintext gallery
(the server's own templates: :meth:`EncryptedIndex.from_gallery`) or a gallery its owner
encrypted with :func:`encrypt_gallery` (the server never sees a template). A search
takes an encrypted probe frame and returns a result frame only the secret key opens:
one ciphertext per chunk of ``2 × 4096`` templates, and the labels (face id and person
of each slot) in clear.

Chunks are split into contiguous blocks, one per worker process
(:mod:`faceprint.privacy.shards`); with one block the work runs in the calling process.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from faceprint.errors import UsageError, WrongKeyError
from faceprint.gallery import Gallery
from faceprint.privacy import layout as lay
from faceprint.privacy.ckks import MODES, RING, KeySet
from faceprint.privacy.labels import Labels
from faceprint.privacy.scorer import (
    ChunkScorer,
    add_partials,
    finish,
    random_factors,
    share_blobs,
)
from faceprint.privacy.shards import ShardProcess
from faceprint.privacy.wire import pack, unpack

__all__ = ["EncryptedIndex", "Labels", "encrypt_gallery"]


def encrypt_gallery(
    keys: KeySet, matrix: np.ndarray, labels: Labels, *, model_id: str | None = None
) -> bytes:
    """The gallery owner's side: ``matrix`` (n × dim) encrypted under ``keys``, laid out
    for search, as one frame (about 0.5 MB per 64 templates at dim 128).

    Raises:
        UsageError: the matrix's shape does not match ``keys`` or ``labels``.
    """
    rows = _checked(matrix, keys.dim, len(labels.face_ids))
    plan = lay.plan(keys.dim, rows.shape[0], slots=RING // 2)
    blobs = []
    for chunk in range(plan.chunks):
        diags = lay.chunk_diagonals(rows, plan, chunk)
        for j in range(plan.giant):
            for i in range(plan.baby):
                blobs.append(keys.dump(keys.encrypt_slots(diags[j, i])))
    header = {
        "kind": "encrypted-gallery",
        "key_id": keys.key_id,
        "dim": keys.dim,
        "count": plan.count,
        "baby": plan.baby,
        "model_id": model_id,
        **labels.header(),
    }
    return pack(header, blobs)


class EncryptedIndex:
    """A gallery ready for encrypted probes of one key set."""

    def __init__(
        self,
        keys: KeySet,
        labels: Labels,
        *,
        matrix: np.ndarray | None = None,
        encrypted: tuple[bytes, ...] = (),
        baby: int | None = None,
        workers: int | None = None,
    ) -> None:
        """Use :meth:`from_gallery`, :meth:`from_matrix` or :meth:`from_encrypted`."""
        self.keys = keys
        self.labels = labels
        self._label_fields = labels.header()
        self.model_id: str | None = None
        """The embedding model of the templates, when known (for the threshold)."""
        count = len(labels.face_ids)
        self.plan = lay.plan(keys.dim, count, slots=RING // 2)
        if baby is not None and baby != self.plan.baby:
            self.plan = lay.Plan(self.plan.dim, self.plan.width, self.plan.slots, count, baby)
        self.encrypted = matrix is None
        wanted = workers if workers is not None else (os.cpu_count() or 1)
        self.shares = lay.split_work(self.plan, max(1, wanted))
        self._local: ChunkScorer | None = None
        self._shards: list[ShardProcess] = []
        if len(self.shares) == 1:
            whole = self.shares[0]
            if matrix is not None:
                self._local = ChunkScorer.from_matrix(
                    keys, self.plan, matrix, first=0, count=self.plan.chunks
                )
            else:
                self._local = ChunkScorer.from_encrypted(
                    keys, self.plan, share_blobs(self.plan, encrypted, whole), share=whole
                )
            return
        public = keys.public().to_bytes()
        try:
            for share in self.shares:
                if matrix is not None:
                    per = self.plan.per_chunk
                    rows = matrix[share.chunks.start * per : share.chunks.stop * per]
                    self._shards.append(ShardProcess(public, self.plan, share, rows=rows))
                else:
                    part = share_blobs(self.plan, encrypted, share)
                    self._shards.append(ShardProcess(public, self.plan, share, encrypted=part))
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_matrix(
        cls, keys: KeySet, matrix: np.ndarray, labels: Labels, *, workers: int | None = None
    ) -> EncryptedIndex:
        """A plaintext gallery ``matrix`` (n × dim, unit rows) with its labels."""
        rows = _checked(matrix, keys.dim, len(labels.face_ids))
        return cls(keys, labels, matrix=rows, workers=workers)

    @classmethod
    def from_gallery(
        cls,
        keys: KeySet,
        gallery: Gallery,
        *,
        collection: str | None = None,
        workers: int | None = None,
    ) -> EncryptedIndex:
        """Every face of a faceprint gallery (or of one collection).

        Raises:
            UsageError: the gallery is empty or its dimension differs from the keys'.
            faceprint.errors.NotFoundError: no such collection.
        """
        stored = gallery.templates(collection=collection)
        if stored.matrix.shape[0] == 0:
            raise UsageError(f"gallery {gallery.path} has no faces to search")
        names = [stored.persons[int(p)][0] for p in stored.person_ids]
        labels = Labels.of_persons(names, face_ids=stored.face_ids.tolist(), collection=collection)
        index = cls.from_matrix(keys, stored.matrix, labels, workers=workers)
        index.model_id = gallery.model_id
        return index

    @classmethod
    def from_encrypted(
        cls, keys: KeySet, data: bytes, *, workers: int | None = None
    ) -> EncryptedIndex:
        """A gallery from :func:`encrypt_gallery`.

        Raises:
            WrongKeyError: it was encrypted under other keys.
            UsageError: the frame is damaged.
        """
        frame = unpack(data, what="encrypted gallery").expect("encrypted-gallery")
        head = frame.header
        if head.get("key_id") != keys.key_id:
            raise WrongKeyError(
                f"this gallery is encrypted for keys {head.get('key_id')}, not {keys.key_id}"
            )
        labels = Labels.from_header(head)
        index = cls(keys, labels, encrypted=frame.blobs, baby=int(head["baby"]), workers=workers)
        index.model_id = head.get("model_id")
        return index

    @property
    def count(self) -> int:
        return self.plan.count

    @property
    def workers(self) -> int:
        """Processes a search runs in (1: the caller's)."""
        return max(1, len(self._shards))

    def search(self, probe: bytes, *, threshold: float, mode: str = "decision") -> bytes:
        """Score an encrypted probe frame against every template; a result frame.

        Args:
            probe: from :meth:`KeySet.encrypt_probe`, for these keys.
            threshold: the similarity a ``decision`` is taken at (and recorded).
            mode: ``decision`` (default: only pass/fail per template can be decrypted) or
                ``scores`` (raw similarities; see :data:`faceprint.privacy.ckks.MODES`).

        Raises:
            UsageError: a damaged probe, an unknown mode, a probe of another dimension.
            WrongKeyError: the probe was encrypted under other keys.
        """
        if mode not in MODES:
            raise UsageError(f"unknown result mode {mode!r}; use one of {', '.join(MODES)}")
        if not -1.0 <= threshold <= 1.0:
            raise UsageError(f"a similarity threshold is in [-1, 1], got {threshold}")
        frame = unpack(probe, what="encrypted probe").expect("probe")
        if frame.header.get("key_id") != self.keys.key_id:
            raise WrongKeyError(
                f"the probe is encrypted for keys {frame.header.get('key_id')}; this "
                f"server holds keys {self.keys.key_id}"
            )
        if frame.header.get("dim") != self.keys.dim or len(frame.blobs) != 1:
            raise UsageError(f"the probe is not one {self.keys.dim}-d ciphertext")
        whole = all(len(share.babies) == self.plan.baby for share in self.shares)
        if self._shards and whole:
            # each worker holds whole chunks: it finishes them itself, in parallel
            for shard in self._shards:
                shard.submit(frame.blobs[0], finish=True, mode=mode, threshold=threshold)
            blobs = [blob for shard in self._shards for blob in shard.collect()]
        else:
            blobs = [
                self.keys.dump(total) for total in self._totals(frame.blobs[0], mode, threshold)
            ]
        header = {
            "kind": "result",
            "key_id": self.keys.key_id,
            "mode": mode,
            "threshold": threshold,
            "count": self.plan.count,
            "baby": self.plan.baby,
            **self._label_fields,
        }
        return pack(header, blobs)

    def _totals(self, probe: bytes, mode: str, threshold: float) -> list[Any]:
        """Every chunk's result, finished here: computed in this process, or summed from
        the workers' partial sums (a split by baby steps)."""
        decide = mode == "decision"
        if self._local is not None:
            cipher = self.keys.load_ciphertext(probe, what="the encrypted probe")
            totals = self._local.partial(cipher)
            factors = random_factors(self.keys, len(totals)) if decide else []
        else:
            for shard in self._shards:
                shard.submit(probe)
            # drawn and encoded while the workers compute
            factors = random_factors(self.keys, self.plan.chunks) if decide else []
            parts: list[list[Any]] = [[] for _ in range(self.plan.chunks)]
            for shard in self._shards:
                got = shard.collect()
                for chunk, blob in zip(shard.share.chunks, got, strict=True):
                    parts[chunk].append(self.keys.load_ciphertext(blob, what="partial scores"))
            totals = [add_partials(self.keys, p) for p in parts]
        return [
            finish(
                self.keys, t, mode=mode, threshold=threshold, factors=factors[i] if decide else None
            )
            for i, t in enumerate(totals)
        ]

    def close(self) -> None:
        """Stop the worker processes; idempotent."""
        for shard in self._shards:
            shard.close()
        self._shards = []

    def __enter__(self) -> EncryptedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked(matrix: np.ndarray, dim: int, count: int) -> np.ndarray:
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != dim:
        raise UsageError(f"a gallery of {dim}-d templates must be n × {dim}, got {rows.shape}")
    if rows.shape[0] != count:
        raise UsageError(f"{rows.shape[0]} templates but {count} labels")
    if not np.all(np.isfinite(rows)):
        raise UsageError("the gallery holds non-finite values")
    return rows
