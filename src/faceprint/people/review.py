"""A person's decisions about clusters: name, merge, split, remove a face.

Every decision marks the clusters it touches *reviewed*: their members are pinned and
survive re-clustering, and new photos join them when they match (see
:mod:`faceprint.people.assign`). Each call is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from faceprint.errors import UnknownClusterError, UsageError
from faceprint.people.store import PeopleStore


def _clean(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise UsageError("a person's name must be 1–200 printable characters")
    return name


def name_cluster(store: PeopleStore, cluster_id: int, person: str) -> int:
    """Name a cluster. If another cluster already has that name the two are merged
    (into the older one). Returns the id of the named cluster."""
    person = _clean(person)
    store.require_cluster(cluster_id)
    existing = store.cluster_named(person)
    if existing is not None and existing != cluster_id:
        return merge_clusters(store, [existing, cluster_id], name=person)
    with store.transaction():
        store.set_cluster(cluster_id, name=person, reviewed=True)
        store.pin(cluster_id)
    return cluster_id


def unname_cluster(store: PeopleStore, cluster_id: int) -> None:
    """Forget a cluster's name and review: its faces are clustered freely again."""
    store.require_cluster(cluster_id)
    with store.transaction():
        store.set_cluster(cluster_id, name=None, reviewed=False)
        store.move(store.members_of(cluster_id), cluster_id, "auto")


def merge_clusters(
    store: PeopleStore, cluster_ids: Sequence[int], *, name: str | None = None
) -> int:
    """Merge clusters into the first one named in ``cluster_ids`` (or the first); the
    merged cluster keeps their name, or takes ``name`` when given.

    Raises:
        UsageError: fewer than two distinct clusters, or two different names.
        UnknownClusterError: a cluster does not exist.
    """
    ids = list(dict.fromkeys(cluster_ids))
    if len(ids) < 2:
        raise UsageError("merge needs two or more different clusters")
    info = {c: store.require_cluster(c) for c in ids}
    names = {n for n, _ in info.values() if n is not None}
    if name is not None:
        names = {_clean(name)}
    if len(names) > 1:
        raise UsageError(
            f"clusters {', '.join(map(str, ids))} have different names "
            f"({', '.join(sorted(names))}); rename one first"
        )
    target = next((c for c in ids if info[c][0] is not None), ids[0])
    with store.transaction():
        for other in ids:
            if other == target:
                continue
            store.move(store.members_of(other), target, "pinned")
            store.move_exclusions(other, target)
            store.drop_cluster(other)
        store.set_cluster(target, name=next(iter(names), None), reviewed=True)
        store.pin(target)
    return target


def split_faces(store: PeopleStore, cluster_id: int, face_ids: Sequence[int]) -> int:
    """Move ``face_ids`` out of a cluster into a new reviewed cluster of their own.
    Returns the new cluster's id."""
    _check_members(store, cluster_id, face_ids)
    with store.transaction():
        new = store.next_cluster_id()
        store.set_cluster(new, name=None, reviewed=True)
        store.move(face_ids, new, "pinned")
        store.exclude(face_ids, cluster_id)
        name, _ = store.require_cluster(cluster_id)
        store.set_cluster(cluster_id, name=name, reviewed=True)
        store.pin(cluster_id)
    return new


def remove_faces(store: PeopleStore, cluster_id: int, face_ids: Sequence[int]) -> None:
    """Take ``face_ids`` out of a cluster for good: they are clustered again but never
    put back into this one."""
    _check_members(store, cluster_id, face_ids)
    with store.transaction():
        new = store.next_cluster_id()
        for offset, face in enumerate(face_ids):
            store.move([face], new + offset, "auto")
            store.set_cluster(new + offset, name=None, reviewed=False)
        store.exclude(face_ids, cluster_id)
        name, _ = store.require_cluster(cluster_id)
        store.set_cluster(cluster_id, name=name, reviewed=True)
        store.pin(cluster_id)


def _check_members(store: PeopleStore, cluster_id: int, face_ids: Sequence[int]) -> None:
    store.require_cluster(cluster_id)
    if not face_ids:
        raise UsageError("name one or more face ids")
    members = set(store.members_of(cluster_id))
    outside = [f for f in face_ids if f not in members]
    if outside:
        raise UnknownClusterError(
            f"face(s) {', '.join(map(str, outside))} are not in cluster {cluster_id}"
        )
    if len(set(face_ids)) == len(members):
        raise UsageError(f"that is every face of cluster {cluster_id}; nothing would remain")
