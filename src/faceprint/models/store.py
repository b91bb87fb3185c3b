"""The model store: a verified local cache of model files.

Every model file lives at ``root/models/<path>``, where ``<path>`` is the file's path in
the catalog (the same layout as a mirror). A missing file is fetched by
:class:`~faceprint.models.fetcher.Fetcher` from the mirror directory, the mirror URL or
the official URL (the last two not when offline), verified against the catalog's sha256
and size, and renamed into place; a wrong file raises
:class:`~faceprint.errors.ChecksumMismatchError` and is never used.

A :class:`filelock.FileLock` per target file (``<file>.lock``) makes concurrent threads
and processes produce one verified file. Files already in the cache are hashed before
first use; the digest is remembered (:mod:`faceprint.models.digests`) per process and in
``root/models/.verified.json``, keyed by size, mtime, ctime and inode, so a warm start
hashes nothing and a changed file is hashed again.

A card may name a one-time transform (:mod:`faceprint.models.transforms`). It runs once
on the verified source, its output is renamed into place and described by a JSON sidecar
``<output>.json`` holding the output's sha256, the source's sha256 and the transform's
name; later uses check the output against the sidecar and re-run the transform when they
disagree.

Runtimes keep what they can reuse across processes (OpenVINO's compiled models, batch
verdicts) under :attr:`ModelStore.session_cache_dir` (``root/models/.ov-cache``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs

from faceprint.config import StoreConfig
from faceprint.errors import ChecksumMismatchError, LicenceNotAcceptedError, ModelError
from faceprint.models.card import Catalog, ModelCard, ModelFile, Transform, load_catalog
from faceprint.models.digests import DigestCache, sha256_file
from faceprint.models.fetcher import (
    DEFAULT_TIMEOUT_S,
    Fetcher,
    ProgressCallback,
    catalog_path,
    make_dir,
)
from faceprint.models.transforms import TRANSFORMS

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SESSION_CACHE_DIR",
    "FileState",
    "FileStatus",
    "ModelStore",
    "ProgressCallback",
    "sha256_file",
]

log = logging.getLogger(__name__)

FileState = Literal["ok", "missing", "mismatch"]

SESSION_CACHE_DIR = ".ov-cache"
"""Directory under ``root/models`` where runtimes cache compiled models (see
:mod:`faceprint.models.compilation`)."""


@dataclass(frozen=True, slots=True)
class FileStatus:
    """The state of one model file in the cache.

    Attributes:
        path: the file's catalog path (relative to ``root/models`` and to a mirror).
        expected_sha256: the digest the catalog pins.
        actual_sha256: the digest of the cached file, ``None`` when it is missing.
        state: ``"ok"``, ``"missing"`` or ``"mismatch"``.
    """

    path: str
    expected_sha256: str
    actual_sha256: str | None
    state: FileState


class ModelStore:
    """Resolve model cards to verified local files, fetching what is missing.

    Args:
        config: cache root, mirror, offline switch and licence opt-ins.
        catalog: the cards to serve; ``None`` loads the packaged catalog.
        timeout_s: socket timeout for each network operation, in seconds.

    Raises:
        ConfigError: ``catalog`` is ``None`` and the packaged catalog is malformed.
    """

    def __init__(
        self,
        config: StoreConfig,
        *,
        catalog: Catalog | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._config = config
        self._catalog = catalog if catalog is not None else load_catalog()
        home = config.home if config.home is not None else platformdirs.user_cache_dir("faceprint")
        self._root = Path(home).expanduser().resolve()
        self._models = self._root / "models"
        self._digests = DigestCache(self._models)
        self._fetcher = Fetcher(config, timeout_s=timeout_s)

    # --- paths -------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The cache root; model files live under ``root / "models"``."""
        return self._root

    @property
    def session_cache_dir(self) -> Path:
        """Where runtimes may cache compiled models: ``root/models/.ov-cache``.

        Pass it to :func:`faceprint.models.runtime.open_session` (``cache_dir=``); it may be
        deleted at any time.
        """
        return self._models / SESSION_CACHE_DIR

    @property
    def catalog(self) -> Catalog:
        """The catalog this store serves."""
        return self._catalog

    @property
    def config(self) -> StoreConfig:
        """The configuration this store was built with."""
        return self._config

    def file_path(self, relative: str) -> Path:
        """Where a catalog path lives in the cache (no checks on the file itself).

        Raises:
            ModelError: the catalog path is absolute or climbs out with ``..``.
        """
        return self._models.joinpath(*catalog_path(relative).parts)

    def local_path(self, name: str) -> Path:
        """Where the model's entry file is or would be in the cache; nothing is checked.

        For a card with a transform this is the transform's output; for a fused template
        it is the cache root.

        Raises:
            UnknownModelError: the catalog has no model ``name``.
            ModelError: the card's entry path is malformed.
        """
        card = self._catalog[name]
        if card.is_fused:
            return self._root
        entry = card.transform.output if card.transform is not None else card.entry
        return self.file_path(entry)

    # --- checking ----------------------------------------------------------------------

    def verify(self, name: str) -> list[FileStatus]:
        """Hash every cached file of a model (its components' for a fused one); fetch nothing.

        Transform outputs are not listed: they are derived and re-made by :meth:`ensure`.

        Raises:
            UnknownModelError: the catalog has no model ``name`` (or component).
            ModelError: a catalog path is malformed.
        """
        statuses: list[FileStatus] = []
        for card in self._catalog.requirements(name):
            for f in card.files:
                actual = self._digests.digest(self.file_path(f.path), use_cache=False)
                if actual is None:
                    statuses.append(FileStatus(f.path, f.sha256, None, "missing"))
                    continue
                state: FileState = "ok" if actual == f.sha256 else "mismatch"
                statuses.append(FileStatus(f.path, f.sha256, actual, state))
        return statuses

    def is_cached(self, name: str) -> bool:
        """Whether every file of the model (or of its components) is cached and verified.

        Uses the per-process digest cache, so it is cheap after the first call.

        Raises:
            UnknownModelError: the catalog has no model ``name`` (or component).
            ModelError: a catalog path is malformed.
        """
        return all(
            self._digests.digest(self.file_path(f.path)) == f.sha256
            for card in self._catalog.requirements(name)
            for f in card.files
        )

    # --- ensuring ----------------------------------------------------------------------

    def ensure(
        self,
        name: str,
        *,
        accept_licence: bool = False,
        force: bool = False,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """The verified local path of a model's entry file, fetching whatever is missing.

        Args:
            name: catalog name of the model.
            accept_licence: opt into a non-commercial licence (its notice is logged at
                WARNING); ``StoreConfig.accept_licences`` does the same per name.
            force: fetch every file again (and re-run the transform) even if cached.
            progress: called as ``progress(bytes_done, bytes_total, file_path)`` while a
                file is copied or downloaded.

        Returns:
            The entry file; for a card with a transform, the transformed file; for a fused
            template, the cache root (after ensuring every component).

        Raises:
            UnknownModelError: the catalog has no model ``name`` (or component).
            LicenceNotAcceptedError: a non-commercial model without the opt-in.
            ModelNotAvailableError: a file is missing and no allowed source has it.
            ChecksumMismatchError: a fetched or cached file has the wrong sha256 or size.
            ModelError: the card is malformed, names an unknown transform, the
                transform failed, or the cache directory is not writable.
        """
        card = self._catalog[name]
        self._check_licence(card, accept=accept_licence)
        if card.is_fused:
            for component in card.components:
                self.ensure(
                    component, accept_licence=accept_licence, force=force, progress=progress
                )
            return self._root
        if not card.files:
            raise ModelError(f"model {name} has no files in the catalog; fix the catalog")
        transform = card.transform
        if transform is not None:
            self._check_transform(card, transform)
        elif card.entry not in {f.path for f in card.files}:
            raise ModelError(
                f"model {name}: entry {card.entry!r} is not one of its files; fix the catalog"
            )
        for f in card.files:
            self._ensure_file(card, f, force=force, progress=progress)
        if transform is not None:
            return self._ensure_transform(card, transform, force=force)
        return self.file_path(card.entry)

    def clear(self, name: str) -> None:
        """Delete a model's cached files, transform output and sidecar (components' too).

        Raises:
            UnknownModelError: the catalog has no model ``name`` (or component).
            OSError: a file cannot be deleted.
        """
        for card in self._catalog.requirements(name):
            paths = [self.file_path(f.path) for f in card.files]
            if card.transform is not None:
                output = self.file_path(card.transform.output)
                paths += [output, _sidecar(output)]
            for path in paths:
                path.unlink(missing_ok=True)
            self._digests.forget(paths)

    # --- licences ----------------------------------------------------------------------

    def _check_licence(self, card: ModelCard, *, accept: bool) -> None:
        if card.commercial:
            return
        if not (accept or card.name in self._config.accept_licences):
            notice = card.notice or f"It is licensed: {card.licence}."
            raise LicenceNotAcceptedError(
                f"{card.name} is not licensed for commercial use. {notice} "
                f"To use it anyway, accept the licence: pass accept_licence=True "
                f"(CLI: --accept-licence) or add {card.name!r} to StoreConfig.accept_licences."
            )
        log.warning("licence notice for %s: %s", card.name, card.notice or card.licence)

    # --- files -------------------------------------------------------------------------

    def _ensure_file(
        self, card: ModelCard, f: ModelFile, *, force: bool, progress: ProgressCallback | None
    ) -> Path:
        path = self.file_path(f.path)
        if not force and self._digests.digest(path) == f.sha256:
            return path
        make_dir(path.parent)
        with _lock(path):
            # Another thread or process may have fetched it while we waited.
            if not force:
                actual = self._digests.digest(path)
                if actual == f.sha256:
                    return path
                if actual is not None:
                    raise ChecksumMismatchError(
                        f"cached file {path} has sha256 {actual}, but the catalog expects "
                        f"{f.sha256} for {f.path}; it was not used. Run "
                        f"`faceprint models pull {card.name} --force` (or delete the file)."
                    )
            self._digests.remember(path, self._fetcher.fetch(f, path, progress))
        return path

    # --- transforms --------------------------------------------------------------------

    def _check_transform(self, card: ModelCard, transform: Transform) -> None:
        if transform.kind not in TRANSFORMS:
            known = ", ".join(sorted(TRANSFORMS)) or "none"
            raise ModelError(
                f"model {card.name}: unknown transform {transform.kind!r} (known: {known}); "
                "upgrade faceprint or fix the catalog"
            )
        if transform.source not in {f.path for f in card.files}:
            raise ModelError(
                f"model {card.name}: transform source {transform.source!r} is not one of its "
                "files; fix the catalog"
            )
        catalog_path(transform.output)

    def _ensure_transform(self, card: ModelCard, transform: Transform, *, force: bool) -> Path:
        # The catalog cannot pin the output's sha256: the bytes depend on the onnx version
        # that wrote them. The sidecar records the digest at creation and every later use
        # checks the output against it (and the sidecar against the catalog's source).
        source_sha = next(f.sha256 for f in card.files if f.path == transform.source)
        source = self.file_path(transform.source)
        output = self.file_path(transform.output)
        if not force and self._transform_problem(output, source_sha, transform.kind) is None:
            return output
        make_dir(output.parent)
        with _lock(output):
            if not force:
                problem = self._transform_problem(output, source_sha, transform.kind)
                if problem is None:
                    return output
                if output.exists():
                    log.warning(
                        "%s: %s; running transform %s again", output, problem, transform.kind
                    )
            self._run_transform(card, transform, source, output, source_sha)
        return output

    def _transform_problem(self, output: Path, source_sha: str, kind: str) -> str | None:
        """Why the cached transform output cannot be used, or ``None`` if it can."""
        sidecar = _sidecar(output)
        if not output.is_file():
            return "output missing"
        try:
            record = json.loads(sidecar.read_text("utf-8"))
        except FileNotFoundError:
            return "sidecar missing"
        except (OSError, ValueError) as exc:
            return f"sidecar unreadable ({exc})"
        if not isinstance(record, dict):
            return "sidecar malformed"
        if record.get("transform") != kind:
            return f"made by transform {record.get('transform')!r}, the catalog says {kind!r}"
        if record.get("source_sha256") != source_sha:
            return "made from a different source file than the catalog's"
        actual = self._digests.digest(output)
        if actual != record.get("sha256"):
            return f"sha256 {actual} differs from the sidecar's {record.get('sha256')}"
        return None

    def _run_transform(
        self, card: ModelCard, transform: Transform, source: Path, output: Path, source_sha: str
    ) -> None:
        fn = TRANSFORMS[transform.kind]
        tmp = output.with_name(output.name + ".incomplete")
        tmp.unlink(missing_ok=True)
        log.info("running transform %s on %s", transform.kind, transform.source)
        try:
            fn(source, tmp)
            if not tmp.is_file():
                raise ModelError(f"transform {transform.kind} wrote no output")
            digest = sha256_file(tmp)
        except ModelError:
            tmp.unlink(missing_ok=True)
            raise
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise ModelError(
                f"model {card.name}: transform {transform.kind} failed on {source}: {exc}"
            ) from exc
        os.replace(tmp, output)
        self._digests.remember(output, digest)
        record = {"sha256": digest, "source_sha256": source_sha, "transform": transform.kind}
        sidecar = _sidecar(output)
        sidecar_tmp = sidecar.with_name(sidecar.name + ".incomplete")
        sidecar_tmp.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
        os.replace(sidecar_tmp, sidecar)
        log.info("transformed %s -> %s (sha256 %s)", transform.source, transform.output, digest)


def _lock_path(path: Path) -> str:
    return str(path.with_name(path.name + ".lock"))


def _sidecar(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def _lock(path: Path) -> Any:
    """An inter-process lock for fetching or writing ``path`` (``<path>.lock``).

    ``filelock`` is imported here, not at module import: a warm start finds every file
    verified and never needs it (it costs ~35 ms of start-up to import).
    """
    from filelock import FileLock

    return FileLock(_lock_path(path))
