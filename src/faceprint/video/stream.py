"""Running a :class:`~faceprint.video.recognizer.VideoRecognizer` over a video source:
the stride, the decoded-frame count, and the closing ``track_ended`` events."""

from __future__ import annotations

from collections.abc import Iterator

from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.video.recognizer import VideoRecognizer
from faceprint.video.records import FrameResult, VideoOptions
from faceprint.video.sources import Frame, VideoSource

__all__ = ["recognize_video"]


def recognize_video(
    pipeline: FacePipeline,
    gallery: Gallery | None,
    source: VideoSource,
    *,
    options: VideoOptions | None = None,
    recognizer: VideoRecognizer | None = None,
) -> Iterator[FrameResult]:
    """Yield one :class:`FrameResult` per processed frame, then a last one (with no
    tracks) carrying the ``track_ended`` events of tracks still open at the end.

    The stride is the source's own ``fps`` when it has one, else ``options.fps``
    (which is then set on the source); ``VideoOptions(fps=None)`` with an unstrided
    source processes every frame.

    Closing the generator early (``break``, Ctrl-C) also ends the open tracks: pass your
    own ``recognizer`` to read them afterwards with :meth:`VideoRecognizer.finish`.

    Raises:
        faceprint.errors.VideoSourceError: the source cannot be read.
        faceprint.errors.ModelMismatchError: the gallery holds another model's embeddings.
    """
    options = options or VideoOptions()
    if source.fps is None and options.fps is not None:
        source.fps = options.fps
    worker = recognizer or VideoRecognizer(
        pipeline, gallery, options=options, frame_rate=source.info.fps or 25.0
    )
    last: Frame | None = None
    for frame in source:
        worker.stats.frames_decoded = frame.index + 1
        last = frame
        yield worker.process(frame)
    if last is not None:
        ended = worker.finish(last)
        if ended:
            yield FrameResult(frame=last, tracks=(), events=tuple(ended))
