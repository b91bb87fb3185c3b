"""The gallery: enrolled faces (SQLite) and exact cosine search. Sees only embeddings.

Archives (:mod:`faceprint.gallery.archive`: ``export_gallery``, ``import_gallery``) move
a gallery between files and machines; they are imported from there (or from
``faceprint``), so opening a gallery does not load the archive code.
"""

from faceprint.gallery.gallery import Gallery
from faceprint.gallery.records import CollectionInfo, FaceInfo, FaceRecord, PersonInfo

__all__ = ["CollectionInfo", "FaceInfo", "FaceRecord", "Gallery", "PersonInfo"]
