"""Contact sheets: one PNG per cluster, its faces in a grid, the representative first.

Sheets are drawn from the thumbnails kept in the store (the photos need not be at
hand) and only for clusters whose members changed since the sheet was drawn: the
sheet's name carries no state, a small manifest (``sheets/manifest.json``) records each
sheet's member digest.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from faceprint.people.ingest import THUMB_SIDE
from faceprint.people.store import PeopleStore
from faceprint.people.views import Cluster

COLUMNS = 8
MAX_FACES = 64
_HEADER = 28
_PAD = 4
_REP = (240, 180, 40)
_LOW = (200, 60, 60)


def sheet_name(cluster: Cluster) -> str:
    return f"cluster-{cluster.id:05d}.png"


def draw_sheet(store: PeopleStore, cluster: Cluster) -> Image.Image:
    """The contact sheet of one cluster (at most :data:`MAX_FACES` faces)."""
    members = sorted(cluster.members, key=lambda m: m.face_id != cluster.representative)
    shown = members[:MAX_FACES]
    cols = min(COLUMNS, len(shown))
    rows = (len(shown) + cols - 1) // cols
    cell = THUMB_SIDE + _PAD
    sheet = Image.new("RGB", (cols * cell + _PAD, _HEADER + rows * cell + _PAD), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    title = f"#{cluster.id}  {cluster.name or 'unnamed'}  ·  {cluster.size} face(s)"
    if len(members) > len(shown):
        title += f"  (first {len(shown)})"
    draw.text((_PAD, 8), title, fill=(235, 235, 235))
    for i, member in enumerate(shown):
        x = _PAD + (i % cols) * cell
        y = _HEADER + (i // cols) * cell
        data = store.thumb(member.face_id)
        if data is not None:
            sheet.paste(Image.open(io.BytesIO(data)).convert("RGB"), (x, y))
        if member.face_id == cluster.representative:
            draw.rectangle((x, y, x + THUMB_SIDE - 1, y + THUMB_SIDE - 1), outline=_REP, width=3)
        elif member.reasons:
            draw.rectangle((x, y, x + THUMB_SIDE - 1, y + THUMB_SIDE - 1), outline=_LOW, width=2)
    return sheet


def write_sheets(
    store: PeopleStore, clusters: Sequence[Cluster], folder: Path, *, singletons: bool = False
) -> int:
    """Draw the sheets of ``clusters`` that changed into ``folder``; remove sheets of
    clusters that no longer exist. Returns the number drawn.

    Singletons get no sheet unless asked (their thumbnail is in the JSON and the page).
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    wanted: dict[str, str] = {}
    drawn = 0
    for cluster in clusters:
        if cluster.singleton and not singletons and cluster.name is None:
            continue
        name = sheet_name(cluster)
        key = f"{cluster.name}|{cluster.representative}|" + ",".join(
            str(m.face_id) for m in cluster.members
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        wanted[name] = digest
        if manifest.get(name) != digest or not (folder / name).exists():
            draw_sheet(store, cluster).save(folder / name, format="PNG")
            drawn += 1
    for stale in set(manifest) - set(wanted):
        (folder / stale).unlink(missing_ok=True)
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(wanted, indent=0, sort_keys=True))
    tmp.replace(manifest_path)
    return drawn
