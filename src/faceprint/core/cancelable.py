"""Cancelable (revocable) templates: a secret, keyed rotation of every embedding.

A tenant's templates are ``y = R x`` for a Haar-random orthogonal matrix ``R`` drawn
from a secret seed (:class:`TemplateKey`; derived per tenant from a master key, so one
master key gives every tenant its own, unlinkable space). ``R`` preserves inner
products, so cosine similarities — and hence verification and identification
accuracy — are exactly those of the plain embeddings (up to float32 rounding), while a
template under one key compared with the same person's template under another key
scores like an impostor. A leaked gallery is re-issued by moving its templates to a
new key (``y' = R_new R_oldᵀ y``, :func:`reissue_matrix`); the old templates then match
nothing.

Transformed embeddings carry the model id ``"<model>+cancelable:<public id>"``
(:func:`protected_model_id`): a gallery pinned to one key refuses plain probes and
probes under another key with :class:`~faceprint.errors.ModelMismatchError`.

What it protects, and what not:

* unlinkability across keys (tenants, or a gallery before and after re-issue) when
  templates are compared one to one;
* re-issue: a stolen gallery becomes useless once re-issued, without re-enrolling;
* it is *not* irreversible against a holder of the key (``x = Rᵀ y``), nor against
  one who knows about ``d`` (plain, protected) pairs of the same key (least squares
  recovers ``R``); and since ``R`` is an isometry, a thief of two whole galleries with
  many people in common could still try to register one point cloud onto the other.
  A non-invertible variant trades accuracy for that: :func:`keyed_projection` keeps
  ``k < d`` random directions (the rest of the template is lost; measured in
  ``benchmarks/privacy_cancelable.py``). The key must be kept like a password.

Determinism: ``R`` depends on the seed and the dimension only. The seed is expanded with
SHAKE-256 (not numpy's generator streams, which may change between versions) into
uniforms, Box–Muller turns them into Gaussians, and the QR decomposition with the sign
fix of Mezzadri (2007, "How to generate random matrices from the classical compact
groups") makes the result unique, so every platform computes the same ``R`` up to
floating-point rounding (≈1e-15, far below float32 templates' precision).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError

__all__ = [
    "PLAIN",
    "SUFFIX",
    "CancelableTransform",
    "PlainTemplates",
    "TemplateKey",
    "base_model_id",
    "haar_orthogonal",
    "key_id_of",
    "keyed_projection",
    "protected_model_id",
    "reissue_matrix",
    "template_key_id",
]

SUFFIX = "+cancelable:"
"""What separates a model id from the public id of the template key."""

PURPOSE_PREFIX = "faceprint.cancelable."
"""A tenant's seed is the master key derived for ``PURPOSE_PREFIX + tenant``."""

_STREAM_LABEL = b"faceprint.cancelable.gaussians.v1|"
_ID_LABEL = b"faceprint.cancelable.id"
_SEED_BYTES = 32


class KeyDeriving(Protocol):
    """What a master key offers (:class:`faceprint.keysource.SecretKey`)."""

    def derive(self, purpose: str, *, length: int = ...) -> bytes: ...


def _gaussians(seed: bytes, label: bytes, count: int) -> NDArray[np.float64]:
    """``count`` standard normal values from ``seed``: SHAKE-256 → 53-bit uniforms in
    (0, 1) → Box–Muller."""
    pairs = (count + 1) // 2
    stream = hashlib.shake_256(_STREAM_LABEL + label + seed).digest(16 * pairs)
    words = np.frombuffer(stream, dtype="<u8").astype(np.uint64) >> np.uint64(11)
    uniforms = (words.astype(np.float64) + 0.5) / float(2**53)
    u1, u2 = uniforms[0::2], uniforms[1::2]
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    normal = np.empty(2 * pairs, dtype=np.float64)
    normal[0::2] = radius * np.cos(angle)
    normal[1::2] = radius * np.sin(angle)
    return normal[:count]


@lru_cache(maxsize=32)
def _haar(seed: bytes, dim: int) -> NDArray[np.float64]:
    gauss = _gaussians(seed, f"rotation|{dim}|".encode(), dim * dim).reshape(dim, dim)
    q, r = np.linalg.qr(gauss)
    q = q * np.sign(np.diag(r))  # Mezzadri's fix: R's diagonal positive ⇒ Q unique, Haar
    q.setflags(write=False)
    return q


def haar_orthogonal(seed: bytes, dim: int) -> NDArray[np.float64]:
    """The ``dim``×``dim`` Haar-random orthogonal matrix of ``seed`` (read-only, cached).

    Raises:
        ConfigError: ``dim`` < 1 or the seed is shorter than 16 bytes.
    """
    if dim < 1:
        raise ConfigError(f"the dimension must be at least 1, got {dim}")
    if len(seed) < 16:
        raise ConfigError("a template seed must hold at least 16 bytes")
    return _haar(bytes(seed), int(dim))


def keyed_projection(seed: bytes, dim: int, keep: int) -> NDArray[np.float64]:
    """A non-invertible variant: ``keep`` orthonormal rows (``keep`` ≤ ``dim``) of a
    Haar-random rotation. ``normalize(P x)`` loses the template's other ``dim − keep``
    directions; similarities shrink towards ``keep/dim`` of their spread, at a cost in
    accuracy that ``benchmarks/privacy_cancelable.py`` measures.

    Raises:
        ConfigError: ``keep`` is not in ``[1, dim]``.
    """
    if not 1 <= keep <= dim:
        raise ConfigError(f"keep must be in [1, {dim}], got {keep}")
    return haar_orthogonal(seed, dim)[:keep]


def template_key_id(seed: bytes) -> str:
    """The public 12-hex-digit name of a template key (an HMAC of a fixed label: it
    reveals nothing of the seed)."""
    return hmac.new(seed, _ID_LABEL, hashlib.sha256).hexdigest()[:12]


def protected_model_id(model_id: str, key_id: str) -> str:
    """``"<model>+cancelable:<key id>"``: the model id of templates under that key."""
    return f"{base_model_id(model_id)}{SUFFIX}{key_id}"


def base_model_id(model_id: str) -> str:
    """The embedding model of a (possibly protected) model id."""
    return model_id.split(SUFFIX, 1)[0]


def key_id_of(model_id: str) -> str | None:
    """The template key id in a protected model id (``None``: plain templates)."""
    _, sep, key_id = model_id.partition(SUFFIX)
    return key_id if sep else None


@dataclass(frozen=True, slots=True, eq=False)
class CancelableTransform:
    """One secret rotation, applied to unit embeddings of a given dimension."""

    matrix: NDArray[np.float64] = field(repr=False)
    key_id: str

    @property
    def dimension(self) -> int:
        return int(self.matrix.shape[0])

    def apply(self, vectors: NDArray[np.floating]) -> NDArray[np.float32]:
        """``R x`` of each row (an N×D array, or one D vector), renormalised float32.

        Raises:
            ConfigError: the vectors' dimension is not this transform's.
        """
        v = np.asarray(vectors, dtype=np.float64)
        if v.shape[-1:] != (self.dimension,):
            raise ConfigError(
                f"a {self.dimension}-d template key cannot transform {v.shape[-1]}-d vectors"
            )
        out = v @ self.matrix.T
        norms = np.linalg.norm(out, axis=-1, keepdims=True)
        result: NDArray[np.float32] = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def invert(self, vectors: NDArray[np.floating]) -> NDArray[np.float32]:
        """``Rᵀ y``: the plain embeddings back (for re-issue; needs the key)."""
        return CancelableTransform(self.matrix.T, self.key_id).apply(vectors)


@dataclass(frozen=True, slots=True)
class TemplateKey:
    """The secret of one tenant's templates (``repr`` never shows the seed).

    Attributes:
        seed: at least 16 secret bytes (32 when derived).
        tenant: the tenant it was derived for (for messages).
    """

    seed: bytes = field(repr=False)
    tenant: str = "default"

    def __post_init__(self) -> None:
        if len(self.seed) < 16:
            raise ConfigError("a template seed must hold at least 16 bytes")

    @classmethod
    def derive(cls, master: KeyDeriving, tenant: str = "default") -> TemplateKey:
        """Tenant ``tenant``'s key from a master key: HKDF for
        ``"faceprint.cancelable.<tenant>"``, so tenants are unlinkable and rotating the
        master key re-issues them all.

        Raises:
            ConfigError: an empty tenant name.
        """
        name = tenant.strip()
        if not name or not name.isprintable():
            raise ConfigError(f"a tenant name must be printable and non-empty, got {tenant!r}")
        return cls(seed=master.derive(PURPOSE_PREFIX + name, length=_SEED_BYTES), tenant=name)

    @property
    def key_id(self) -> str:
        """The public id that protected model ids carry."""
        return template_key_id(self.seed)

    def transform(self, dim: int) -> CancelableTransform:
        """The rotation for ``dim``-dimensional embeddings."""
        return CancelableTransform(haar_orthogonal(self.seed, dim), self.key_id)

    def apply(self, vectors: NDArray[np.floating]) -> NDArray[np.float32]:
        """Transform an N×D batch (or one vector) of unit embeddings."""
        v = np.asarray(vectors)
        if v.size == 0:  # no face: nothing to transform (and maybe no dimension)
            return v.astype(np.float32)
        return self.transform(int(v.shape[-1])).apply(v)

    def model_id(self, model_id: str) -> str:
        """The model id of ``model_id``'s embeddings under this key."""
        return protected_model_id(model_id, self.key_id)


@dataclass(frozen=True, slots=True)
class PlainTemplates:
    """No protection: embeddings and model ids as the model makes them."""

    def apply(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        return vectors

    def model_id(self, model_id: str) -> str:
        return model_id


PLAIN = PlainTemplates()
"""What a pipeline without a template key applies."""


def reissue_matrix(
    old: TemplateKey | None, new: TemplateKey | None, dim: int
) -> NDArray[np.float64]:
    """The map from templates under ``old`` to templates under ``new``: ``R_new R_oldᵀ``
    (``None``: plain templates, the identity)."""
    eye = np.eye(dim)
    r_old = old.transform(dim).matrix if old is not None else eye
    r_new = new.transform(dim).matrix if new is not None else eye
    out: NDArray[np.float64] = r_new @ r_old.T
    return out
