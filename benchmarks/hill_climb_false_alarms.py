"""False alarms of the hill-climbing detector on a real camera stream.

A client that sends every frame of a video as a 1:1 claim sends what an attacker sends:
long runs of near-duplicate probes against one person. This benchmark starts the real
service (HTTP on loopback, the audit's ``detector`` settings: the shipped defaults
without the per-person budget, so the detector alone decides), enrolls the six sample
people from one photo each, and claims each of them with every frame of the sample
clip (in which one of them, lin_manuel_miranda, appears), then with every third frame
(10 frames/s). It counts the ``hill_climb_suspected`` alerts each stream raised.

    python benchmarks/hill_climb_false_alarms.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.eval.audit.run import InversionTarget
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.service.audit import AuditTarget

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
SAMPLES = SHARED / "datasets" / "samples"
CLIP = SAMPLES / "video" / "short_hamilton_clip.mp4"


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--embedder", default="sface")
    args = parser.parse_args()
    env = Environment.read()
    pipeline = FacePipeline.from_config(
        PipelineConfig(embedder=args.embedder), store=ModelStore(env.store_config())
    )
    clip = frames(CLIP)
    people = [
        InversionTarget(person=p.name, enrolled=sorted(p.iterdir())[0], references=())
        for p in sorted((SAMPLES / "known").iterdir())
    ]
    rows = []
    started = time.perf_counter()
    for stride in (1, 3):
        with AuditTarget(pipeline, people) as service:  # a fresh deployment per stride
            for person in people:
                mode = "detector"
                sent = matched = no_face = refused = 0
                with service.oracle(mode, person) as oracle:
                    for frame in clip[::stride]:
                        answer = oracle.query(frame)
                        sent += 1
                        matched += bool(answer.match)
                        no_face += answer.no_face
                        refused += answer.refused
                alerts = [
                    e for e in service.events(mode, person) if e["event"] == "hill_climb_suspected"
                ]
                rows.append(
                    {
                        "person": person.person,
                        "stride": stride,
                        "claims": sent,
                        "matched": matched,
                        "no_face": no_face,
                        "refused": refused,
                        "alerts": len(alerts),
                        "alert_at": [e.get("key_requests") for e in alerts],
                    }
                )
                print(
                    f"{person.person:20s} every {stride} frame(s): {sent} claims, {matched} "
                    f"matched, {no_face} without a face, {len(alerts)} alert(s) "
                    f"{[e.get('key_requests') for e in alerts]}, {refused} refused",
                    flush=True,
                )
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "model_id": pipeline.model_id,
        "clip": CLIP.name,
        "frames": len(clip),
        "streams": len(rows),
        "streams_with_alerts": sum(r["alerts"] > 0 for r in rows),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    print(
        f"{result['streams_with_alerts']} of {result['streams']} streams raised an alert "
        f"({result['seconds']} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
