"""Shares of a search run in worker processes, so one search uses every core.

SEAL's Python binding holds the GIL, so threads do not add cores: each
:class:`ShardProcess` is a process (started with ``spawn``: safe beside the service's
threads) that loads the public keys and encodes its share of the gallery once
(:class:`faceprint.privacy.layout.Share`: some chunks × some baby steps), then answers
probes over a pipe with its partial scores. Everything on the pipe is a
:mod:`faceprint.privacy.wire` frame (``send_bytes``), never a pickle.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from faceprint.errors import FaceprintError, UsageError
from faceprint.privacy import layout as lay
from faceprint.privacy.wire import pack, unpack

__all__ = ["ShardProcess"]

START_TIMEOUT_S = 600.0
"""How long a worker may take to load keys and encode its share (100k templates: ~3 s)."""


class ShardProcess:
    """One worker process holding one share of a gallery."""

    def __init__(
        self,
        public_keys: bytes,
        plan: lay.Plan,
        share: lay.Share,
        *,
        rows: np.ndarray | None = None,
        encrypted: Sequence[bytes] = (),
    ) -> None:
        """``rows``: the plaintext gallery's rows of the share's chunks; or ``encrypted``:
        the share's ciphertexts (:func:`faceprint.privacy.scorer.share_blobs`)."""
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="faceprint-he")
        self._proc.start()
        child.close()
        self.share = share
        header: dict[str, Any] = {
            "kind": "shard-init",
            "plan": [plan.dim, plan.width, plan.slots, plan.count, plan.baby],
            "chunks": [share.chunks.start, share.chunks.stop],
            "babies": [share.babies.start, share.babies.stop],
            "encrypted": rows is None,
        }
        blobs = [public_keys]
        if rows is not None:
            part = np.ascontiguousarray(rows, dtype="<f4")
            header["shape"] = list(part.shape)
            blobs.append(part.tobytes())
        else:
            blobs.extend(encrypted)
        try:
            self._conn.send_bytes(pack(header, blobs))
            ready = self._conn.poll(START_TIMEOUT_S)
            reply = unpack(self._conn.recv_bytes(), what="worker reply") if ready else None
        except (OSError, EOFError):
            reply = None
        if reply is None or reply.kind != "ready":
            why = reply.header.get("error") if reply is not None else "it did not start"
            self.close()
            raise FaceprintError(f"an encrypted-search worker failed: {why}")

    def submit(
        self, probe: bytes, *, finish: bool = False, mode: str = "scores", threshold: float = 0.0
    ) -> None:
        """Start scoring ``probe`` (a SEAL ciphertext's bytes); :meth:`collect` gets it.
        With ``finish`` (a share holding every baby step of its chunks) the worker returns
        its chunks' results in ``mode`` (:func:`faceprint.privacy.scorer.finish`), not
        partial sums."""
        header = {"kind": "score", "finish": finish, "mode": mode, "threshold": threshold}
        self._conn.send_bytes(pack(header, [probe]))

    def collect(self) -> tuple[bytes, ...]:
        """The partial scores of the last :meth:`submit`, one ciphertext per chunk.

        Raises:
            UsageError: the worker refused the probe (its message).
            FaceprintError: the worker died.
        """
        try:
            reply = unpack(self._conn.recv_bytes(), what="worker reply")
        except (OSError, EOFError):
            raise FaceprintError("an encrypted-search worker died; restart the server") from None
        if reply.kind != "scores":
            raise UsageError(str(reply.header.get("error", "the worker failed")))
        return reply.blobs

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send_bytes(pack({"kind": "stop"}))
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
        self._conn.close()


def _serve(conn: Connection) -> None:
    """The worker's loop (runs in the child process)."""
    from faceprint.privacy.ckks import KeySet
    from faceprint.privacy.scorer import ChunkScorer, finish, random_factors

    try:
        init = unpack(conn.recv_bytes(), what="shard init").expect("shard-init")
        head = init.header
        plan = lay.Plan(*head["plan"])
        share = lay.Share(range(*head["chunks"]), range(*head["babies"]))
        keys = KeySet.from_bytes(init.blobs[0], what="public keys")
        if head["encrypted"]:
            scorer = ChunkScorer.from_encrypted(keys, plan, init.blobs[1:], share=share)
        else:
            rows = np.frombuffer(init.blobs[1], dtype="<f4").reshape(head["shape"])
            scorer = ChunkScorer.from_matrix(
                keys,
                plan,
                rows,
                first=share.chunks.start,
                count=len(share.chunks),
                babies=share.babies,
            )
    except Exception as exc:  # the parent reports it; a worker never dies silently
        conn.send_bytes(pack({"kind": "error", "error": str(exc)}))
        return
    conn.send_bytes(pack({"kind": "ready"}))
    while True:
        try:
            request = unpack(conn.recv_bytes(), what="request")
        except (EOFError, OSError):
            return
        if request.kind == "stop":
            return
        try:
            probe = keys.load_ciphertext(request.blobs[0], what="the probe")
            parts = scorer.partial(probe)
            head = request.header
            if head.get("finish"):
                mode, threshold = str(head["mode"]), float(head["threshold"])
                factors = random_factors(keys, len(parts)) if mode == "decision" else []
                parts = [
                    finish(
                        keys,
                        part,
                        mode=mode,
                        threshold=threshold,
                        factors=factors[i] if factors else None,
                    )
                    for i, part in enumerate(parts)
                ]
            conn.send_bytes(pack({"kind": "scores"}, [keys.dump(p) for p in parts]))
        except Exception as exc:
            conn.send_bytes(pack({"kind": "error", "error": str(exc)}))
