"""Synthetic capture degradations through faceprint and `face_recognition`, side by side.

The same LFW View-2 images, degraded the same way (``faceprint.eval.degrade``: each
image with ``image_seed(seed, <path relative to the LFW root>)``, so both sides see
identical pixels), verified by both libraries:

* faceprint: the user-facing command, as a subprocess of this venv,
  ``faceprint --threads 2 eval robustness --root R --pairs P --kinds K --severity S
  --folds F --seed N --json``;
* the peer (dlib; installed by ``make bench-peer``): in memory, per image, decode →
  degrade → ``face_recognition.face_locations`` (HOG, as its CLI does) → the largest
  box → ``face_encodings``; score = −euclidean distance (its convention: smaller
  distance = same person); a pair with an image without a face gets the worst score.
  A pool of ``--workers`` processes (default 2: dlib is single-threaded).

Both follow the LFW protocol among the chosen folds (threshold from the other chosen
folds, accuracy on the held-out one; with a single fold the threshold is chosen on
that fold itself, which is optimistic and flagged in the output). Printed: a Markdown
table per kind and severity (accuracy and TAR@FAR=1e-3 in %, with the drop from clean
in points in brackets, and images without a face), and each side's mean accuracy drop
across the degraded kinds. ``--out`` writes the merged JSON (date and machine included).

    python benchmarks/robustness_peer.py --severity 2 --out robustness.json
    python benchmarks/robustness_peer.py --folds 1 --kinds motion_blur --skip-ours \\
        --limit-pairs 40   # smoke run only
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from throughput import cpu_name  # benchmarks/ is on sys.path when run as a script

from faceprint.core.metrics import best_threshold, kfold_accuracy, roc_auc, tar_at_far
from faceprint.eval.datasets import Pair, pair_images, read_pairs
from faceprint.eval.degrade import KINDS, SEVERITIES, parse_chain

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPRINT_SHARED", ROOT.parent / "shared"))
BIN = Path(sys.executable).parent
PEER = "face_recognition"
FAR = 1e-3
STDERR_TAIL = 6000  # characters of the faceprint command's stderr kept for its failure

Key = tuple[str, int]  # (kind, severity); the clean reference is ("clean", 0)
CLEAN: Key = ("clean", 0)


def version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


# --- arguments -------------------------------------------------------------------------


def parse_folds(spec: str, available: int) -> list[int]:
    """``"1-2"``, ``"1,3"``, ``"1-3,7"`` (1-based, as in the pairs file) → fold ids from 0."""
    chosen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise SystemExit(f"--folds: {part!r} is not a fold number or range") from None
        if not 1 <= first <= last <= available:
            raise SystemExit(f"--folds: {part!r} is outside 1-{available}")
        chosen.update(range(first - 1, last))
    if not chosen:
        raise SystemExit("--folds: no fold chosen")
    return sorted(chosen)


def parse_kinds(spec: str) -> list[str]:
    kinds = [k.strip() for k in spec.split(",") if k.strip() and k.strip() != "clean"]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"--kinds: unknown {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    return list(dict.fromkeys(kinds))


def parse_severities(spec: str) -> list[int]:
    try:
        levels = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--severity: {spec!r} is not a comma list of 1, 2, 3") from None
    if not levels or any(s not in SEVERITIES for s in levels):
        raise SystemExit(f"--severity: {spec!r}; each must be one of 1, 2, 3")
    return list(dict.fromkeys(levels))


def limit_pairs(pairs: Sequence[Pair], n: int) -> list[Pair]:
    """The first ``n`` matched and ``n`` mismatched pairs of every fold (smoke runs)."""
    kept: list[Pair] = []
    for fold in sorted({p.fold for p in pairs}):
        for same in (True, False):
            kept.extend([p for p in pairs if p.fold == fold and p.same == same][:n])
    return kept


def _name_number(path: Path) -> tuple[str, int]:
    return path.parent.name, int(path.stem.rsplit("_", 1)[1])


def write_pairs(pairs: Sequence[Pair], target: Path) -> None:
    """An LFW View-2 pairs file for ``pairs`` (every fold with as many of each class)."""
    folds = sorted({p.fold for p in pairs})
    per_class = sum(1 for p in pairs if p.fold == folds[0] and p.same)
    lines = [f"{len(folds)}\t{per_class}"]
    for fold in folds:
        for same in (True, False):
            for p in (q for q in pairs if q.fold == fold and q.same == same):
                (na, ia), (nb, ib) = _name_number(p.path_a), _name_number(p.path_b)
                lines.append(f"{na}\t{ia}\t{ib}" if same else f"{na}\t{ia}\t{nb}\t{ib}")
    target.write_text("\n".join(lines) + "\n", "utf-8")


# --- metrics ---------------------------------------------------------------------------


def verification(
    scores: NDArray[np.float64], labels: NDArray[np.bool_], folds: NDArray[np.int_]
) -> dict[str, Any]:
    """Accuracy by the LFW protocol among the folds present, TAR@FAR=1e-3 and ROC AUC."""
    if len(np.unique(folds)) >= 2:
        kfold = kfold_accuracy(scores, labels, folds)
        accuracy, std, protocol = kfold.mean, kfold.std, "k-fold"
    else:  # one fold: no held-out threshold possible; choose it on the fold itself
        threshold = best_threshold(scores, labels)
        accuracy, std = float(np.mean((scores >= threshold) == labels)), 0.0
        protocol = "single fold, threshold chosen on it (optimistic)"
    tar, _ = tar_at_far(scores[labels], scores[~labels], far=FAR)
    return {
        "accuracy": accuracy,
        "accuracy_std": std,
        "tar_at_far_1e3": tar,
        "roc_auc": roc_auc(scores, labels),
        "protocol": protocol,
    }


# --- the peer --------------------------------------------------------------------------


def _peer_init() -> None:
    import warnings

    import cv2

    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

    cv2.setNumThreads(1)
    import face_recognition  # type: ignore[import-untyped]  # noqa: F401  (load once)


def _peer_embed(task: tuple[str, str, str, int]) -> tuple[str, NDArray[np.float64] | None, str]:
    """One image: decode → degrade → HOG detect → largest box → 128-d encoding.

    Returns ``(relpath, encoding or None, error message or "")``.
    """
    import face_recognition

    from faceprint.eval.degrade import degrade, image_seed
    from faceprint.media.images import decode_image

    path, relpath, chain, seed = task
    try:
        pixels = decode_image(path).pixels
    except Exception as exc:  # an unreadable image counts as one without a face
        return relpath, None, f"{type(exc).__name__}: {exc}"
    steps = parse_chain(chain)
    image = degrade(pixels, steps, seed=image_seed(seed, relpath)) if steps else pixels
    boxes = face_recognition.face_locations(image)  # model="hog", as its CLI
    if not boxes:
        return relpath, None, ""
    top, right, bottom, left = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    encodings = face_recognition.face_encodings(image, [(top, right, bottom, left)])
    if not encodings:
        return relpath, None, ""
    return relpath, np.asarray(encodings[0], dtype=np.float64), ""


@dataclass
class PairIndex:
    """The chosen pairs as index arrays into the sorted list of their images."""

    paths: list[Path]
    relpaths: list[str]
    a: NDArray[np.intp]
    b: NDArray[np.intp]
    labels: NDArray[np.bool_]
    folds: NDArray[np.int_]

    @classmethod
    def of(cls, pairs: Sequence[Pair], root: Path) -> PairIndex:
        paths = pair_images(pairs)
        index = {p: i for i, p in enumerate(paths)}
        return cls(
            paths=paths,
            relpaths=[p.relative_to(root).as_posix() for p in paths],
            a=np.array([index[p.path_a] for p in pairs], dtype=np.intp),
            b=np.array([index[p.path_b] for p in pairs], dtype=np.intp),
            labels=np.array([p.same for p in pairs], dtype=bool),
            folds=np.array([p.fold for p in pairs], dtype=np.int_),
        )


def _progress(label: str, done: int, total: int, start: float) -> None:
    elapsed = time.perf_counter() - start
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else 0.0
    sys.stderr.write(
        f"\rpeer {label:<18} {done:>6}/{total} images  {rate:5.1f} images/s  "
        f"ETA {eta / 60:5.1f} min "
    )
    sys.stderr.flush()


def run_peer(
    data: PairIndex, keys: Sequence[Key], *, seed: int, workers: int
) -> dict[Key, dict[str, Any]]:
    """Every key's verification figures through face_recognition (clean first)."""
    results: dict[Key, dict[str, Any]] = {}
    tasks_of = {rel: str(path) for rel, path in zip(data.relpaths, data.paths, strict=True)}
    slot = {rel: i for i, rel in enumerate(data.relpaths)}
    # Single-threaded BLAS/OpenMP per worker: the pool is the parallelism.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with mp.get_context("spawn").Pool(workers, initializer=_peer_init) as pool:
        for kind, severity in keys:
            chain = "clean" if (kind, severity) == CLEAN else f"{kind}:{severity}"
            label = "clean" if (kind, severity) == CLEAN else f"{kind}:{severity}"
            vectors = np.zeros((len(data.paths), 128), np.float64)  # no face: row of zeros
            found = np.zeros(len(data.paths), bool)
            errors: list[str] = []
            tasks = [(tasks_of[rel], rel, chain, seed) for rel in data.relpaths]
            start = time.perf_counter()
            for done, (rel, encoding, error) in enumerate(
                pool.imap_unordered(_peer_embed, tasks, chunksize=4), 1
            ):
                if encoding is not None:
                    vectors[slot[rel]] = encoding
                    found[slot[rel]] = True
                if error:
                    errors.append(f"{rel}: {error}")
                if done % 10 == 0 or done == len(tasks):
                    _progress(label, done, len(tasks), start)
            seconds = time.perf_counter() - start
            sys.stderr.write("\n")
            scores = -np.linalg.norm(vectors[data.a] - vectors[data.b], axis=1)
            missing = ~(found[data.a] & found[data.b])
            real = scores[~missing]
            worst = min(-4.0, float(real.min()) - 1.0) if real.size else -4.0
            scores[missing] = worst
            row = verification(scores, data.labels, data.folds)
            row.update(
                images=len(data.paths),
                no_face_images=int((~found).sum()),
                pairs_without_face=int(missing.sum()),
                unreadable_images=errors[:20],
                seconds=round(seconds, 1),
                images_per_s=round(len(data.paths) / seconds, 2) if seconds else None,
            )
            results[(kind, severity)] = row
    add_drops(results)
    return results


def add_drops(results: dict[Key, dict[str, Any]]) -> None:
    """``accuracy_drop`` / ``tar_drop``: clean minus degraded, as fractions."""
    clean = results.get(CLEAN)
    for key, row in results.items():
        if clean is None or key == CLEAN:
            row.setdefault("accuracy_drop", 0.0 if key == CLEAN else None)
            row.setdefault("tar_drop", 0.0 if key == CLEAN else None)
        else:
            row["accuracy_drop"] = clean["accuracy"] - row["accuracy"]
            row["tar_drop"] = clean["tar_at_far_1e3"] - row["tar_at_far_1e3"]


# --- faceprint -------------------------------------------------------------------------


def _tee(fd: int, tail: bytearray) -> None:
    """Forward the child's stderr to ours as it comes (progress), keeping its tail."""
    while chunk := os.read(fd, 4096):
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        tail += chunk
        del tail[:-STDERR_TAIL]


def run_ours(command: list[str], env: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """Run the command; its parsed ``--json`` report, or ``None`` and why not."""
    print(f"running: {' '.join(command)}", file=sys.stderr, flush=True)
    tail = bytearray()
    try:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        return None, f"cannot start {command[0]}: {exc}"
    assert proc.stdout is not None and proc.stderr is not None
    reader = threading.Thread(target=_tee, args=(proc.stderr.fileno(), tail), daemon=True)
    reader.start()
    stdout = proc.stdout.read().decode("utf-8", "replace")
    code = proc.wait()
    reader.join()
    stderr = tail.decode("utf-8", "replace")
    if code != 0:  # its stderr was shown as it ran; the tail goes into the JSON
        return None, f"exit status {code}; its stderr (tail):\n{stderr}"
    try:
        report = json.loads(stdout[stdout.index("{") : stdout.rindex("}") + 1])
    except ValueError as exc:
        return None, f"its output is not a JSON report ({exc}):\n{stdout[-2000:]}"
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        return None, f"its JSON has no 'rows' list:\n{stdout[-2000:]}"
    return report, ""


def ours_rows(report: dict[str, Any]) -> dict[str, dict[Key, dict[str, Any]]]:
    """pipeline → (kind, severity) → row; the clean row is keyed ``("clean", 0)``."""
    out: dict[str, dict[Key, dict[str, Any]]] = {}
    for row in report["rows"]:
        kind = str(row.get("kind", ""))
        key: Key = CLEAN if kind == "clean" else (kind, int(row.get("severity") or 0))
        out.setdefault(str(row.get("pipeline", "faceprint")), {})[key] = dict(row)
    for rows in out.values():
        if any(r.get("accuracy_drop") is None for r in rows.values()):
            add_drops(rows)
    return out


# --- output ----------------------------------------------------------------------------


def _pct(row: dict[str, Any] | None, value: str, drop: str, key: Key) -> str:
    if row is None or row.get(value) is None:
        return "–"
    cell = f"{100 * row[value]:.2f}"
    if key != CLEAN and row.get(drop) is not None:
        cell += f" ({-100 * row[drop]:+.2f})"
    return cell


def _count(row: dict[str, Any] | None) -> str:
    return "–" if row is None or row.get("no_face_images") is None else str(row["no_face_images"])


def table(
    keys: Sequence[Key],
    ours: dict[str, dict[Key, dict[str, Any]]],
    peer: dict[Key, dict[str, Any]],
) -> list[str]:
    names = list(ours) or ["faceprint"]
    label = {n: "faceprint" if len(names) == 1 else f"faceprint {n}" for n in names}
    head = ["kind", "severity"]
    for n in names:
        head += [f"{label[n]} acc %", f"{label[n]} TAR@1e-3 %", f"{label[n]} no-face"]
    head += ["peer acc %", "peer TAR@1e-3 %", "peer no-face"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        cells = [key[0], "–" if key == CLEAN else str(key[1])]
        for n in names:
            row = ours.get(n, {}).get(key)
            cells += [
                _pct(row, "accuracy", "accuracy_drop", key),
                _pct(row, "tar_at_far_1e3", "tar_drop", key),
                _count(row),
            ]
        row = peer.get(key)
        cells += [
            _pct(row, "accuracy", "accuracy_drop", key),
            _pct(row, "tar_at_far_1e3", "tar_drop", key),
            _count(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mean(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return float(np.mean(got)) if got else None


def mean_drops(
    keys: Sequence[Key],
    ours: dict[str, dict[Key, dict[str, Any]]],
    peer: dict[Key, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per severity (and faceprint pipeline): mean accuracy/TAR drop over the degraded
    kinds both sides have, and the peer/faceprint ratio of the accuracy drops."""
    summaries: list[dict[str, Any]] = []
    pipelines = list(ours.items()) or [("faceprint", {})]
    for severity in sorted({s for k, s in keys if (k, s) != CLEAN}):
        degraded = [k for k in keys if k != CLEAN and k[1] == severity]
        for name, rows in pipelines:
            # the kinds both sides have (all of one side's when the other was not run)
            both = [k for k in degraded if (k in rows or not ours) and (k in peer or not peer)]
            ours_acc = _mean(rows[k].get("accuracy_drop") for k in both if k in rows)
            peer_acc = _mean(peer[k]["accuracy_drop"] for k in both if k in peer)
            summaries.append(
                {
                    "severity": severity,
                    "pipeline": name,
                    "kinds": [k for k, _ in both],
                    "faceprint_accuracy_drop": ours_acc,
                    "faceprint_tar_drop": _mean(rows[k].get("tar_drop") for k in both if k in rows),
                    "peer_accuracy_drop": peer_acc,
                    "peer_tar_drop": _mean(peer[k]["tar_drop"] for k in both if k in peer),
                    "peer_over_faceprint": (
                        peer_acc / ours_acc if peer_acc is not None and ours_acc else None
                    ),
                }
            )
    return summaries


def _points(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} points"


def summary_line(s: dict[str, Any]) -> str:
    ratio = s["peer_over_faceprint"]
    who = "faceprint" if s["pipeline"] == "faceprint" else f"faceprint ({s['pipeline']})"
    return (
        f"severity {s['severity']}, mean accuracy drop over {len(s['kinds'])} degraded "
        f"kind(s): {who} {_points(s['faceprint_accuracy_drop'])}, face_recognition "
        f"{_points(s['peer_accuracy_drop'])}"
        + ("" if ratio is None else f" (peer / faceprint: {ratio:.2f}×)")
        + f"; TAR@FAR=1e-3 drop: {_points(s['faceprint_tar_drop'])} vs "
        f"{_points(s['peer_tar_drop'])}"
    )


def _jsonable_rows(rows: dict[Key, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"kind": k, "severity": s, **row} for (k, s), row in rows.items()]


# --- main ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    lfw = SHARED / "datasets" / "lfw"
    parser.add_argument("--root", type=Path, default=lfw / "images", help="LFW images folder")
    parser.add_argument("--pairs", type=Path, default=lfw / "pairs.txt", help="View-2 pairs")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma list (default all nine); clean always"
    )
    parser.add_argument("--severity", default="2", help="1, 2 or 3, or a comma list")
    parser.add_argument(
        "--folds", default=None, help="e.g. 1-2 or 1,3 (1-based; default every fold)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the merged JSON here")
    parser.add_argument("--skip-ours", action="store_true", help="only the peer")
    parser.add_argument("--skip-peer", action="store_true", help="only faceprint")
    parser.add_argument("--workers", type=int, default=2, help="peer processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="faceprint inference threads")
    parser.add_argument(
        "--limit-pairs",
        type=int,
        default=0,
        metavar="N",
        help="smoke runs only: the first N matched and N mismatched pairs of each fold",
    )
    args = parser.parse_args(argv)

    kinds, severities = parse_kinds(args.kinds), parse_severities(args.severity)
    keys: list[Key] = [CLEAN, *((k, s) for k in kinds for s in severities)]
    pairs = read_pairs(args.pairs, root=args.root)
    available = max(p.fold for p in pairs) + 1
    fold_ids = parse_folds(args.folds, available) if args.folds else list(range(available))
    run_peer_side, run_ours_side = not args.skip_peer, not args.skip_ours
    if run_peer_side and util.find_spec(PEER) is None:
        print(
            f"{PEER} is not installed (make bench-peer installs it); faceprint only",
            file=sys.stderr,
        )
        run_peer_side = False

    work = Path(tempfile.mkdtemp(prefix="faceprint-robustness-peer-"))
    pairs_file = args.pairs
    if args.limit_pairs > 0:  # one trimmed file for both sides, every fold kept in place
        pairs = limit_pairs(pairs, args.limit_pairs)
        pairs_file = work / "pairs.txt"
        write_pairs(pairs, pairs_file)
    chosen = [p for p in pairs if p.fold in fold_ids]
    record: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "faceprint_version": version("faceprint"),
        "peer": {
            "face_recognition": version("face_recognition"),
            "dlib": version("dlib-bin", "dlib"),
            "detector": "hog",
            "workers": args.workers,
        },
        "options": {
            "root": str(args.root),
            "pairs": str(args.pairs),
            "kinds": kinds,
            "severities": severities,
            "folds": [f + 1 for f in fold_ids],
            "seed": args.seed,
            "limit_pairs": args.limit_pairs or None,
            "pairs_evaluated": len(chosen),
        },
    }

    ours: dict[str, dict[Key, dict[str, Any]]] = {}
    try:
        if run_ours_side:
            command = [str(BIN / "faceprint"), "--threads", str(args.threads), "eval"]
            command += ["robustness", "--root", str(args.root), "--pairs", str(pairs_file)]
            command += ["--kinds", ",".join(kinds), "--severity", ",".join(map(str, severities))]
            if args.folds:
                command += ["--folds", args.folds]
            command += ["--seed", str(args.seed), "--json"]
            env = {
                **os.environ,
                "FACEPRINT_MODEL_MIRROR": os.environ.get(
                    "FACEPRINT_MODEL_MIRROR", str(SHARED / "models")
                ),
                "FACEPRINT_OFFLINE": os.environ.get("FACEPRINT_OFFLINE", "1"),
            }
            start = time.perf_counter()
            report, problem = run_ours(command, env)
            record["faceprint"] = {"command": command, "seconds": time.perf_counter() - start}
            if report is None:
                shown = problem.split("\n", 1)[0] if problem.startswith("exit") else problem
                print(f"faceprint eval robustness failed ({shown})", file=sys.stderr)
                print("continuing with the peer only", file=sys.stderr)
                record["faceprint"]["error"] = problem
            else:
                record["faceprint"]["report"] = report
                ours = ours_rows(report)
    finally:
        if args.limit_pairs > 0:
            (work / "pairs.txt").unlink(missing_ok=True)
        work.rmdir()

    peer: dict[Key, dict[str, Any]] = {}
    if run_peer_side:
        data = PairIndex.of(chosen, args.root)
        print(
            f"peer: {len(chosen)} pairs, {len(data.paths)} images, {len(keys)} conditions, "
            f"{args.workers} workers",
            file=sys.stderr,
            flush=True,
        )
        peer = run_peer(data, keys, seed=args.seed, workers=args.workers)
        record["peer"]["rows"] = _jsonable_rows(peer)

    summaries = mean_drops(keys, ours, peer)
    record["mean_drops"] = summaries
    record["rows"] = [
        {
            "kind": k,
            "severity": s,
            "faceprint": {name: rows.get((k, s)) for name, rows in ours.items()} or None,
            "face_recognition": peer.get((k, s)),
        }
        for k, s in keys
    ]

    print(
        f"{record['date']}, {record['machine']}; {len(chosen)} LFW pairs, folds "
        f"{','.join(str(f + 1) for f in fold_ids)}, seed {args.seed}"
        + (f", --limit-pairs {args.limit_pairs} (smoke run)" if args.limit_pairs else "")
    )
    protocols = {str(r["protocol"]) for r in peer.values()} - {"k-fold"}
    if protocols:
        print(f"peer accuracy: {', '.join(sorted(protocols))}")
    print()
    print("\n".join(table(keys, ours, peer)))
    print()
    for s in summaries:
        print(summary_line(s))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
