"""Candidate non-face gates: what each rejects among false detections and among real faces.

`faceprint audit` finds a few "faces" in non-face inputs (docs/security.md §4). A gate
at embedding time would drop detections that are not faces — if it could do so without
dropping real faces, above all degraded ones (the captures robustness work is for).
This measures three candidates on the audit's non-face inputs and on LFW faces, clean
and under each capture degradation at its most severe level:

- **second detector**: Intel's face-detection-retail-0004 (Apache-2.0, OpenVINO), run
  on a square crop twice the detection's size; the detection passes when a box of its
  own overlapping the detection (IoU ≥ 0.3) scores ≥ 0.5, its usual operating point;
- **quality gate**: the default :class:`~faceprint.core.quality.QualityPolicy` (no
  reasons);
- **embedding norm**: the SFace embedding's length before normalisation (it falls with
  how recognisable the face is); passes at or above the 1st percentile of the clean
  LFW faces of this run.

    python benchmarks/nonface_gates.py [--faces 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from faceprint.config import PipelineConfig
from faceprint.core.align import align
from faceprint.environment import Environment
from faceprint.eval.audit.nonface import nonface_inputs
from faceprint.eval.degrade import KINDS, degrade
from faceprint.media.images import load_image
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.types import Detection, ImageArray

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
MIRROR = Path(os.environ.get("FACEPRINT_MODEL_MIRROR", SHARED / "models"))
RETAIL = MIRROR / "intel_omz/face-detection-retail-0004/FP32/face-detection-retail-0004.xml"


class SecondDetector:
    """face-detection-retail-0004 asked about one detection's neighbourhood."""

    def __init__(self, path: Path) -> None:
        model = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1})
        self._request, self._output = model.create_infer_request(), model.output(0)

    def confidence(self, image: ImageArray, det: Detection) -> float:
        x0, y0, x1, y1 = det.bbox_xyxy
        side = 2.0 * max(x1 - x0, y1 - y0)
        sx, sy = (x0 + x1 - side) / 2, (y0 + y1 - side) / 2
        scale = 300.0 / side
        warp = np.array([[scale, 0, -sx * scale], [0, scale, -sy * scale]], np.float32)
        crop = cv2.warpAffine(image, warp, (300, 300), borderMode=cv2.BORDER_CONSTANT)
        blob = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
        rows = self._request.infer({0: blob})[self._output][0, 0]
        want = np.array([x0 - sx, y0 - sy, x1 - sx, y1 - sy]) / side
        best = 0.0
        for row in rows:
            if row[0] < 0:
                break
            box = row[3:7]
            w = max(0.0, min(box[2], want[2]) - max(box[0], want[0]))
            h = max(0.0, min(box[3], want[3]) - max(box[1], want[1]))
            union = np.prod(box[2:] - box[:2]) + np.prod(want[2:] - want[:2]) - w * h
            if union > 0 and w * h / union >= 0.3:
                best = max(best, float(row[2]))
        return best


def raw_norm(pipeline: FacePipeline, image: ImageArray, det: Detection) -> float:
    """The embedder's output length before normalisation (SFace: 112×112 crop)."""
    embedder = pipeline.embedder
    crop, _ = align(image, det.landmarks_array(), template=embedder._template)  # type: ignore[attr-defined]
    batch = crop[None][..., ::-1] if embedder._bgr else crop[None]  # type: ignore[attr-defined]
    batch = (batch.transpose(0, 3, 1, 2).astype(np.float32) - embedder._mean) / embedder._std  # type: ignore[attr-defined]
    return float(np.linalg.norm(embedder._session.run(batch)[0]))  # type: ignore[attr-defined]


def measure(pipeline: FacePipeline, second: SecondDetector, image: ImageArray) -> list[dict]:
    out = []
    for face in pipeline.analyze(image, quality=True):
        det = face.detection
        out.append(
            {
                "detector_score": round(float(det.score), 3),
                "second_detector": round(second.confidence(image, det), 3),
                "quality_reasons": list(face.quality.reasons) if face.quality else [],
                "norm": round(raw_norm(pipeline, image, det), 3),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200, help="LFW people (first photo each)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    pipeline = FacePipeline.from_config(
        PipelineConfig(), store=ModelStore(Environment.read().store_config())
    )
    second = SecondDetector(RETAIL)
    false = []
    for item in nonface_inputs():
        for found in measure(pipeline, second, item.pixels):
            false.append({"input": item.name} | found)
    root = SHARED / "datasets" / "lfw" / "images"
    people = sorted(p for p in root.iterdir() if p.is_dir())
    np.random.default_rng(0).shuffle(people)
    photos = [sorted(p.iterdir())[0] for p in people[: args.faces]]
    conditions: dict[str, list[dict]] = {}
    for condition in ["clean"] + [f"{kind}:3" for kind in KINDS]:
        rows = []
        for i, path in enumerate(photos):
            image = load_image(path)
            if condition != "clean":
                image = degrade(image, condition, seed=i)
            found = measure(pipeline, second, image)
            if found:
                rows.append(found[0])  # the most prominent face: the person photographed
        conditions[condition] = rows
        print(f"{condition}: {len(rows)} faces", flush=True)
    floor = float(np.percentile([r["norm"] for r in conditions["clean"]], 1))
    gates = {
        "second_detector": lambda r: r["second_detector"] >= 0.5,
        "quality_gate": lambda r: not r["quality_reasons"],
        "embedding_norm": lambda r: r["norm"] >= floor,
    }
    table = {
        c: {"faces": len(rows)} | {g: sum(not keep(r) for r in rows) for g, keep in gates.items()}
        for c, rows in conditions.items()
    }
    for row in false:
        row["rejected_by"] = [g for g, keep in gates.items() if not keep(row)]
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "model_id": pipeline.model_id,
        "norm_floor": round(floor, 3),
        "false_detections": false,
        "real_faces_rejected": table,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"false detections ({len(false)}):")
    for row in false:
        print(f"  {row['input']:28s} {row}")
    print(f"real faces rejected (of those detected); norm floor {floor:.2f}:")
    print(f"  {'condition':18s} faces " + " ".join(f"{g:>16s}" for g in gates))
    for c, counts in table.items():
        print(f"  {c:18s} {counts['faces']:5d} " + " ".join(f"{counts[g]:16d}" for g in gates))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
