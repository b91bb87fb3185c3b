"""When does the hill-climbing detector flag score-only inversion attacks?

`faceprint audit` attacks one or two targets through the real service, and a flagged
key is throttled, so the attack stops there. This replays the same attack (the
audit's (1+1)-ES in its eigenface space, 2-decimal scores as the service returns them)
against more targets, in process. Each probe goes to the service's
:class:`~faceprint.service.defences.HillClimbDetector` exactly as the service would
feed it: the probe's embedding, its exact similarity, the decision and the threshold.
The attack is not stopped, so the benchmark records when the detector would have
flagged it, and when the attack first reached a match.

    python benchmarks/hill_climb_detection.py --targets 10 --budget 300 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.errors import NoFaceError
from faceprint.eval.audit.cache import cached_audit_set, cached_face_space
from faceprint.eval.audit.inversion import Answer, answer_for, invert, reference_embeddings
from faceprint.eval.audit.run import choose_targets, space_images
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.service.defences import HillClimbDetector

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


@dataclass
class WatchedOracle:
    """A 1:1 claim check whose probes the detector watches (as the service's are)."""

    pipeline: FacePipeline
    enrolled: np.ndarray
    threshold: float
    detector: HillClimbDetector = field(default_factory=HillClimbDetector)
    queries: int = 0
    first_match: int | None = None
    flags: list[int] = field(default_factory=list)

    def query(self, image: np.ndarray) -> Answer:
        self.queries += 1
        try:
            face = self.pipeline.primary_face(image)
        except NoFaceError:
            return Answer(score=None, match=None, no_face=True)
        vector = face.embedding.vector
        value = float(np.max(self.enrolled @ vector))
        answer = answer_for(value, threshold=self.threshold, decimals=2)
        if answer.match and self.first_match is None:
            self.first_match = self.queries
        found = self.detector.observe(
            "attacker", ("audit", "target"), vector, value, bool(answer.match),
            threshold=self.threshold,
        )  # fmt: skip
        if found is not None:
            self.flags.append(self.queries)
        return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--cache", type=Path, default=None, help="audit cache folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    env = Environment.read()
    pipeline = FacePipeline.from_config(
        PipelineConfig(embedder=args.embedder), store=ModelStore(env.store_config())
    )
    images = SHARED / "datasets" / "lfw" / "images"
    cache = args.cache or env.root / "audit"  # the cache `faceprint audit` fills
    faces = cached_audit_set(pipeline, images, cache)
    targets = choose_targets(faces, images, args.targets, seed=0)
    photos = space_images(faces, images, [t.person for t in targets], seed=0)
    space = cached_face_space(pipeline, photos, cache)
    threshold = pipeline.verification_threshold().similarity
    rows = []
    for n, target in enumerate(targets):
        enrolled = reference_embeddings(pipeline, [target.enrolled])
        oracle = WatchedOracle(pipeline, enrolled, threshold)
        invert(oracle, space, budget=args.budget, checkpoints=(args.budget,), seed=n)
        rows.append(
            {
                "person": target.person,
                "queries": oracle.queries,
                "first_match": oracle.first_match,
                "first_flag": oracle.flags[0] if oracle.flags else None,
                "flags": oracle.flags,
            }
        )
        print(
            f"{target.person:28s} first match at query {oracle.first_match}, "
            f"first flag at {rows[-1]['first_flag']}",
            flush=True,
        )
    flagged = [r["first_flag"] for r in rows if r["first_flag"] is not None]
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "model_id": pipeline.model_id,
        "threshold": threshold,
        "budget": args.budget,
        "targets": len(rows),
        "flagged": len(flagged),
        "latest_first_flag": max(flagged) if flagged else None,
        "matched_before_flag": sum(
            r["first_match"] is not None
            and (r["first_flag"] is None or r["first_match"] < r["first_flag"])
            for r in rows
        ),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    print(
        f"flagged {result['flagged']} of {result['targets']} attacks, the last by query "
        f"{result['latest_first_flag']}; {result['matched_before_flag']} matched first"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
