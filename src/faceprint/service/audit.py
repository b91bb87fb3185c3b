"""The service as the target of ``faceprint audit``'s inversion attack.

:class:`AuditTarget` enrolls each target person's photo in a scratch gallery, and for
each (response mode, target) run starts the real service (HTTP on loopback,
:func:`~faceprint.service.server.serve_in_background`) with that mode's settings,
mints the attacker a fresh API key (budgets are per key per day) and hands back an
:class:`~faceprint.eval.audit.service_oracle.ServiceOracle`. Each run logs its security
events to its own audit log, read back by :meth:`AuditTarget.events`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from faceprint.errors import AuditError
from faceprint.eval.audit.run import MODES, InversionTarget
from faceprint.eval.audit.service_oracle import ServiceOracle
from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.recognition import enroll_images
from faceprint.service.defences import read_events
from faceprint.service.keys import KeyStore
from faceprint.service.server import serve_in_background
from faceprint.service.settings import ServiceSettings

__all__ = ["COLLECTION", "AuditTarget", "mode_settings"]

COLLECTION = "audit"


def mode_settings(base: ServiceSettings, mode: str) -> ServiceSettings:
    """``base`` (the shipped defaults unless changed) set up for one response mode of
    :data:`faceprint.eval.audit.run.MODES`."""
    off = {"daily_budget": None, "target_budget": None, "hill_climb": False}
    if mode == "exact":
        return replace(base, score_decimals=None, responses="scores", **off)  # type: ignore[arg-type]
    if mode == "rounded":
        return replace(base, score_decimals=2, responses="scores", **off)  # type: ignore[arg-type]
    if mode == "decision":
        return replace(base, responses="decision", **off)  # type: ignore[arg-type]
    if mode == "detector":
        return replace(base, target_budget=None)
    if mode == "defaults":
        return base
    raise AuditError(f"unknown response mode {mode!r}; use {', '.join(MODES)}")


class AuditTarget:
    """A scratch service deployment holding the targets (a context manager)."""

    def __init__(
        self,
        pipeline: FacePipeline,
        targets: Sequence[InversionTarget],
        *,
        base: ServiceSettings | None = None,
        workdir: Path | None = None,
    ) -> None:
        self._own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="faceprint-audit-"))
        self._pipeline = pipeline
        gallery_path = self.workdir / "gallery.db"
        self._base = base or ServiceSettings(
            gallery_path=gallery_path, keys_path=self.workdir / "keys.db"
        )
        self._base = replace(self._base, gallery_path=gallery_path)
        with Gallery.open(gallery_path, model_id=pipeline.model_id) as gallery:
            for target in targets:
                if gallery.has_collection(COLLECTION) and any(
                    p.name == target.person for p in gallery.persons(collection=COLLECTION)
                ):
                    continue
                report = enroll_images(
                    pipeline, gallery, target.person, [target.enrolled], collection=COLLECTION
                )
                if not report.enrolled:
                    raise AuditError(f"{target.enrolled}: could not enroll {target.person}")

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> AuditTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_dir(self, mode: str, target: InversionTarget) -> Path:
        return self.workdir / mode / target.person

    @contextmanager
    def oracle(self, mode: str, target: InversionTarget) -> Iterator[ServiceOracle]:
        """The service in ``mode``, and an oracle claiming ``target`` with a new key."""
        where = self._run_dir(mode, target)
        where.mkdir(parents=True, exist_ok=True)
        settings = replace(
            mode_settings(self._base, mode),
            keys_path=where / "keys.db",
            audit_log=where / "audit.jsonl",
        )
        with KeyStore.open(settings.keys_path) as keys:
            _, token = keys.create("attacker", [f"{COLLECTION}:read"])
        with (
            serve_in_background(settings, pipeline=self._pipeline) as url,
            ServiceOracle(url, token, collection=COLLECTION, person=target.person) as oracle,
        ):
            yield oracle

    def events(self, mode: str, target: InversionTarget) -> list[dict[str, Any]]:
        """The security events the run logged."""
        return read_events(self._run_dir(mode, target) / "audit.jsonl")
