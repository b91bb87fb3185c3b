"""One exception tree for faceprint.

Every error raised on purpose by the library derives from :class:`FaceprintError`
and also from the builtin that fits (``ValueError``, ``LookupError`` …) so callers
can catch either. Each class carries a short stable ``code`` that adapters use
(the CLI maps classes to exit codes, the service to HTTP statuses). Messages say
what went wrong *and* what to do next.
"""

from __future__ import annotations


class FaceprintError(Exception):
    """Root of every error faceprint raises on purpose."""

    code: str = "faceprint_error"


# --- configuration -----------------------------------------------------------------


class ConfigError(FaceprintError, ValueError):
    """A setting is missing, malformed or contradicts another one."""

    code = "config_error"


class UsageError(FaceprintError, ValueError):
    """A call or command line that cannot work as given (wrong arguments, wrong layout of
    the inputs); nothing was done. The CLI exits with 2 (usage)."""

    code = "usage_error"


class LayoutError(UsageError):
    """Input files are not laid out as the operation expects (e.g. an enrollment tree
    that is not ``DIR/<person>/<images>``); the message shows the expected layout."""

    code = "bad_layout"


class MissingDependencyError(ConfigError, ImportError):
    """An optional dependency the call needs is not installed; the message names the
    ``pip install 'faceprint[extra]'`` that brings it."""

    code = "missing_dependency"


class ClusterUnavailableError(ConfigError, ConnectionError):
    """A compute cluster (e.g. Ray, for distributed enrollment) cannot be reached or
    started at the given address; the message says how to start or point to one."""

    code = "cluster_unavailable"


# --- images ------------------------------------------------------------------------


class ImageError(FaceprintError, ValueError):
    """The input could not be turned into an RGB image."""

    code = "invalid_image"


class ImageNotFoundError(ImageError, FileNotFoundError):
    """The path does not exist or is not a readable file."""

    code = "image_not_found"


class EmptyImageError(ImageError):
    """The file or byte string is empty."""

    code = "empty_image"


class CorruptImageError(ImageError):
    """The bytes look like an image but cannot be decoded (truncated, damaged)."""

    code = "corrupt_image"


class UnsupportedImageError(ImageError):
    """The bytes are not an image format faceprint reads (e.g. a text file)."""

    code = "unsupported_image"


class ImageTooLargeError(ImageError):
    """The image has more pixels (or bytes) than the configured limit; refused before decoding."""

    code = "image_too_large"


class ImageTooSmallError(ImageError):
    """The image is too small to contain a face."""

    code = "image_too_small"


# --- faces -------------------------------------------------------------------------


class NoFaceError(FaceprintError, LookupError):
    """No face was found where one was required."""

    code = "no_face"


class MultipleFacesError(FaceprintError, ValueError):
    """Several faces were found where exactly one was required."""

    code = "multiple_faces"


# --- models ------------------------------------------------------------------------


class ModelError(FaceprintError):
    """Base class for model catalog, store and runtime errors."""

    code = "model_error"


class UnknownModelError(ModelError, LookupError):
    """The catalog has no model of that name."""

    code = "unknown_model"


class ModelNotAvailableError(ModelError, FileNotFoundError):
    """The model is not in the cache and could not be fetched (offline, no mirror, …)."""

    code = "model_not_available"


class ChecksumMismatchError(ModelError, ValueError):
    """A model file's sha256 differs from the catalog; the file was not used."""

    code = "checksum_mismatch"


class LicenceNotAcceptedError(ModelError, PermissionError):
    """A model with a restrictive licence was requested without the explicit opt-in."""

    code = "licence_not_accepted"


class ModelRuntimeError(ModelError, RuntimeError):
    """An inference runtime failed to load or run a model."""

    code = "model_runtime_error"


# --- keys and encryption -------------------------------------------------------------


class KeyUnavailableError(ConfigError):
    """No key was given, or its source (a file, an environment variable, a command)
    cannot be read or does not hold a key; nothing was decrypted or written."""

    code = "key_unavailable"


class WrongKeyError(FaceprintError, PermissionError):
    """A key that does not open this data (authentication failed): never garbage, nothing
    decrypted. The message names the key id the data expects."""

    code = "wrong_key"


# --- people (photo clustering) ------------------------------------------------------


class PeopleError(FaceprintError):
    """Base class for errors of a clustering folder (``faceprint cluster``)."""

    code = "people_error"


class UnknownClusterError(PeopleError, LookupError):
    """A cluster or face id named in a review command does not exist."""

    code = "unknown_cluster"


class PeopleStoreError(PeopleError, RuntimeError):
    """The clustering folder's database is not a faceprint one, is damaged, or was made
    with another embedding model."""

    code = "people_store_error"


# --- gallery -----------------------------------------------------------------------


class GalleryError(FaceprintError):
    """Base class for gallery errors."""

    code = "gallery_error"


class ModelMismatchError(GalleryError, ValueError):
    """An embedding from one model was used with a gallery pinned to another model."""

    code = "model_mismatch"


class NotFoundError(GalleryError, LookupError):
    """A collection, person or face does not exist in the gallery."""

    code = "not_found"


class AlreadyExistsError(GalleryError, ValueError):
    """A collection or person with that name already exists."""

    code = "already_exists"


class GalleryCorruptError(GalleryError, RuntimeError):
    """The gallery file is not a faceprint gallery or is damaged."""

    code = "gallery_corrupt"


# --- evaluation --------------------------------------------------------------------


class DatasetError(FaceprintError, ValueError):
    """An evaluation dataset (pairs file, folder tree) is malformed or incomplete."""

    code = "dataset_error"


class AuditError(FaceprintError, RuntimeError):
    """A security audit could not run: the attacked service is unreachable or answered
    something no faceprint service answers."""

    code = "audit_error"


class CalibrationError(FaceprintError, ValueError):
    """A requested error rate is outside what the stored calibration supports."""

    code = "calibration_error"


# --- video ---------------------------------------------------------------------------


class VideoError(FaceprintError):
    """Base class for video and stream errors."""

    code = "video_error"


class VideoSourceError(VideoError, OSError):
    """A video file or stream cannot be opened or read (and reconnecting gave up)."""

    code = "video_source_error"
