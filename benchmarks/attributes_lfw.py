"""Gender accuracy of the attribute model on LFW, with labels inferred from first names.

Labels: the first name of each LFW person (the folder name up to the first "_") looked
up in `gender-guesser` (a first-name dictionary; GPL-3.0, so it is a benchmark-only
tool, installed by `make bench-attributes`, never a faceprint dependency). Only names it
calls plainly "male" or "female" are used; "mostly_*", "andy" and unknown names are
skipped. These are *name-derived* labels: some are wrong, and they encode a binary
notion of gender — the figure measures agreement with them, nothing more.

One image per person (the first), so frequent celebrities do not dominate.

    python benchmarks/attributes_lfw.py
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.media.images import load_image
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


def main() -> None:
    import gender_guesser.detector as gender  # type: ignore[import-not-found]

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=SHARED / "datasets" / "lfw" / "images")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    guesser = gender.Detector(case_sensitive=False)
    pipeline = FacePipeline.from_config(
        PipelineConfig(device="cpu"), store=ModelStore(Environment.read().store_config())
    )
    confusion: Counter[tuple[str, str]] = Counter()
    skipped = Counter()
    for person in sorted(p for p in args.images.iterdir() if p.is_dir()):
        label = guesser.get_gender(person.name.split("_")[0])
        if label not in ("male", "female"):
            skipped[label] += 1
            continue
        image = load_image(sorted(person.glob("*.jpg"))[0])
        faces = pipeline.detect(image)
        if not faces:
            skipped["no_face"] += 1
            continue
        det = pipeline.primary_detection(image, detections=faces)
        (attrs,) = pipeline.attribute_estimator.estimate(image, [det])
        confusion[(label, attrs.gender)] += 1
    total = sum(confusion.values())
    correct = confusion[("male", "male")] + confusion[("female", "female")]
    per_class = {
        label: confusion[(label, label)]
        / max(1, confusion[(label, "male")] + confusion[(label, "female")])
        for label in ("male", "female")
    }
    record = {
        "people": total,
        "accuracy": correct / max(total, 1),
        "recall_by_label": per_class,
        "confusion": {f"{a}->{b}": n for (a, b), n in sorted(confusion.items())},
        "skipped": dict(skipped),
    }
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
