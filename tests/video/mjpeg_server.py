"""A local MJPEG-over-HTTP stream for tests: serves JPEG frames on 127.0.0.1 and can
drop the connection mid-stream (a camera or network failure)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

BOUNDARY = "faceprintframe"


def jpeg_frames(path: str, *, every: int = 1, limit: int | None = None) -> list[bytes]:
    """JPEG bytes of the frames of a video file (every ``every``-th, at most ``limit``)."""
    import av

    out: list[bytes] = []
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every:
                continue
            buf = io.BytesIO()
            Image.fromarray(np.asarray(frame.to_ndarray(format="rgb24"))).save(
                buf, format="JPEG", quality=90
            )
            out.append(buf.getvalue())
            if limit is not None and len(out) >= limit:
                break
    return out


class MJPEGServer:
    """Serve ``frames`` at ``fps`` on ``/stream.mjpg``.

    Connection ``n`` (0-based) sends ``cuts[n]`` frames and then drops the socket
    without a closing boundary; connections beyond ``cuts`` send the remaining frames
    and close normally. ``connections`` counts the clients served.
    """

    def __init__(self, frames: Sequence[bytes], *, fps: float = 30.0, cuts: Sequence[int] = ()):
        self.frames = list(frames)
        self.fps = fps
        self.cuts = list(cuts)
        self.connections = 0
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                if self.path != "/stream.mjpg":
                    self.send_error(404)
                    return
                n = server.connections
                server.connections += 1
                start = server.sent
                stop = start + server.cuts[n] if n < len(server.cuts) else len(server.frames)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    for data in server.frames[start:stop]:
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(data)}\r\n\r\n".encode()
                            + data
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        server.sent += 1
                        time.sleep(1.0 / server.fps)
                    if n >= len(server.cuts):
                        self.wfile.write(f"--{BOUNDARY}--\r\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    return
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/stream.mjpg"

    def __enter__(self) -> MJPEGServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
