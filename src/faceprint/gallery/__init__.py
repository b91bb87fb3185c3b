"""The gallery: enrolled faces (SQLite) and exact cosine search. Sees only embeddings."""

from faceprint.gallery.gallery import Gallery
from faceprint.gallery.records import CollectionInfo, FaceInfo, FaceRecord, PersonInfo

__all__ = ["CollectionInfo", "FaceInfo", "FaceRecord", "Gallery", "PersonInfo"]
