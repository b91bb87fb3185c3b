"""Two-party threshold Paillier for encrypted 1:N search (the threshold variant).

No single server can decrypt: the decryption exponent is split 2-of-2 between party a and
party b (Damgård–Jurik threshold Paillier, two-party form of Hazay–Mikkelsen–Rabin–Toft;
see :mod:`faceprint.privacy.paillier_keys`). The client encrypts its quantized probe, the
server computes packed encrypted scores against its plaintext gallery
(:mod:`faceprint.privacy.paillier_search`), each party returns a partial decryption, and
:func:`combine` yields the scores.

    public, share_a, share_b = ThresholdKeys.generate(bits=2048)   # trusted dealer
    probe = encrypt_probe(public, x)                               # client
    result = score(public, probe, quantize_gallery(G, probe.quant))  # server
    scores = combine(public, partial_decrypt(share_a, result),
                     partial_decrypt(share_b, result))             # (N,) float64

Every object has ``to_bytes``/``from_bytes`` (length-prefixed big-endian integers after a
JSON header; no pickle), so the roles can run as separate processes.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import WrongKeyError

from .paillier_keys import (
    KeyShare,
    PartialDecryption,
    Party,
    PublicKey,
    ThresholdKeys,
    combine_plaintexts,
    partial_powers,
)
from .paillier_search import (
    EncryptedProbe,
    EncryptedScores,
    Quantization,
    ScoreTimings,
    encrypt_probe,
    quantize_gallery,
    score,
    score_with_timings,
    unpack,
)

__all__ = [
    "EncryptedProbe",
    "EncryptedScores",
    "KeyShare",
    "PartialDecryption",
    "PublicKey",
    "Quantization",
    "ScoreTimings",
    "ThresholdKeys",
    "combine",
    "combine_integers",
    "encrypt_probe",
    "partial_decrypt",
    "quantize_gallery",
    "score",
    "score_with_timings",
]


def partial_decrypt(
    share: KeyShare, scores: EncryptedScores, *, workers: int = 1
) -> PartialDecryption:
    """This party's ``c^{d_X} mod n²`` for every ciphertext of ``scores`` (on ``workers``
    processes; 1 runs here).

    Reveals nothing about the plaintexts on its own. Raises WrongKeyError when the scores
    are encrypted under another key, UsageError for a damaged ciphertext."""
    if scores.key_id != share.key_id:
        raise WrongKeyError(
            f"these scores are encrypted under key {scores.key_id}; this share is for "
            f"{share.key_id}"
        )
    return PartialDecryption(
        party=share.party,
        key_id=share.key_id,
        digest=scores.digest,
        layout=scores.layout,
        values=_powers(share, scores.ciphertexts, workers),
    )


def _powers(share: KeyShare, cts: tuple[int, ...], workers: int) -> tuple[int, ...]:
    if workers <= 1 or len(cts) < 2:
        return partial_powers(share, cts)
    size = -(-len(cts) // workers)
    chunks = [cts[i : i + size] for i in range(0, len(cts), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_share_powers, share.party, share.n, share.exponent, c) for c in chunks
        ]
        return tuple(v for f in futures for v in f.result())


def _share_powers(party: Party, n: int, exponent: int, cts: tuple[int, ...]) -> tuple[int, ...]:
    return partial_powers(KeyShare(party=party, n=n, exponent=exponent), cts)


def combine_integers(
    public: PublicKey, partial_a: PartialDecryption, partial_b: PartialDecryption
) -> NDArray[np.int64]:
    """(N,) exact integer scores ``p·g`` from both parties' partials.

    Raises WrongKeyError (other key, wrong or damaged share) or UsageError (same party
    twice, partials of different results, a result that does not unpack)."""
    plain = combine_plaintexts(public, partial_a, partial_b)
    return np.asarray(unpack(plain, public.n, partial_a.layout), dtype=np.int64)


def combine(
    public: PublicKey, partial_a: PartialDecryption, partial_b: PartialDecryption
) -> NDArray[np.float64]:
    """(N,) cosine scores (integer scores / (probe_scale·gallery_scale)), within
    :meth:`Quantization.error_bound` of the float dot products. Raises as
    :func:`combine_integers`."""
    scale = partial_a.layout[3]
    return combine_integers(public, partial_a, partial_b).astype(np.float64) / scale
