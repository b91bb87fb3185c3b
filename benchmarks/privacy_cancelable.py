"""Cancelable templates on LFW: accuracy with and without the keyed rotation, and
unlinkability across keys.

Every LFW image of the pairs protocol is embedded once (SFace default pipeline; or
``--embeddings`` reuses an ``.npz`` with ``vectors``, ``found``, ``names``, ``files``,
``model_id``). Then, on the same vectors:

* **verification**: LFW View-2 10-fold accuracy (and ROC AUC) of the plain embeddings
  and of the templates of one tenant key (:class:`faceprint.core.cancelable.TemplateKey`,
  derived from a random master key as the CLI does);
* **identification**: open set over every LFW person (first image of each person with
  two or more enrolled, their other images mated probes, people with one image the
  non-mated probes), rank-1 and FNIR at FPIR 1 %, plain and protected;
* **unlinkability** (ISO/IEC 30136 style): *mated* pairs (two images of one person) with
  one side under key/tenant A and the other under key/tenant B, against *non-mated*
  pairs under the same two keys: ROC AUC (0.5: a score says nothing about whether two
  templates of two tenants are the same person), score means/stds, and the global
  linkability D↔sys of Gomez-Barrero et al. (2018; 0: unlinkable, 1: fully linkable);
  the same with both sides under one key is the control (AUC ≈ that of the plain
  embeddings). Pairs: the 3,000 + 3,000 of pairs.txt, and every mated pair of LFW
  against as many random non-mated pairs. Cross-key scores centre on 0 while a
  system's own impostors (one key) centre near 0.1, so against those the cross-key
  mated pairs score *lower* (AUC < 0.5, reported too): no tenant's template is a
  better-than-impostor match in another tenant's gallery. The histogram estimate of
  D↔sys has a floor of ≈ 0.02 from sampling noise (30 bins, a few thousand scores);
  the per-key-pair AUC spread (≈ ±0.04) comes from each pair of rotations' own
  ``trace(R_aᵀ R_b)/d`` offset, averaging out over key pairs;
* the non-invertible variant (:func:`~faceprint.core.cancelable.keyed_projection`,
  ``k`` of the ``d`` directions kept): its LFW accuracy for a few ``k``.

    python benchmarks/privacy_cancelable.py --embeddings /tmp/privacy/lfw-sface.npz \\
        --json docs/bench/privacy-cancelable.json --plot docs/bench/privacy-cancelable.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.core.cancelable import TemplateKey, keyed_projection
from faceprint.core.metrics import kfold_accuracy, open_set_identification, roc_auc
from faceprint.core.similarity import normalize_rows
from faceprint.eval.datasets import read_pairs
from faceprint.keysource import SecretKey

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# --- data ----------------------------------------------------------------------------


def embed_lfw(lfw: Path, embedder: str) -> dict[str, Any]:
    """Embed every image under ``lfw/images`` with the default pipeline."""
    from faceprint.config import PipelineConfig
    from faceprint.environment import Environment
    from faceprint.eval.embedding import embed_images
    from faceprint.models.store import ModelStore
    from faceprint.pipeline import FacePipeline

    paths = sorted((lfw / "images").glob("*/*.jpg"))
    store = ModelStore(Environment.read().store_config())
    pipeline = FacePipeline.from_config(PipelineConfig(embedder=embedder), store=store)
    emb = embed_images(pipeline, paths, workers=2)
    return {
        "vectors": emb.vectors,
        "found": emb.found,
        "names": np.array([p.parent.name for p in paths]),
        "files": np.array([p.name for p in paths]),
        "model_id": pipeline.model_id,
    }


def load(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in ("vectors", "found", "names", "files", "model_id")}


def master_key(rng: np.random.Generator) -> SecretKey:
    """A master key drawn from the benchmark's seed (reproducible runs)."""
    return SecretKey(material=rng.bytes(32), source="benchmark")


# --- measures ------------------------------------------------------------------------


def linkability(mated: NDArray[np.float64], nonmated: NDArray[np.float64], bins: int = 30) -> float:
    """Global linkability D↔sys (Gomez-Barrero et al. 2018), equal priors: the mated
    score density's mass where the likelihood ratio says "mated", weighted by how
    surely (histogram estimate)."""
    edges = np.linspace(
        min(mated.min(), nonmated.min()), max(mated.max(), nonmated.max()), bins + 1
    )
    pm, _ = np.histogram(mated, edges)
    pn, _ = np.histogram(nonmated, edges)
    pm = pm / pm.sum()
    pn = pn / pn.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.where(pn > 0, pm / pn, np.inf)
        d = np.where(np.isinf(lr), 1.0, np.clip(2 * lr / (1 + lr) - 1, 0.0, 1.0))
    d = np.where(pm > 0, d, 0.0)
    return float((d * pm).sum())


def stats(scores: NDArray[np.float64]) -> dict[str, float]:
    return {"mean": float(scores.mean()), "std": float(scores.std()), "n": int(scores.size)}


def separation(mated: NDArray[np.float64], nonmated: NDArray[np.float64]) -> dict[str, Any]:
    scores = np.concatenate([mated, nonmated])
    labels = np.concatenate([np.ones(mated.size, bool), np.zeros(nonmated.size, bool)])
    return {
        "auc": roc_auc(scores, labels),
        "d_sys": linkability(mated, nonmated),
        "mated": stats(mated),
        "nonmated": stats(nonmated),
    }


def pair_scores(
    a: NDArray[np.float32], b: NDArray[np.float32], ia: NDArray[np.int64], ib: NDArray[np.int64]
) -> NDArray[np.float64]:
    return (a[ia].astype(np.float64) * b[ib]).sum(axis=1)


def lfw_accuracy(
    vectors: NDArray[np.float32], found: NDArray[np.bool_], pairs: dict[str, NDArray[Any]]
) -> dict[str, float]:
    scores = pair_scores(vectors, vectors, pairs["a"], pairs["b"])
    scores[~(found[pairs["a"]] & found[pairs["b"]])] = -1.0
    kfold = kfold_accuracy(scores, pairs["same"], pairs["fold"])
    return {
        "accuracy_mean": kfold.mean,
        "accuracy_std": kfold.std,
        "roc_auc": roc_auc(scores, pairs["same"]),
    }


def identification(
    vectors: NDArray[np.float32],
    found: NDArray[np.bool_],
    names: NDArray[Any],
    files: NDArray[Any],
) -> dict[str, float]:
    """Open set over every LFW person, split as :func:`split_identification` does: a
    person with two or more images is enrolled with the first (not at all when it has
    no face), the others are mated probes; people with one image are non-mated probes."""
    by_person: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_person.setdefault(str(name), []).append(i)
    gallery: list[int] = []
    mated: list[int] = []
    nonmated: list[int] = []
    for rows in by_person.values():
        rows = sorted(rows, key=lambda i: str(files[i]))
        if len(rows) == 1:
            nonmated.extend(i for i in rows if found[i])
        elif found[rows[0]]:
            gallery.append(rows[0])
            mated.extend(i for i in rows[1:] if found[i])
    result = open_set_identification(
        vectors[gallery], names[gallery], vectors[mated], names[mated], vectors[nonmated], fpir=0.01
    )
    return {
        "gallery": result.gallery,
        "mated_probes": result.mated,
        "nonmated_probes": result.nonmated,
        "rank1": result.rank1,
        "fnir_at_fpir_1pct": result.fnir,
        "fpir": result.fpir,
        "threshold": result.threshold,
    }


def all_pairs(
    names: NDArray[Any], found: NDArray[np.bool_], rng: np.random.Generator
) -> dict[str, NDArray[np.int64]]:
    """Every mated pair of LFW (both faces found) and as many random non-mated pairs."""
    ma, mb = [], []
    by_person: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        if found[k]:
            by_person.setdefault(str(name), []).append(k)
    for members in by_person.values():
        rows = np.array(members, dtype=np.int64)
        i, j = np.triu_indices(len(rows), k=1)
        ma.append(rows[i])
        mb.append(rows[j])
    mated_a, mated_b = np.concatenate(ma), np.concatenate(mb)
    ok = np.flatnonzero(found)
    na = rng.choice(ok, 2 * len(mated_a))
    nb = rng.choice(ok, 2 * len(mated_a))
    keep = names[na] != names[nb]
    return {
        "mated_a": mated_a,
        "mated_b": mated_b,
        "nonmated_a": na[keep][: len(mated_a)],
        "nonmated_b": nb[keep][: len(mated_a)],
    }


# --- main ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument("--embeddings", type=Path, help="an .npz of LFW embeddings to reuse")
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--key-pairs", type=int, default=20, help="independent key pairs")
    parser.add_argument("--keep", type=int, nargs="*", default=[96, 64, 32])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "docs" / "bench" / "privacy-cancelable.json"
    )
    parser.add_argument("--plot", type=Path, help="write the score histograms as a PNG")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    data = load(args.embeddings) if args.embeddings else embed_lfw(args.lfw, args.embedder)
    vectors = data["vectors"].astype(np.float32)
    found = data["found"].astype(bool)
    names = data["names"].astype(str)
    files = data["files"].astype(str)
    index = {f: i for i, f in enumerate(files)}
    protocol = read_pairs(args.lfw / "pairs.txt", root=args.lfw / "images")
    pairs = {
        "a": np.array([index[p.path_a.name] for p in protocol]),
        "b": np.array([index[p.path_b.name] for p in protocol]),
        "same": np.array([p.same for p in protocol]),
        "fold": np.array([p.fold for p in protocol]),
    }
    master = master_key(rng)
    tenant_a = TemplateKey.derive(master, "tenant-a")
    protected = tenant_a.apply(vectors)
    deviation = np.abs(
        pair_scores(protected, protected, pairs["a"], pairs["b"])
        - pair_scores(vectors, vectors, pairs["a"], pairs["b"])
    )
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "model": str(data["model_id"]),
        "images": len(files),
        "faces": int(found.sum()),
        "transform": "Haar-random rotation per tenant key (faceprint.core.cancelable)",
        "lfw": {
            "plain": lfw_accuracy(vectors, found, pairs),
            "cancelable": lfw_accuracy(protected, found, pairs),
            "max_pair_score_change": float(deviation.max()),
        },
        "identification": {
            "plain": identification(vectors, found, names, files),
            "cancelable": identification(protected, found, names, files),
        },
    }
    # unlinkability: several independent key pairs, two ways of choosing pairs
    every = all_pairs(names, found, rng)
    cases: dict[str, list[dict[str, Any]]] = {
        "cross_tenant": [],
        "cross_master_key": [],
        "same_key": [],
    }
    kept: dict[str, NDArray[np.float64]] = {}
    mated_p = pairs["same"] & found[pairs["a"]] & found[pairs["b"]]
    nonmated_p = ~pairs["same"] & found[pairs["a"]] & found[pairs["b"]]
    for trial in range(args.key_pairs):
        m1, m2 = master_key(rng), master_key(rng)
        keys = {
            "cross_tenant": (
                TemplateKey.derive(m1, f"t{trial}-a"),
                TemplateKey.derive(m1, f"t{trial}-b"),
            ),
            "cross_master_key": (
                TemplateKey.derive(m1, "default"),
                TemplateKey.derive(m2, "default"),
            ),
            "same_key": (TemplateKey.derive(m1, "default"),) * 2,
        }
        for case, (ka, kb) in keys.items():
            ya, yb = ka.apply(vectors), kb.apply(vectors)
            proto = separation(
                pair_scores(ya, yb, pairs["a"][mated_p], pairs["b"][mated_p]),
                pair_scores(ya, yb, pairs["a"][nonmated_p], pairs["b"][nonmated_p]),
            )
            mated_all = pair_scores(ya, yb, every["mated_a"], every["mated_b"])
            nonmated_all = pair_scores(ya, yb, every["nonmated_a"], every["nonmated_b"])
            cases[case].append({"pairs_txt": proto, "all_lfw": separation(mated_all, nonmated_all)})
            if trial == 0:
                kept[f"{case}_mated"] = mated_all
                kept[f"{case}_nonmated"] = nonmated_all
    # the cross-key mated scores against the impostors the system itself sees (one key)
    against_impostors = separation(kept["cross_tenant_mated"], kept["same_key_nonmated"])
    summary: dict[str, Any] = {"cross_tenant_mated_vs_same_key_nonmated": against_impostors}
    for case, trials in cases.items():
        summary[case] = {
            which: {
                "auc_mean": float(np.mean([t[which]["auc"] for t in trials])),
                "auc_min": float(np.min([t[which]["auc"] for t in trials])),
                "auc_max": float(np.max([t[which]["auc"] for t in trials])),
                "d_sys_mean": float(np.mean([t[which]["d_sys"] for t in trials])),
                "mated": trials[0][which]["mated"],
                "nonmated": trials[0][which]["nonmated"],
            }
            for which in ("pairs_txt", "all_lfw")
        }
    report["unlinkability"] = {"key_pairs": args.key_pairs, "summary": summary, "trials": cases}
    # the non-invertible variant: k of d directions
    dim = vectors.shape[1]
    seed = tenant_a.seed
    report["projection"] = {
        str(k): lfw_accuracy(
            normalize_rows(vectors @ keyed_projection(seed, dim, k).T), found, pairs
        )
        for k in args.keep
        if k <= dim
    }
    report["seconds"] = time.perf_counter() - start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot(kept, args.plot, report)
    print(json.dumps({k: report[k] for k in ("lfw", "identification")}, indent=1))
    print(json.dumps(summary, indent=1))
    print(json.dumps(report["projection"], indent=1))


def plot(kept: dict[str, NDArray[np.float64]], path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    bins = np.linspace(-0.5, 1.0, 151)
    summary = report["unlinkability"]["summary"]
    shown = [
        ("same_key_mated", "mated, same key", "tab:green"),
        ("same_key_nonmated", "non-mated, same key", "tab:red"),
        ("cross_tenant_mated", "mated, two tenants' keys", "tab:blue"),
        ("cross_tenant_nonmated", "non-mated, two tenants' keys", "tab:gray"),
    ]
    for key, label, colour in shown:
        ax.hist(
            kept[key], bins=bins, density=True, histtype="step", lw=1.6, label=label, color=colour
        )
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    auc_cross = summary["cross_tenant"]["all_lfw"]["auc_mean"]
    auc_same = summary["same_key"]["all_lfw"]["auc_mean"]
    ax.set_title(
        f"LFW {report['model']}: cancelable templates (every mated pair, "
        f"AUC same key {auc_same:.3f}, across tenants {auc_cross:.3f})",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
