"""Exact gallery search on a PyTorch device: one matrix product and ``topk`` per probe.

On a GPU a brute-force scan of millions of templates answers faster than any graph, so
with ``--device cuda`` every collection is searched this way (float16 on CUDA, float32
elsewhere); the hits' similarities are then re-computed exactly from the stored float32
vectors by :class:`~faceprint.gallery.Gallery`. PyTorch is imported only here and in
:mod:`faceprint.models.runtime`; ``torch-cpu`` runs the same code on the CPU, which is
how the tests check it without a GPU.

:class:`faceprint.gallery.engines.DeviceIndex` wraps it as a
:class:`~faceprint.gallery.vectors.VectorIndex` (the gallery layer sits above this one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.core.rows import RowTable
from faceprint.errors import ConfigError


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            "GPU gallery search needs PyTorch: pip install 'faceprint[gpu]', or search on the CPU"
        ) from exc
    return torch


class TorchIndex:
    """A growable matrix on a torch device, with tombstones for removed faces.

    Args:
        dim: the embedding dimension.
        device: ``"cuda"``, ``"cuda:1"`` or ``"cpu"``.
    """

    kind = "torch"

    def __init__(self, dim: int, device: str = "cuda") -> None:
        torch = _torch()
        self._torch = torch
        self._device = torch.device(device)
        self._half = self._device.type == "cuda"
        self.exact = not self._half
        self._dim = dim
        dtype = torch.float16 if self._half else torch.float32
        self._matrix = torch.zeros((0, dim), dtype=dtype, device=self._device)
        self._dead_mask = torch.ones(0, dtype=torch.bool, device=self._device)
        self._rows = RowTable()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def memory_bytes(self) -> int:
        return int(self._matrix.element_size() * self._matrix.nelement()) + self._rows.nbytes

    def add(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        face_ids, person_ids, vectors = self._rows.fresh(face_ids, person_ids, vectors, self._dim)
        if len(face_ids) == 0:
            return
        if not self._rows.grows(face_ids):
            raise ValueError("face ids must grow; rebuild the index to add older faces")
        torch = self._torch
        start = self._rows.append(face_ids, person_ids)
        end = start + len(face_ids)
        if end > self._matrix.shape[0]:  # grows with the row table: an add rarely copies
            capacity = len(self._rows.face_ids)
            grown = torch.zeros(
                (capacity, self._dim), dtype=self._matrix.dtype, device=self._device
            )
            grown[:start] = self._matrix[:start]
            mask = torch.ones(capacity, dtype=torch.bool, device=self._device)
            mask[:start] = self._dead_mask[:start]
            self._matrix, self._dead_mask = grown, mask
        block = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self._matrix[start:end] = block.to(self._device, self._matrix.dtype)
        self._dead_mask[start:end] = False

    def remove(self, face_ids: NDArray[np.int64]) -> None:
        rows = self._rows.kill(face_ids)
        if len(rows):
            self._dead_mask[self._torch.from_numpy(rows).to(self._device)] = True

    def top(
        self, probe: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        """Face ids, person ids and similarities of the ``k`` best faces, best first
        (ties: lower face id)."""
        take = min(k, len(self))
        if take == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.float32)
        torch = self._torch
        with torch.no_grad():
            q = torch.from_numpy(np.ascontiguousarray(probe, dtype=np.float32)).to(
                self._device, self._matrix.dtype
            )
            used = self._rows.used
            sims = (self._matrix[:used] @ q).float()
            sims = sims.masked_fill(self._dead_mask[:used], float("-inf"))
            values, rows = torch.topk(sims, take)
        values_np = values.cpu().numpy().astype(np.float32)
        rows_np = rows.cpu().numpy().astype(np.int64)
        order = np.lexsort((rows_np, -values_np))  # ties: the lower row, i.e. face id
        rows_np = rows_np[order]
        return self._rows.face_ids[rows_np], self._rows.person_ids[rows_np], values_np[order]
