"""Fetching one model file into the cache from the first source that has it.

Sources, in order:

1. the mirror *directory* (``StoreConfig.mirror`` naming a local folder or a
   ``file://`` URL),
2. the mirror *base URL* (``StoreConfig.mirror`` starting with ``http://``/``https://``),
3. the file's official URL from the catalog,

where (2) and (3) are skipped when ``StoreConfig.offline`` is set. Bytes are streamed to
``<file>.incomplete``, hashed on the way, and renamed into place only when the sha256 and
size match the catalog; a mismatch deletes the temporary file and raises
:class:`~faceprint.errors.ChecksumMismatchError` naming the source. It never falls back
silently to another source: a wrong file is a problem somebody must look at.

Locking is the caller's job (:class:`faceprint.models.store.ModelStore`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from faceprint.config import StoreConfig
from faceprint.errors import ChecksumMismatchError, ModelError, ModelNotAvailableError
from faceprint.models.card import ModelFile
from faceprint.models.digests import CHUNK
from faceprint.types import Progress

log = logging.getLogger(__name__)

ProgressCallback = Progress
"""``progress(bytes_done, bytes_total, file_path)`` (:data:`faceprint.types.Progress`);
``file_path`` is the catalog path."""

_CHUNK = CHUNK
"""Bytes read per step when copying or downloading."""

DEFAULT_TIMEOUT_S = 60.0
"""Socket timeout for each network operation of a download, in seconds."""

_USER_AGENT = "faceprint-model-store"

# urllib.request and http.client (≈35 ms to import) are imported by the functions that
# touch a source: a warm start never does.


def catalog_path(path: str) -> PurePosixPath:
    """A catalog path, checked to be relative and to stay inside the cache.

    Raises:
        ModelError: the path is empty, absolute or climbs out with ``..``.
    """
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts:
        raise ModelError(
            f"catalog path {path!r} must be relative and stay inside the cache; fix the catalog"
        )
    return rel


def cache_error(path: Path, exc: OSError) -> ModelError:
    """The error for a cache location that cannot be written."""
    return ModelError(
        f"cannot write {path}: {exc}; free some space or point FACEPRINT_HOME at a "
        "writable directory"
    )


def make_dir(directory: Path) -> None:
    """Create a cache directory (and its parents).

    Raises:
        ModelError: it cannot be created.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_error(directory, exc) from exc


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


class Fetcher:
    """Copies or downloads model files, verifying size and sha256 on the way.

    Args:
        config: mirror and offline switch.
        timeout_s: socket timeout for each network operation, in seconds.
    """

    def __init__(self, config: StoreConfig, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._config = config
        self._timeout_s = timeout_s

    def fetch(self, f: ModelFile, path: Path, progress: ProgressCallback | None) -> str:
        """Fetch ``f`` to ``path`` from the first source that has it; return its sha256.

        The caller holds the file's lock.

        Raises:
            ModelNotAvailableError: no allowed source has the file.
            ChecksumMismatchError: a source's bytes differ from the catalog.
            ModelError: the cache cannot be written.
        """
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
            log.info("fetched %s from %s", f.path, source)
            return digest
        hints = ["set FACEPRINT_MODEL_MIRROR to a directory or http(s) URL that has it"]
        if self._config.offline:
            hints.append("unset FACEPRINT_OFFLINE to allow downloads")
        raise ModelNotAvailableError(
            f"model file {f.path} is not in the cache and could not be fetched "
            f"(tried: {'; '.join(tried) or 'nothing'}). To fix: {', or '.join(hints)}."
        )

    def _sources(self, f: ModelFile) -> tuple[list[_Source], list[str]]:
        """Sources to try in order, and notes on the ones skipped."""
        sources: list[_Source] = []
        skipped: list[str] = []
        rel = catalog_path(f.path)
        mirror = (self._config.mirror or "").strip()
        if mirror.startswith(("http://", "https://")):
            url = mirror.rstrip("/") + "/" + urllib.parse.quote(rel.as_posix(), safe="/")
            if self._config.offline:
                skipped.append(f"mirror URL {url}: skipped (offline)")
            else:
                sources.append(_Source("mirror URL", url))
        elif mirror:
            if mirror.startswith("file://"):
                from urllib.request import url2pathname

                directory = Path(url2pathname(urllib.parse.urlparse(mirror).path))
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

    def _copy(
        self, source: _Source, f: ModelFile, tmp: Path, progress: ProgressCallback | None
    ) -> str:
        """Stream ``source`` into ``tmp``; return its sha256 after checking size and digest.

        Raises:
            _SourceUnavailableError: the source lacks the file or cannot be reached.
            ChecksumMismatchError: the bytes differ from the catalog (``tmp`` is deleted).
        """
        import http.client

        digest = hashlib.sha256()
        done = 0
        try:
            fout = tmp.open("wb")
        except OSError as exc:
            raise cache_error(tmp, exc) from exc
        try:
            with fout, self._open(source, f) as fin:
                while block := fin.read(_CHUNK):
                    done += len(block)
                    if done > f.size:
                        raise _mismatch(f, source, f"more than {f.size} bytes", what="size exceeds")
                    try:
                        fout.write(block)
                    except OSError as exc:
                        raise cache_error(tmp, exc) from exc
                    digest.update(block)
                    if progress is not None:
                        progress(done, f.size, f.path)
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            tmp.unlink(missing_ok=True)
            raise _SourceUnavailableError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        actual = digest.hexdigest()
        if done != f.size:
            tmp.unlink(missing_ok=True)
            raise _mismatch(f, source, f"{done} bytes (sha256 {actual})", what="size")
        if actual != f.sha256:
            tmp.unlink(missing_ok=True)
            raise _mismatch(f, source, actual, what="sha256")
        return actual

    @contextmanager
    def _open(self, source: _Source, f: ModelFile) -> Iterator[BinaryIO]:
        from urllib.request import Request, urlopen

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
            request = Request(  # noqa: S310 - scheme checked above
                source.location, headers={"User-Agent": _USER_AGENT}
            )
        except ValueError as exc:
            raise _SourceUnavailableError(f"malformed URL ({exc})") from exc
        with urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != f.size:
                raise _mismatch(f, source, f"Content-Length {length}", what="size")
            yield response


def _mismatch(f: ModelFile, source: _Source, actual: str, *, what: str) -> ChecksumMismatchError:
    return ChecksumMismatchError(
        f"{f.path} from {source} does not match the catalog ({what}): expected sha256 "
        f"{f.sha256} and {f.size} bytes, got {actual}. The file was not used and no other "
        f"source was tried; fix or remove the bad copy at that source."
    )
