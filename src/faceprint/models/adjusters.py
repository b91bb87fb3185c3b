"""Fairness score adjusters shipped with the catalog: opt-in, verified, versioned.

``catalog.toml`` lists each under ``[adjusters.NAME]``: the embedding ``model`` it was
fitted for, its ``file`` (JSON, in this package's ``score_adjusters/`` folder), the file's
``sha256``, a ``version``, the ``method`` and what it was ``fitted_on``. Loading one
checks the digest and the model, then parses the JSON
(:func:`faceprint.core.score_adjust.adjuster_from_dict`) — no pickle anywhere.

A path to a ``.json`` written by ``faceprint eval fairness-fit`` is accepted too (a
user's own fit, e.g. on a licensed demographic set); it has no catalog digest to check.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from faceprint.core.score_adjust import ScoreAdjuster, adjuster_from_dict
from faceprint.errors import ChecksumMismatchError, ConfigError, ModelMismatchError
from faceprint.models.digests import sha256_file

log = logging.getLogger(__name__)

__all__ = ["AdjusterCard", "adjuster_cards", "load_adjuster", "pipeline_adjuster"]


@dataclass(frozen=True, slots=True)
class AdjusterCard:
    """A catalog entry of a score adjuster."""

    name: str
    model: str
    file: str
    sha256: str
    version: int
    method: str
    description: str
    fitted_on: str
    needs_labels: bool

    @property
    def path(self) -> Path:
        return Path(str(resources.files("faceprint.models").joinpath("score_adjusters", self.file)))


def adjuster_cards(catalog_file: str | Path | None = None) -> dict[str, AdjusterCard]:
    """Every ``[adjusters.NAME]`` of the catalog.

    Raises:
        ConfigError: the catalog is unreadable or an entry is malformed.
    """
    try:
        if catalog_file is None:
            text = resources.files("faceprint.models").joinpath("catalog.toml").read_text("utf-8")
        else:
            text = Path(catalog_file).read_text("utf-8")
        raw = tomllib.loads(text).get("adjusters", {})
        return {
            name: AdjusterCard(
                name=name,
                model=str(entry["model"]),
                file=str(entry["file"]),
                sha256=str(entry["sha256"]),
                version=int(entry["version"]),
                method=str(entry["method"]),
                description=str(entry.get("description", "")),
                fitted_on=str(entry.get("fitted_on", "")),
                needs_labels=bool(entry.get("needs_labels", False)),
            )
            for name, entry in raw.items()
        }
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read the score adjusters of the catalog: {exc!r}") from exc


def _parse(path: Path) -> ScoreAdjuster:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the score adjuster {path}: {exc}") from exc
    return adjuster_from_dict(data)


def load_adjuster(spec: str, *, model_id: str) -> ScoreAdjuster:
    """The adjuster named ``spec`` in the catalog, or stored at the path ``spec``.

    Raises:
        ConfigError: no such adjuster (the message lists the catalog's), or the file is
            not an adjuster.
        ChecksumMismatchError: a catalog adjuster's file does not match its sha256.
        ModelMismatchError: it was fitted for another embedding model than ``model_id``.
    """
    cards = adjuster_cards()
    if spec in cards:
        card = cards[spec]
        if card.model != model_id:
            raise ModelMismatchError(
                f"score adjuster {spec!r} was fitted for {card.model!r}, not {model_id!r}"
            )
        try:
            digest = sha256_file(card.path)
        except OSError as exc:
            raise ConfigError(f"score adjuster {spec!r}: cannot read {card.path}: {exc}") from exc
        if digest != card.sha256:
            raise ChecksumMismatchError(
                f"score adjuster {spec!r}: {card.path} has sha256 {digest}, "
                f"the catalog expects {card.sha256}; reinstall faceprint"
            )
        adjuster = _parse(card.path)
    elif spec.endswith(".json") or Path(spec).is_file():
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"no score adjuster file at {path}")
        adjuster = _parse(path)
    else:
        known = ", ".join(sorted(cards)) or "none"
        raise ConfigError(f"unknown score adjuster {spec!r}; the catalog has: {known}")
    if adjuster.model_id != model_id:
        raise ModelMismatchError(
            f"score adjuster {spec!r} adjusts {adjuster.model_id!r} scores, not {model_id!r}"
        )
    return adjuster


def pipeline_adjuster(spec: str, *, model_id: str, templates: bool) -> ScoreAdjuster:
    """The adjuster a pipeline matches with (:func:`load_adjuster`), logged.

    Raises:
        ConfigError: as :func:`load_adjuster`, or ``templates`` (cancelable templates
            cannot be re-scored by an adjuster fitted on plain embeddings).
    """
    if templates:
        raise ConfigError(
            "a fairness score adjuster is fitted on plain embeddings; it cannot re-score "
            "cancelable templates (drop the template key or the adjuster)"
        )
    adjuster = load_adjuster(spec, model_id=model_id)
    log.info("fairness score adjuster: %s (%s)", spec, adjuster.method)
    return adjuster
