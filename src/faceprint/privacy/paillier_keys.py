"""Two-party threshold Paillier: dealer key generation, key shares, partial decryption.

Construction (Paillier 1999 with g = n + 1; the threshold decryption exponent of
Damgård–Jurik, "A generalisation, a simplification and some applications of Paillier's
probabilistic public-key system", PKC 2001, in the two-party form of Hazay, Mikkelsen,
Rabin, Toft, "Efficient RSA key generation and threshold Paillier in the two-party
setting", CT-RSA 2012 / J. Cryptology 2019):

* ``n = p·q`` (2048 bits by default, 3072 selectable), ``λ = lcm(p-1, q-1)``.
* ``d`` with ``d ≡ 0 (mod λ)`` and ``d ≡ 1 (mod n)``, i.e. ``d = λ·(λ⁻¹ mod n)``. For any
  ciphertext ``c = (1+n)^m · rⁿ mod n²``: ``c^d = (1+n)^{m·d}·r^{n·d} = 1 + m·n (mod n²)``
  because ``r^{nλ} ≡ 1`` and ``d ≡ 1 (mod n)``; so ``m = L(c^d) = (c^d − 1)/n``.
* 2-of-2 additive sharing of ``d`` over the integers: ``d_a`` uniform in
  ``[0, 2^{|nλ|+κ})`` with ``κ = 128`` statistical-hiding bits, ``d_b = d − d_a`` (negative).
  ``d_b``'s distribution is within ``2^{-κ}`` of one that does not depend on ``d``, so a
  single share says nothing about ``d`` (hence nothing about λ or the factors).
* Party X's partial decryption is ``c^{d_X} mod n²`` (no CRT: the parties do not know p,
  q); ``combine`` computes ``L(c_a·c_b mod n²)``. One partial alone is ``c^{d_a}``, a
  value indistinguishable from ``c`` raised to a random exponent: it does not decrypt.

Trusted dealer. :meth:`ThresholdKeys.generate` is run by a dealer who sees p, q, λ and d
and must erase them after handing out the shares (this function keeps nothing). To remove
the dealer, the parties would run a distributed RSA-modulus generation and share λ
themselves (Hazay et al. above, or Boneh–Franklin style protocols); the shares this module
consumes have exactly the same form (additive integer shares of ``d``), so only
``generate`` would change.

gmpy2 (``pip install 'faceprint[privacy]'``) is imported inside functions only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from faceprint.errors import ConfigError, MissingDependencyError, UsageError, WrongKeyError

from .paillier_wire import Reader, Writer

Party = Literal["a", "b"]
HIDING_BITS = 128
"""κ: extra bits of the integer share ``d_a`` over ``|nλ|`` (statistical hiding 2^-κ)."""
KEY_SIZES = (1024, 2048, 3072)
"""Modulus sizes accepted; 1024 is for tests only (below today's recommendations)."""


def gmp() -> Any:
    """The gmpy2 module, or MissingDependencyError with the install hint."""
    try:
        import gmpy2
    except ImportError as exc:
        raise MissingDependencyError(
            "threshold Paillier needs gmpy2: pip install 'faceprint[privacy]'"
        ) from exc
    return gmpy2


def key_id_of(n: int) -> str:
    """Short stable identifier of a public key: first 16 hex digits of SHA-256(n)."""
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return hashlib.sha256(b"faceprint-paillier\0" + raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PublicKey:
    """Paillier public key (g = n + 1). ``n2`` is n²; ``bits`` the size of n."""

    n: int

    @property
    def n2(self) -> int:
        return self.n * self.n

    @property
    def bits(self) -> int:
        return self.n.bit_length()

    @property
    def key_id(self) -> str:
        return key_id_of(self.n)

    @property
    def ciphertext_bytes(self) -> int:
        """Bytes of one serialized ciphertext (an element of Z/n²)."""
        return (self.n2.bit_length() + 7) // 8

    def to_bytes(self) -> bytes:
        w = Writer("public-key", {"key_id": self.key_id})
        w.add_int(self.n)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Raises UsageError for bytes that are not a serialized public key."""
        r = Reader(data, "public-key")
        key = cls(n=r.next_int())
        r.end()
        if key.key_id != r.header.get("key_id"):
            raise UsageError("public key bytes are damaged (key id does not match n)")
        return key


@dataclass(frozen=True, slots=True)
class KeyShare:
    """One party's additive share of the decryption exponent d (``exponent`` may be
    negative for party b). Secret: give it only to that party."""

    party: Party
    n: int
    exponent: int

    @property
    def key_id(self) -> str:
        return key_id_of(self.n)

    def __repr__(self) -> str:  # never print the secret exponent
        return f"KeyShare(party={self.party!r}, key_id={self.key_id!r})"

    def to_bytes(self) -> bytes:
        w = Writer("key-share", {"key_id": self.key_id, "party": self.party})
        w.add_int(self.n)
        w.add_int(abs(self.exponent))
        w.add_int(1 if self.exponent < 0 else 0)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyShare:
        """Raises UsageError for bytes that are not a serialized key share."""
        r = Reader(data, "key-share")
        n, magnitude, negative = r.next_int(), r.next_int(), r.next_int()
        r.end()
        party = r.header.get("party")
        if party not in ("a", "b") or key_id_of(n) != r.header.get("key_id"):
            raise UsageError("key share bytes are damaged (party or key id)")
        return cls(party=party, n=n, exponent=-magnitude if negative else magnitude)


class ThresholdKeys:
    """The trusted dealer (see the module docstring)."""

    @staticmethod
    def generate(bits: int = 2048) -> tuple[PublicKey, KeyShare, KeyShare]:
        """Trusted-dealer key generation: ``n`` of ``bits`` bits (two primes of bits/2,
        from :mod:`secrets`), ``d = λ·(λ⁻¹ mod n)`` split as ``d_a + d_b`` over the
        integers. p, q, λ, d are discarded on return. Raises ConfigError for a size not in
        :data:`KEY_SIZES`, MissingDependencyError without gmpy2."""
        if bits not in KEY_SIZES:
            raise ConfigError(f"Paillier modulus must be one of {KEY_SIZES} bits, got {bits}")
        g = gmp()
        half = bits // 2
        while True:
            p = _prime(g, half)
            q = _prime(g, half)
            n = p * q
            if p != q and n.bit_length() == bits and g.gcd(n, (p - 1) * (q - 1)) == 1:
                break
        lam = g.lcm(p - 1, q - 1)
        d = lam * g.invert(lam, n)  # ≡ 0 mod λ, ≡ 1 mod n
        share_bits = (n * lam).bit_length() + HIDING_BITS
        d_a = g.mpz(secrets.randbits(share_bits))
        d_b = d - d_a
        n_int = int(n)
        return (
            PublicKey(n=n_int),
            KeyShare(party="a", n=n_int, exponent=int(d_a)),
            KeyShare(party="b", n=n_int, exponent=int(d_b)),
        )


def _prime(g: Any, bits: int) -> Any:
    """A random prime of exactly ``bits`` bits (top two bits set so p·q has 2·bits)."""
    while True:
        cand = g.mpz(secrets.randbits(bits)) | (g.mpz(3) << (bits - 2)) | 1
        if g.is_prime(cand, 50):
            return cand


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    """``c^{d_X} mod n²`` for each ciphertext of one encrypted result, from party X.

    ``digest`` binds it to the ciphertexts it was computed from; ``layout`` carries the
    result's unpacking parameters (count, slots per ciphertext, slot bits, scale)."""

    party: Party
    key_id: str
    digest: str
    layout: tuple[int, int, int, int]
    values: tuple[int, ...]

    def to_bytes(self) -> bytes:
        header = {
            "party": self.party,
            "key_id": self.key_id,
            "digest": self.digest,
            "layout": list(self.layout),
        }
        w = Writer("partial", header)
        for v in self.values:
            w.add_int(v)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> PartialDecryption:
        """Raises UsageError for bytes that are not a serialized partial decryption."""
        r = Reader(data, "partial")
        values = tuple(r.rest_ints())
        h = r.header
        layout = h.get("layout")
        if h.get("party") not in ("a", "b") or not isinstance(layout, list) or len(layout) != 4:
            raise UsageError("partial decryption bytes are damaged (party or layout)")
        return cls(
            party=h["party"],
            key_id=str(h.get("key_id")),
            digest=str(h.get("digest")),
            layout=(int(layout[0]), int(layout[1]), int(layout[2]), int(layout[3])),
            values=values,
        )


def partial_powers(share: KeyShare, ciphertexts: tuple[int, ...]) -> tuple[int, ...]:
    """``c^{d_X} mod n²`` for each ciphertext (negative exponents invert first)."""
    g = gmp()
    n2 = g.mpz(share.n) ** 2
    e = g.mpz(share.exponent)
    out = []
    for c in ciphertexts:
        cc = g.mpz(c)
        if not 0 < cc < n2 or g.gcd(cc, share.n) != 1:
            raise UsageError("a ciphertext is not an element of (Z/n²)*: damaged input")
        out.append(int(g.powmod(cc, e, n2)))
    return tuple(out)


def combine_plaintexts(public: PublicKey, a: PartialDecryption, b: PartialDecryption) -> list[int]:
    """Plaintexts (in [0, n)) from both parties' partials of the same ciphertexts.

    Raises WrongKeyError when a partial is for another key or the two partials do not
    combine (a wrong or damaged share), UsageError when both come from the same party or
    from different ciphertexts."""
    for part in (a, b):
        if part.key_id != public.key_id:
            raise WrongKeyError(
                f"partial decryption from party {part.party} is for key {part.key_id}, "
                f"not {public.key_id}"
            )
    if a.party == b.party:
        raise UsageError(f"both partial decryptions come from party {a.party}; need a and b")
    if a.digest != b.digest or a.layout != b.layout or len(a.values) != len(b.values):
        raise UsageError("the two partial decryptions are of different encrypted results")
    g = gmp()
    n = g.mpz(public.n)
    n2 = n * n
    out = []
    for x, y in zip(a.values, b.values, strict=True):
        u = g.mpz(x) * g.mpz(y) % n2
        if u % n != 1:
            raise WrongKeyError(
                f"the partial decryptions do not combine under key {public.key_id}: "
                "a share is wrong or damaged; nothing was decrypted"
            )
        out.append(int((u - 1) // n))
    return out
