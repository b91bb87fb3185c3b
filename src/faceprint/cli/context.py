"""The state of one ``faceprint`` invocation: global options and the environment.

The root callback makes a fresh :class:`CliContext` for every invocation and sets it as
the current one (a :class:`~contextvars.ContextVar`); commands get it with
:func:`current`, so two invocations in one process (tests) never share settings.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from faceprint.environment import Environment

if TYPE_CHECKING:
    from faceprint.config import PipelineConfig
    from faceprint.core.cancelable import TemplateKey
    from faceprint.keysource import SecretKey
    from faceprint.models.store import ModelStore
    from faceprint.pipeline import FacePipeline

DEFAULT_EMBEDDER = "sface"


@dataclass
class CliContext:
    """Global options of this invocation; the environment is read on first use (so a
    malformed variable is reported like any other error, with its exit code)."""

    debug: bool = False
    quiet: bool = False
    device: str | None = None
    threads: int | None = None
    restore: bool = True
    gallery_key_spec: str | None = None
    _env: Environment | None = field(default=None, repr=False)

    @property
    def env(self) -> Environment:
        if self._env is None:
            self._env = Environment.read()
        return self._env

    @property
    def show_progress(self) -> bool:
        return not self.quiet

    def store(self) -> ModelStore:
        from faceprint.models.store import ModelStore

        return ModelStore(self.env.store_config())

    def pipeline_config(
        self,
        *,
        embedder: str | None = None,
        detector: str = "yunet",
        restore: bool | None = None,
        fairness: str | None = None,
    ) -> PipelineConfig:
        """The pipeline's settings from the global options and the environment (loads
        nothing). ``restore`` overrides the ``--no-restore`` global option; ``fairness``
        (a score adjuster) overrides ``$FACEPRINT_FAIRNESS``."""
        from faceprint.config import PipelineConfig

        return PipelineConfig(
            detector=detector,
            embedder=embedder or DEFAULT_EMBEDDER,
            device=self.device or self.env.device,
            threads=self.threads if self.threads is not None else self.env.threads,
            restore=self.restore if restore is None else restore,
            fairness=fairness or self.env.fairness,
        )

    def pipeline(
        self,
        *,
        embedder: str | None = None,
        detector: str = "yunet",
        accept: bool = False,
        restore: bool | None = None,
        templates: TemplateKey | None = None,
        fairness: str | None = None,
    ) -> FacePipeline:
        """Build the pipeline (loads models; call it after every argument is checked).

        ``restore`` overrides the ``--no-restore`` global option; ``templates`` makes
        its embeddings cancelable templates (:meth:`template_key`)."""
        from faceprint.pipeline import FacePipeline

        config = self.pipeline_config(
            embedder=embedder, detector=detector, restore=restore, fairness=fairness
        )
        return FacePipeline.from_config(
            config, store=self.store(), accept_licence=accept, templates=templates
        )

    def template_key(
        self, spec: str | None, tenant: str | None, *, option: str = "--template-key"
    ) -> TemplateKey | None:
        """The cancelable-template key of ``spec`` (else ``$FACEPRINT_TEMPLATE_KEY``) for
        ``tenant`` (else ``$FACEPRINT_TEMPLATE_TENANT``, else ``default``); ``None``
        when no key is given (plain templates).

        Raises:
            UsageError: a tenant without a key.
            faceprint.errors.KeyUnavailableError: the key source gives no key.
        """
        from faceprint.core.cancelable import TemplateKey
        from faceprint.errors import UsageError
        from faceprint.keysource import KeySource

        spec = spec or self.env.template_key
        tenant = tenant or self.env.template_tenant
        if spec is None:
            if tenant is not None:
                raise UsageError(f"--tenant needs a template key: pass {option} SPEC")
            return None
        master = KeySource.parse(spec).read(self.env.variables)
        return TemplateKey.derive(master, tenant or "default")

    def search_device(self) -> str | None:
        """``"cuda"`` when the models run on CUDA: galleries are then searched there too
        (exact scans on the GPU); otherwise ``None`` (the CPU indexes)."""
        from faceprint.models.runtime import resolve_device

        return "cuda" if resolve_device(self.device or self.env.device) == "cuda" else None

    def gallery_key(self, spec: str | None = None) -> SecretKey | None:
        """The key of a gallery encrypted at rest: ``spec``, else the ``--gallery-key``
        global option, else ``$FACEPRINT_GALLERY_KEY``; ``None`` when none is given.

        Raises:
            faceprint.errors.KeyUnavailableError: the key source gives no key.
        """
        from faceprint.keysource import KeySource

        spec = spec or self.gallery_key_spec or self.env.gallery_key
        return None if spec is None else KeySource.parse(spec).read(self.env.variables)

    def gallery_path(self, given: Path | None = None) -> Path:
        return self.env.gallery_path(given)

    def keys_path(self, given: Path | None = None) -> Path:
        return self.env.keys_path(given)

    def embedder_for(self, gallery: Path, given: str | None) -> str:
        """The embedder to use with ``gallery``: ``given``, else the model the gallery is
        pinned to, else the default. Reads the gallery's pin only (no models load).

        Raises:
            faceprint.errors.ModelMismatchError: ``given`` differs from the pin.
            faceprint.errors.GalleryCorruptError: the file is not a gallery.
        """
        from faceprint.errors import ModelMismatchError
        from faceprint.gallery import Gallery

        if not gallery.is_file():
            return given or DEFAULT_EMBEDDER
        with Gallery.open(gallery, create=False, key=self.gallery_key()) as opened:
            pinned = opened.model_id
        if pinned is not None:  # cancelable templates: the model under the key's rotation
            from faceprint.core.cancelable import base_model_id

            pinned = base_model_id(pinned)
        if given is not None and pinned is not None and given != pinned:
            raise ModelMismatchError(
                f"gallery {gallery} is pinned to model {pinned!r}, not {given!r}; drop "
                "--embedder (the gallery's model is used) or use another gallery"
            )
        return given or pinned or DEFAULT_EMBEDDER


_CURRENT: ContextVar[CliContext | None] = ContextVar("faceprint_cli", default=None)


def begin(context: CliContext) -> None:
    """Make ``context`` the current invocation's (called by the root callback)."""
    _CURRENT.set(context)


def current() -> CliContext:
    """The :class:`CliContext` of the running command (defaults outside an invocation)."""
    found = _CURRENT.get()
    return found if found is not None else CliContext()
