"""A loopback TCP proxy that cuts HTTP traffic after a fixed number of requests.

Faults are injected by counting requests, never by timing, so a test that uses it fails the
same way on a fast and a slow machine: requests 1..cut_at-1 pass untouched; from request number
`cut_at` on, each request has its head and only half of its body forwarded before both sides of
its connection are closed (the server sees a truncated upload, the client a dropped
connection), and connections opened after the first cut are closed at once, so retries fail
too. `cut_at=None` forwards everything.
"""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"
CHUNK = 64 * 1024


class _Reader:
    """Buffered reads of an HTTP request stream from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(CHUNK)
        self.buffer += data
        return bool(data)

    def until(self, marker: bytes) -> bytes | None:
        """Bytes up to and including `marker`; None if the peer closed first."""
        while marker not in self.buffer:
            if not self._fill():
                return None
        end = self.buffer.index(marker) + len(marker)
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        return head

    def exactly(self, size: int):
        """Yield the next `size` bytes in chunks."""
        while size > 0:
            if not self.buffer and not self._fill():
                raise ConnectionError("peer closed inside a request body")
            piece, self.buffer = self.buffer[:size], self.buffer[size:]
            size -= len(piece)
            yield piece


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().lower()
    return None


class CuttingProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<upstream_port>, cutting request `cut_at`."""

    def __init__(
        self, upstream_port: int, cut_at: int | None = None, method: bytes | None = None
    ) -> None:
        self.upstream_port = upstream_port
        self.cut_at = cut_at
        self.method = method  # count only requests with this method (None: all)
        self.counted = 0  # counted requests passed through complete
        self.forwarded = 0  # requests passed through complete
        self.cut = False
        self.refused = 0  # connections closed at once after the cut
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed by stop()
            with self._lock:
                refuse = self.cut
                self.refused += refuse
            if refuse:
                _close(client)
                continue
            self._spawn(self._serve, self._track(client))

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self._track(socket.create_connection((HOST, self.upstream_port), 10))
        except OSError:
            _close(client)
            return
        self._spawn(_pipe, upstream, client)
        reader = _Reader(client)
        try:
            while (head := reader.until(b"\r\n\r\n")) is not None:
                counts = self.method is None or head.startswith(self.method + b" ")
                with self._lock:
                    cutting = self.cut or (
                        self.cut_at is not None and counts and self.counted + 1 >= self.cut_at
                    )
                    self.cut = cutting
                if cutting:
                    self._forward_half(head, reader, upstream)
                    return
                upstream.sendall(head)
                for piece in _body(head, reader):
                    upstream.sendall(piece)
                with self._lock:
                    self.forwarded += 1
                    self.counted += counts
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            if self.cut:
                _close(client)
                _close(upstream)

    @staticmethod
    def _forward_half(head: bytes, reader: _Reader, upstream: socket.socket) -> None:
        """Send the head and half of a Content-Length body, so the upload is truncated."""
        upstream.sendall(head)
        length = int(_header(head, b"content-length") or 0)
        for piece in reader.exactly(length // 2):
            upstream.sendall(piece)


def _body(head: bytes, reader: _Reader):
    """The request body's bytes as they arrive (Content-Length or chunked framing)."""
    if _header(head, b"transfer-encoding") != b"chunked":
        yield from reader.exactly(int(_header(head, b"content-length") or 0))
        return
    while True:
        size_line = _line(reader)
        yield size_line
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        yield from reader.exactly(size + 2)  # chunk data and its CRLF
    while (line := _line(reader)) != b"\r\n":  # optional trailers up to the empty line
        yield line
    yield line


def _line(reader: _Reader) -> bytes:
    line = reader.until(b"\r\n")
    if line is None:
        raise ConnectionError("peer closed inside a chunked body")
    return line


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy server responses back to the client until either side closes."""
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
