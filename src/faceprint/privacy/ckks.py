"""CKKS keys and the client's side of encrypted search: keygen, encrypt a probe, decrypt.

The client (who owns the probe) holds a :class:`KeySet` with the secret key; the server
gets :meth:`KeySet.public` — parameters, public key, the Galois keys of exactly the
rotations the layout uses (:func:`faceprint.privacy.layout.supported_steps`, plus complex
conjugation) and relinearisation keys (for an encrypted gallery) — and can encrypt and
compute but never decrypt.

Parameters (Microsoft SEAL through TenSEAL's ``sealapi``): ring degree N = 8192 (4,096
complex slots), coefficient modulus 60 + 40 + 60 bits (160 of the 218 bits SEAL allows
for 128-bit security at N = 8192, HomomorphicEncryption.org standard), scale 2^40. One
rescale is spent on the similarity; a ``decision`` result's random factors are encoded at
scale 2^10 and need no second rescale (values stay below 2^57 of the 60-bit prime).

Scores decrypt with an absolute error around 1e-6 (measured; see docs/privacy.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceprint.errors import MissingDependencyError, UsageError, WrongKeyError
from faceprint.privacy import layout as lay
from faceprint.privacy.labels import Labels
from faceprint.privacy.wire import SealFiles, pack, unpack

__all__ = [
    "MODES",
    "RING",
    "DecryptedResult",
    "KeySet",
    "seal_api",
]

RING = 8192
"""Polynomial ring degree N; ``N / 2`` complex slots per ciphertext."""
MODULUS_BITS = (60, 40, 60)
"""Coefficient modulus primes: data 60 + 40, special (key switching) 60."""
SCALE = 2.0**40
"""CKKS scale of the probe and the gallery's diagonals."""
MODES = ("decision", "scores")
"""What a search returns: ``decision`` (default) hides the scores behind random positive
factors, so the client learns only which templates pass the threshold; ``scores`` returns
raw similarities (lets a client who sends ~``dim`` chosen probes rebuild the gallery)."""


def seal_api() -> Any:
    """TenSEAL's SEAL binding, or a typed error naming the extra.

    Raises:
        MissingDependencyError: TenSEAL is not installed.
    """
    try:
        from tenseal import sealapi
    except ImportError:
        raise MissingDependencyError(
            "encrypted search needs TenSEAL: pip install 'faceprint[privacy]'"
        ) from None
    return sealapi


@dataclass(frozen=True, slots=True)
class DecryptedResult:
    """A search result as the client reads it after decryption.

    ``values`` has one entry per gallery face (in ``face_ids`` order): the similarity in
    ``scores`` mode; in ``decision`` mode a randomised margin whose sign is the decision
    (``> 0``: the face passes ``threshold``) and whose size means nothing.
    """

    mode: str
    threshold: float
    values: np.ndarray
    face_ids: tuple[int, ...]
    persons: tuple[str, ...]
    """The person of each face."""
    collection: str | None

    @property
    def accepted(self) -> np.ndarray:
        """Per face: passes the threshold (bool)."""
        if self.mode == "scores":
            return np.asarray(self.values >= self.threshold)
        return np.asarray(self.values > 0)

    def matched_persons(self) -> list[str]:
        """The persons with at least one face passing the threshold (sorted by name in
        ``decision`` mode, by best similarity in ``scores`` mode)."""
        ok = self.accepted
        if self.mode == "scores":
            best: dict[str, float] = {}
            for person, value, passed in zip(self.persons, self.values, ok, strict=True):
                if passed and value > best.get(person, -np.inf):
                    best[person] = float(value)
            return sorted(best, key=lambda p: -best[p])
        return sorted({p for p, passed in zip(self.persons, ok, strict=True) if passed})


class KeySet:
    """CKKS parameters and keys for ``dim``-d templates; with or without the secret key."""

    def __init__(self, *, dim: int, parts: dict[str, Any], key_id: str) -> None:
        self.dim = dim
        self.key_id = key_id
        self._parts = parts
        self.api: Any = seal_api()
        self._files = SealFiles()
        self.context: Any = parts["context"]
        self.encoder: Any = self.api.CKKSEncoder(self.context)
        self.evaluator: Any = self.api.Evaluator(self.context)

    # --- creation and storage ----------------------------------------------------------

    @classmethod
    def generate(cls, dim: int) -> KeySet:
        """Fresh keys for ``dim``-d templates (about a second; 26 MB of Galois keys at
        dim 128).

        Raises:
            UsageError: ``dim`` does not fit the ring.
            MissingDependencyError: TenSEAL is not installed.
        """
        api = seal_api()
        lay.plan(dim, 1, slots=RING // 2)  # validates dim
        context = _context(api)
        keygen = api.KeyGenerator(context)
        public = api.PublicKey()
        keygen.create_public_key(public)
        galois = api.GaloisKeys()
        elements = [pow(3, s, 2 * RING) for s in lay.supported_steps(dim, RING // 2)]
        keygen.create_galois_keys([*elements, 2 * RING - 1], galois)
        relin = api.RelinKeys()
        keygen.create_relin_keys(relin)
        parts = {
            "context": context,
            "public": public,
            "galois": galois,
            "relin": relin,
            "secret": keygen.secret_key(),
        }
        files = SealFiles()
        key_id = hashlib.sha256(files.dump(public)).hexdigest()[:16]
        files.close()
        return cls(dim=dim, parts=parts, key_id=key_id)

    @property
    def has_secret(self) -> bool:
        return "secret" in self._parts

    def public(self) -> KeySet:
        """The same keys without the secret key (what the server gets)."""
        parts = {k: v for k, v in self._parts.items() if k != "secret"}
        return KeySet(dim=self.dim, parts=parts, key_id=self.key_id)

    def to_bytes(self) -> bytes:
        """The key set as one frame (with the secret key if this set has it)."""
        names = [n for n in ("public", "galois", "relin", "secret") if n in self._parts]
        header = {
            "kind": "secret-keys" if self.has_secret else "public-keys",
            "scheme": "ckks",
            "ring": RING,
            "modulus_bits": list(MODULUS_BITS),
            "dim": self.dim,
            "key_id": self.key_id,
            "parts": names,
        }
        return pack(header, [self._files.dump(self._parts[n]) for n in names])

    @classmethod
    def from_bytes(cls, data: bytes, *, what: str = "key file") -> KeySet:
        """Keys from :meth:`to_bytes`.

        Raises:
            UsageError: not a key file, or damaged, or other parameters.
        """
        frame = unpack(data, what=what)
        if frame.kind not in ("secret-keys", "public-keys"):
            raise UsageError(f"{what} holds a {frame.kind or 'unknown'} frame, not keys")
        head = frame.header
        if head.get("ring") != RING or head.get("modulus_bits") != list(MODULUS_BITS):
            raise UsageError(f"{what} was made with other CKKS parameters; make new keys")
        api = seal_api()
        context = _context(api)
        files = SealFiles()
        kinds = {
            "public": api.PublicKey,
            "galois": api.GaloisKeys,
            "relin": api.RelinKeys,
            "secret": api.SecretKey,
        }
        parts: dict[str, Any] = {"context": context}
        names = head.get("parts", [])
        if len(names) != len(frame.blobs) or not {"public", "galois"} <= set(names):
            raise UsageError(f"{what} is damaged (its parts do not match its header)")
        for name, blob in zip(names, frame.blobs, strict=True):
            if name not in kinds:
                raise UsageError(f"{what} holds an unknown part {name!r}")
            parts[name] = files.load(kinds[name](), context, blob, what=f"{what} ({name})")
        files.close()
        return cls(dim=int(head["dim"]), parts=parts, key_id=str(head["key_id"]))

    # --- SEAL objects --------------------------------------------------------------------

    def part(self, name: str) -> Any:
        """A SEAL key object: ``public``, ``galois``, ``relin`` or ``secret``."""
        return self._parts[name]

    def dump(self, obj: Any) -> bytes:
        """A SEAL object's serialised bytes."""
        return self._files.dump(obj)

    def load_ciphertext(self, data: bytes, *, what: str) -> Any:
        """A ciphertext from its bytes, validated against these keys' parameters.

        Raises:
            UsageError: damaged, or made for other parameters (names ``what``).
        """
        return self._files.load(self.api.Ciphertext(), self.context, data, what=what)

    # --- the client's operations ---------------------------------------------------------

    def encrypt_slots(self, values: np.ndarray) -> Any:
        """One fresh ciphertext of ``values`` (real or complex, ``N/2`` slots)."""
        plain = self.api.Plaintext()
        self.encoder.encode(values.tolist(), SCALE, plain)
        cipher = self.api.Ciphertext()
        if self.has_secret:  # the key owner encrypts symmetrically: 2.4x faster, same security
            self.api.Encryptor(self.context, self._parts["secret"]).encrypt_symmetric(plain, cipher)
        else:
            self.api.Encryptor(self.context, self._parts["public"]).encrypt(plain, cipher)
        return cipher

    def encrypt_probe(self, vector: np.ndarray | Sequence[float]) -> bytes:
        """The encrypted probe frame (for :meth:`EncryptedIndex.search`).

        Raises:
            UsageError: the vector is not ``dim`` finite values.
        """
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        if v.shape[0] != self.dim or not np.all(np.isfinite(v)):
            raise UsageError(f"a probe must be {self.dim} finite values, got {v.shape[0]}")
        slots = lay.probe_slots(v, lay.plan(self.dim, 1, slots=RING // 2))
        cipher = self.encrypt_slots(slots)
        header = {"kind": "probe", "key_id": self.key_id, "dim": self.dim}
        return pack(header, [self.dump(cipher)])

    def decrypt_result(self, data: bytes) -> DecryptedResult:
        """Decrypt a search result frame.

        Raises:
            UsageError: not a result, or damaged.
            WrongKeyError: the result was computed for other keys, or these keys have no
                secret key (a server's public key set).
        """
        frame = unpack(data, what="search result").expect("result")
        head = frame.header
        if head.get("key_id") != self.key_id:
            raise WrongKeyError(
                f"this result was encrypted for keys {head.get('key_id')}; these keys are "
                f"{self.key_id}"
            )
        if not self.has_secret:
            raise WrongKeyError("these are public keys; decrypting needs the secret key file")
        plan = lay.Plan(
            dim=self.dim,
            width=lay.padded_width(self.dim),
            slots=RING // 2,
            count=int(head["count"]),
            baby=int(head["baby"]),
        )
        decryptor = self.api.Decryptor(self.context, self._parts["secret"])
        chunks = []
        for i, blob in enumerate(frame.blobs):
            cipher = self.load_ciphertext(blob, what=f"result part {i}")
            plain = self.api.Plaintext()
            decryptor.decrypt(cipher, plain)
            chunks.append(np.asarray(self.encoder.decode_complex(plain)))
        values = lay.unpack_scores(chunks, plan)
        labels = Labels.from_header(head)
        if len(labels.face_ids) != plan.count:
            raise UsageError("search result is damaged (labels do not match its scores)")
        return DecryptedResult(
            mode=str(head["mode"]),
            threshold=float(head["threshold"]),
            values=values,
            face_ids=labels.face_ids,
            persons=labels.persons(),
            collection=labels.collection,
        )

    def close(self) -> None:
        self._files.close()

    def __repr__(self) -> str:
        kind = "secret" if self.has_secret else "public"
        return f"KeySet(ckks, dim={self.dim}, {kind}, id={self.key_id})"


def _context(api: Any) -> Any:
    parms = api.EncryptionParameters(api.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(RING)
    parms.set_coeff_modulus(api.CoeffModulus.Create(RING, list(MODULUS_BITS)))
    return api.SEALContext(parms, True, api.SEC_LEVEL_TYPE.TC128)
