"""The model store: a verified local cache of model files.

Every model file lives at ``root/models/<path>``, where ``<path>`` is the file's path in
the catalog (the same layout as a mirror). A missing file is fetched from, in order:

1. the mirror *directory* (``StoreConfig.mirror`` naming a local folder or a
   ``file://`` URL),
2. the mirror *base URL* (``StoreConfig.mirror`` starting with ``http://``/``https://``),
3. the file's official URL from the catalog,

where (2) and (3) are skipped when ``StoreConfig.offline`` is set. Bytes are streamed to
``<file>.incomplete``, hashed on the way, and renamed into place only when the sha256 and
size match the catalog; a mismatch deletes the temporary file and raises
:class:`~faceprint.errors.ChecksumMismatchError` naming the source. It never falls back
silently to another source: a wrong file is a problem somebody must look at.

A :class:`filelock.FileLock` per target file (``<file>.lock``) makes concurrent threads
and processes produce one verified file. Files already in the cache are hashed before
first use; the result is remembered per process, keyed by path, size, mtime and inode,
so repeated :meth:`ModelStore.ensure` calls are cheap.

A card may name a one-time transform (:mod:`faceprint.models.transforms`). It runs once
on the verified source, its output is renamed into place and described by a JSON sidecar
``<output>.json`` holding the output's sha256, the source's sha256 and the transform's
name; later uses check the output against the sidecar and re-run the transform when they
disagree.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import platformdirs
from filelock import FileLock

from faceprint.config import StoreConfig
from faceprint.errors import (
    ChecksumMismatchError,
    LicenceNotAcceptedError,
    ModelError,
    ModelNotAvailableError,
)
from faceprint.models.card import Catalog, ModelCard, ModelFile, Transform, load_catalog
from faceprint.models.transforms import TRANSFORMS

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""``progress(file_path, bytes_done, bytes_total)``; ``file_path`` is the catalog path."""

FileState = Literal["ok", "missing", "mismatch"]

_CHUNK = 1 << 20
"""Bytes read per step when hashing, copying or downloading."""

DEFAULT_TIMEOUT_S = 60.0
"""Socket timeout for each network operation of a download, in seconds."""

_USER_AGENT = "faceprint-model-store"

# (absolute path, size, mtime_ns, inode) -> sha256 of the bytes seen with that stat.
# Per process: a file replaced or rewritten changes at least one of the four.
_DigestKey = tuple[str, int, int, int]
_DIGESTS: dict[_DigestKey, str] = {}
_DIGESTS_LOCK = threading.Lock()


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


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as fh:
        return _sha256_stream(fh)


def _sha256_stream(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := fh.read(_CHUNK):
        digest.update(block)
    return digest.hexdigest()


def _key(path: Path, st: os.stat_result) -> _DigestKey:
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def _digest(path: Path, *, use_cache: bool = True) -> str | None:
    """sha256 of the file at ``path``, ``None`` if there is no file.

    The key is taken from the open descriptor, so it always describes the bytes hashed
    even if the file is replaced meanwhile. With ``use_cache`` a file is hashed at most
    once per process for a given size, mtime and inode.
    """
    try:
        fh = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    with fh:
        key = _key(path, os.fstat(fh.fileno()))
        if use_cache:
            with _DIGESTS_LOCK:
                known = _DIGESTS.get(key)
            if known is not None:
                return known
        digest = _sha256_stream(fh)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest
    return digest


def _remember(path: Path, digest: str) -> None:
    """Record the digest of a file this process has just written and verified."""
    with _DIGESTS_LOCK:
        _DIGESTS[_key(path, path.stat())] = digest


@dataclass(frozen=True, slots=True)
class _Source:
    kind: str  # "mirror directory", "mirror URL", "official URL"
    location: str  # a directory path or a URL

    @property
    def is_url(self) -> bool:
        return self.kind != "mirror directory"

    def __str__(self) -> str:
        return f"{self.kind} {self.location}"


class _SourceUnavailableError(Exception):
    """This source does not have the file or cannot be reached; try the next one."""


def _relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts:
        raise ModelError(
            f"catalog path {path!r} must be relative and stay inside the cache; fix the catalog"
        )
    return rel


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
        self._timeout_s = timeout_s

    # --- paths -------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The cache root; model files live under ``root / "models"``."""
        return self._root

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
        return self._models.joinpath(*_relative(relative).parts)

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
                actual = _digest(self.file_path(f.path), use_cache=False)
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
            _digest(self.file_path(f.path)) == f.sha256
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
            progress: called as ``progress(file_path, bytes_done, bytes_total)`` while a
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
        if not force and _digest(path) == f.sha256:
            return path
        _make_dir(path.parent)
        with FileLock(_lock_path(path)):
            # Another thread or process may have fetched it while we waited.
            if not force:
                actual = _digest(path)
                if actual == f.sha256:
                    return path
                if actual is not None:
                    raise ChecksumMismatchError(
                        f"cached file {path} has sha256 {actual}, but the catalog expects "
                        f"{f.sha256} for {f.path}; it was not used. Run "
                        f"`faceprint models pull {card.name} --force` (or delete the file)."
                    )
            self._fetch(f, path, progress)
        return path

    def _sources(self, f: ModelFile) -> tuple[list[_Source], list[str]]:
        """Sources to try in order, and notes on the ones skipped."""
        sources: list[_Source] = []
        skipped: list[str] = []
        rel = _relative(f.path)
        mirror = (self._config.mirror or "").strip()
        if mirror.startswith(("http://", "https://")):
            url = mirror.rstrip("/") + "/" + urllib.parse.quote(rel.as_posix(), safe="/")
            if self._config.offline:
                skipped.append(f"mirror URL {url}: skipped (offline)")
            else:
                sources.append(_Source("mirror URL", url))
        elif mirror:
            if mirror.startswith("file://"):
                directory = Path(urllib.request.url2pathname(urllib.parse.urlparse(mirror).path))
            else:
                directory = Path(mirror).expanduser()
            sources.append(_Source("mirror directory", str(directory.joinpath(*rel.parts))))
        else:
            skipped.append("no mirror configured")
        if not f.url:
            skipped.append("official URL: none in the catalog")
        elif self._config.offline:
            skipped.append(f"official URL {f.url}: skipped (offline)")
        else:
            sources.append(_Source("official URL", f.url))
        return sources, skipped

    def _fetch(self, f: ModelFile, path: Path, progress: ProgressCallback | None) -> None:
        """Fetch ``f`` to ``path`` from the first source that has it (caller holds the lock)."""
        sources, tried = self._sources(f)
        tmp = path.with_name(path.name + ".incomplete")
        for source in sources:
            log.debug("fetching %s from %s", f.path, source)
            try:
                digest = self._copy(source, f, tmp, progress)
            except _SourceUnavailableError as exc:
                tried.append(f"{source}: {exc}")
                log.info("%s: not available from %s: %s", f.path, source, exc)
                continue
            os.replace(tmp, path)
            _remember(path, digest)
            log.info("fetched %s from %s", f.path, source)
            return
        hints = ["set FACEPRINT_MODEL_MIRROR to a directory or http(s) URL that has it"]
        if self._config.offline:
            hints.append("unset FACEPRINT_OFFLINE to allow downloads")
        raise ModelNotAvailableError(
            f"model file {f.path} is not in the cache and could not be fetched "
            f"(tried: {'; '.join(tried) or 'nothing'}). To fix: {', or '.join(hints)}."
        )

    def _copy(
        self, source: _Source, f: ModelFile, tmp: Path, progress: ProgressCallback | None
    ) -> str:
        """Stream ``source`` into ``tmp``; return its sha256 after checking size and digest.

        Raises:
            _SourceUnavailableError: the source lacks the file or cannot be reached.
            ChecksumMismatchError: the bytes differ from the catalog (``tmp`` is deleted).
        """
        digest = hashlib.sha256()
        done = 0
        try:
            fout = tmp.open("wb")
        except OSError as exc:
            raise _cache_error(tmp, exc) from exc
        try:
            with fout, self._open(source, f) as fin:
                while block := fin.read(_CHUNK):
                    done += len(block)
                    if done > f.size:
                        raise self._mismatch(
                            f, source, f"more than {f.size} bytes", what="size exceeds"
                        )
                    try:
                        fout.write(block)
                    except OSError as exc:
                        raise _cache_error(tmp, exc) from exc
                    digest.update(block)
                    if progress is not None:
                        progress(f.path, done, f.size)
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            tmp.unlink(missing_ok=True)
            raise _SourceUnavailableError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        actual = digest.hexdigest()
        if done != f.size:
            tmp.unlink(missing_ok=True)
            raise self._mismatch(f, source, f"{done} bytes (sha256 {actual})", what="size")
        if actual != f.sha256:
            tmp.unlink(missing_ok=True)
            raise self._mismatch(f, source, actual, what="sha256")
        return actual

    @staticmethod
    def _mismatch(
        f: ModelFile, source: _Source, actual: str, *, what: str
    ) -> ChecksumMismatchError:
        return ChecksumMismatchError(
            f"{f.path} from {source} does not match the catalog ({what}): expected sha256 "
            f"{f.sha256} and {f.size} bytes, got {actual}. The file was not used and no other "
            f"source was tried; fix or remove the bad copy at that source."
        )

    @contextmanager
    def _open(self, source: _Source, f: ModelFile) -> Iterator[BinaryIO]:
        if not source.is_url:
            local = Path(source.location)
            if not local.is_file():
                raise _SourceUnavailableError("no such file")
            with local.open("rb") as fh:
                yield fh
            return
        if not source.location.startswith(("http://", "https://")):
            raise _SourceUnavailableError("only http:// and https:// URLs are fetched")
        try:
            request = urllib.request.Request(  # noqa: S310 - scheme checked above
                source.location, headers={"User-Agent": _USER_AGENT}
            )
        except ValueError as exc:
            raise _SourceUnavailableError(f"malformed URL ({exc})") from exc
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != f.size:
                raise self._mismatch(f, source, f"Content-Length {length}", what="size")
            yield response

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
        _relative(transform.output)

    def _ensure_transform(self, card: ModelCard, transform: Transform, *, force: bool) -> Path:
        # The catalog cannot pin the output's sha256: the bytes depend on the onnx version
        # that wrote them. The sidecar records the digest at creation and every later use
        # checks the output against it (and the sidecar against the catalog's source).
        source_sha = next(f.sha256 for f in card.files if f.path == transform.source)
        source = self.file_path(transform.source)
        output = self.file_path(transform.output)
        if not force and self._transform_problem(output, source_sha, transform.kind) is None:
            return output
        _make_dir(output.parent)
        with FileLock(_lock_path(output)):
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
        actual = _digest(output)
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
        _remember(output, digest)
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


def _cache_error(path: Path, exc: OSError) -> ModelError:
    return ModelError(
        f"cannot write {path}: {exc}; free some space or point FACEPRINT_HOME at a "
        "writable directory"
    )


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error(directory, exc) from exc
