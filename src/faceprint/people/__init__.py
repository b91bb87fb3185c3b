"""People in unlabelled photos: cluster faces, review and name clusters, enroll them.

``cluster_photos`` embeds the new photos of a folder (incrementally, by sha256),
clusters every face at a threshold derived from the model's calibration, and writes
``clusters.json`` and contact sheets; the review functions name, merge, split and
remove; ``enroll_clusters`` adds named clusters to a gallery. State lives in one SQLite
file per output folder (:mod:`faceprint.people.store`).
"""

from faceprint.people.assign import Reclustering, recluster
from faceprint.people.enroll import EnrolledCluster, enroll_clusters
from faceprint.people.ingest import Ingested, ingest
from faceprint.people.review import (
    merge_clusters,
    name_cluster,
    remove_faces,
    split_faces,
    unname_cluster,
)
from faceprint.people.run import ClusterRun, Outputs, cluster_photos, open_folder, write_outputs
from faceprint.people.store import PeopleStore
from faceprint.people.views import Cluster, ClusterMember, list_clusters

__all__ = [
    "Cluster",
    "ClusterMember",
    "ClusterRun",
    "EnrolledCluster",
    "Ingested",
    "Outputs",
    "PeopleStore",
    "Reclustering",
    "cluster_photos",
    "enroll_clusters",
    "ingest",
    "list_clusters",
    "merge_clusters",
    "name_cluster",
    "open_folder",
    "recluster",
    "remove_faces",
    "split_faces",
    "unname_cluster",
    "write_outputs",
]
