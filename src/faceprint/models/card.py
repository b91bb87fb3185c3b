"""Model cards: what a model is, where its files come from, how to feed it.

The catalog is data: ``catalog.toml`` (hand-written: files, checksums, licences, input
specs) and ``calibrations.json`` (written by ``faceprint eval calibrate``: the
similarity→false-match-rate curve of each embedding model, and the data it was measured
on). :func:`load_catalog` merges the two into frozen :class:`ModelCard` objects.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from faceprint.core.calibration import CalibrationCurve
from faceprint.errors import ConfigError, UnknownModelError

TASKS = frozenset({"detection", "landmarks", "embedding", "liveness", "attributes", "pose"})
RUNTIMES = frozenset({"opencv", "onnxruntime", "openvino", "none"})
PRECISIONS = frozenset({"f32", "bf16"})
"""Inference precisions a card may ask for (OpenVINO only; bf16 runs where the CPU has
native bf16 instructions and falls back to f32 elsewhere)."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file of a model, addressed by its path relative to the mirror / cache root."""

    path: str
    sha256: str
    size: int
    url: str = ""


@dataclass(frozen=True, slots=True)
class Transform:
    """A one-time transform the store applies after download (see models.transforms)."""

    kind: str
    source: str
    output: str


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How a model wants its input: size (0 = any), channel order, normalisation."""

    width: int = 0
    height: int = 0
    colour: str = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class ModelCard:
    """Everything faceprint knows about one model (or one fused template of models)."""

    name: str
    task: str
    backend: str
    runtime: str
    description: str
    licence: str
    commercial: bool
    source: str
    files: tuple[ModelFile, ...]
    entry: str
    input: InputSpec
    transform: Transform | None = None
    notice: str = ""
    alignment: str = ""
    embedding_dim: int = 0
    default: bool = False
    components: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    calibration: CalibrationCurve | None = None
    options: tuple[tuple[str, float], ...] = ()
    precision: str = "f32"

    @property
    def is_fused(self) -> bool:
        return bool(self.components)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def option(self, key: str, default: float) -> float:
        """A numeric backend option from the card (e.g. a detector's NMS threshold)."""
        return dict(self.options).get(key, default)


class Catalog(Mapping[str, ModelCard]):
    """An immutable name → :class:`ModelCard` mapping."""

    def __init__(self, cards: Mapping[str, ModelCard]) -> None:
        self._cards = dict(cards)

    def __getitem__(self, name: str) -> ModelCard:
        try:
            return self._cards[name]
        except KeyError:
            known = ", ".join(sorted(self._cards))
            raise UnknownModelError(
                f"no model named {name!r} in the catalog; known models: {known}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._cards)

    def __len__(self) -> int:
        return len(self._cards)

    def defaults(self) -> list[ModelCard]:
        """Cards of the default (permissively licensed) pipeline."""
        return [c for c in self._cards.values() if c.default]

    def requirements(self, name: str) -> list[ModelCard]:
        """The card and, for a fused template, its component cards (which hold the files)."""
        card = self[name]
        if not card.is_fused:
            return [card]
        return [self[c] for c in card.components]


def _floats3(value: Any, what: str) -> tuple[float, float, float]:
    seq = tuple(float(v) for v in value)
    if len(seq) != 3:
        raise ConfigError(f"{what} must have 3 numbers, got {value!r}")
    return (seq[0], seq[1], seq[2])


def _parse_card(name: str, raw: Mapping[str, Any], calibrations: Mapping[str, Any]) -> ModelCard:
    try:
        task = str(raw["task"])
        runtime = str(raw.get("runtime", "none"))
        if task not in TASKS:
            raise ConfigError(f"model {name}: unknown task {task!r}")
        if runtime not in RUNTIMES:
            raise ConfigError(f"model {name}: unknown runtime {runtime!r}")
        files = tuple(
            ModelFile(
                path=str(f["path"]),
                sha256=str(f["sha256"]).lower(),
                size=int(f["size"]),
                url=str(f.get("url", "")),
            )
            for f in raw.get("files", [])
        )
        transform = None
        if "transform" in raw:
            t = raw["transform"]
            transform = Transform(
                kind=str(t["kind"]), source=str(t["source"]), output=str(t["output"])
            )
        spec = raw.get("input", {})
        input_spec = InputSpec(
            width=int(spec.get("width", 0)),
            height=int(spec.get("height", 0)),
            colour=str(spec.get("colour", "RGB")),
            mean=_floats3(spec.get("mean", (0, 0, 0)), f"{name}.input.mean"),
            std=_floats3(spec.get("std", (1, 1, 1)), f"{name}.input.std"),
        )
        if input_spec.colour not in ("RGB", "BGR"):
            raise ConfigError(f"model {name}: colour must be RGB or BGR")
        entry = str(raw.get("entry", transform.output if transform else ""))
        if not entry and files:
            entry = files[0].path
        calibration = None
        if name in calibrations:
            calibration = CalibrationCurve.from_dict(calibrations[name])
        components = tuple(str(c) for c in raw.get("components", ()))
        weights = tuple(float(w) for w in raw.get("weights", ()))
        if components and len(weights) != len(components):
            raise ConfigError(f"model {name}: one weight per component is required")
        options = tuple(sorted((str(k), float(v)) for k, v in raw.get("options", {}).items()))
        precision = str(raw.get("precision", "f32"))
        if precision not in PRECISIONS:
            raise ConfigError(f"model {name}: precision must be one of {sorted(PRECISIONS)}")
        return ModelCard(
            name=name,
            task=task,
            backend=str(raw.get("backend", "")),
            runtime=runtime,
            description=str(raw.get("description", "")),
            licence=str(raw["licence"]),
            commercial=bool(raw["commercial"]),
            source=str(raw.get("source", "")),
            files=files,
            entry=entry,
            input=input_spec,
            transform=transform,
            notice=str(raw.get("notice", "")),
            alignment=str(raw.get("alignment", "")),
            embedding_dim=int(raw.get("embedding_dim", 0)),
            default=bool(raw.get("default", False)),
            components=components,
            weights=weights,
            calibration=calibration,
            options=options,
            precision=precision,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"catalog entry {name!r} is malformed: {exc!r}") from exc


def parse_catalog(text: str, *, calibrations: Mapping[str, Any] | None = None) -> Catalog:
    """Parse catalog TOML text (and optional calibration data) into a :class:`Catalog`.

    Raises:
        ConfigError: the TOML is invalid or an entry misses a required field.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"model catalog is not valid TOML: {exc}") from exc
    models = data.get("models", {})
    cals = calibrations or {}
    return Catalog({name: _parse_card(name, raw, cals) for name, raw in models.items()})


CALIBRATIONS_FILE = "calibrations.json"


def calibrations_path() -> Path:
    """Where the packaged calibration data lives (written by ``faceprint eval calibrate``)."""
    return Path(str(resources.files("faceprint.models").joinpath(CALIBRATIONS_FILE)))


def load_catalog(
    catalog_file: str | Path | None = None, *, calibrations_file: str | Path | None = None
) -> Catalog:
    """Load the packaged catalog (or the given files).

    Args:
        catalog_file: a catalog TOML file; ``None`` for the one shipped with faceprint.
        calibrations_file: a calibrations JSON file; ``None`` for the shipped one.

    Raises:
        ConfigError: a file is unreadable or malformed.
    """
    try:
        if catalog_file is None:
            text = resources.files("faceprint.models").joinpath("catalog.toml").read_text("utf-8")
        else:
            text = Path(catalog_file).read_text("utf-8")
        cal_path = Path(calibrations_file) if calibrations_file else calibrations_path()
        calibrations: dict[str, Any] = {}
        if cal_path.is_file():
            calibrations = json.loads(cal_path.read_text("utf-8")).get("models", {})
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the model catalog: {exc}") from exc
    return parse_catalog(text, calibrations=calibrations)
