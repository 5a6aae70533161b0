"""A small fault-injecting HTTP proxy for tests (standard library only).

``FaultProxy`` listens on ``127.0.0.1`` (a free port) and forwards every request
(method, path, headers including ``Host`` and ``Authorization``, body) to an
upstream HTTP server, typically a local ``moto_server``.  Faults can be armed at
any time, from any thread, for the next N requests (or forever)::

    with FaultProxy(moto_url) as proxy:
        proxy.fail_next(2, "http_503")      # next 2 requests get a 503
        client = boto3.client("sns", endpoint_url=proxy.url, ...)
        client.create_topic(Name="t")       # succeeds on the 3rd attempt
        assert proxy.requests_seen == 3 and proxy.forwarded == 1

Fault modes (``FaultMode``; plain strings are accepted too):

* ``refuse``: read the request, then reset the connection without a response.
  ``pause_listening()`` / ``resume_listening()`` additionally make *connects*
  fail (the listening socket is closed, then re-bound to the same port).
* ``delay``: wait ``delay`` seconds, then forward.
* ``http_500`` / ``http_503``: answer with that status and an AWS-style XML error.
* ``throttle``: answer 400 with the SNS ``Throttling`` error (retryable in botocore).
* ``drop_mid_response``: forward, then send the status line and headers with a
  ``Content-Length`` larger than the body, part of the body, and close.
* ``hang``: read the request and never answer; the connection is held until the
  client closes it or the proxy stops.
* ``html_503`` / ``text_503`` / ``html_404`` / ``text_404``: that status with an HTML or
  plain-text body,
  as a load balancer or proxy in the way answers.
* ``empty_200`` / ``garbage_200`` / ``no_message_id``: a 200 with an empty body, bytes that
  are not XML, or a well-formed Publish response without a ``MessageId``.

Only loopback addresses are accepted as upstream: these are test helpers.
"""

from __future__ import annotations

import contextlib
import enum
import http.client
import itertools
import select
import socket
import struct
import threading
import time
import types
import urllib.parse
import uuid
from dataclasses import dataclass

__all__ = [
    "FaultMode",
    "FaultProxy",
]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_POLL = 0.05  # seconds: granularity at which blocking loops notice stop()
_MAX_HEADER_BYTES = 64 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",  # recomputed from the body actually sent
    }
)
_proxy_ids = itertools.count(1)


class FaultMode(enum.StrEnum):
    """What the proxy does to a request."""

    REFUSE = "refuse"
    DELAY = "delay"
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    THROTTLE = "throttle"
    DROP_MID_RESPONSE = "drop_mid_response"
    HANG = "hang"
    HTML_503 = "html_503"
    TEXT_503 = "text_503"
    HTML_404 = "html_404"
    TEXT_404 = "text_404"
    EMPTY_200 = "empty_200"
    GARBAGE_200 = "garbage_200"
    NO_MESSAGE_ID = "no_message_id"


# Replies that are not AWS's: (status, reason, content type, body).
_FOREIGN_REPLIES = {
    FaultMode.HTML_503: (
        503,
        "Service Unavailable",
        "text/html",
        b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
    ),
    FaultMode.TEXT_503: (
        503,
        "Service Unavailable",
        "text/plain",
        b"upstream connect error or disconnect/reset before headers",
    ),
    FaultMode.HTML_404: (404, "Not Found", "text/html", b"<html><body>Not Found</body></html>"),
    FaultMode.TEXT_404: (404, "Not Found", "text/plain", b"404 page not found"),
    FaultMode.EMPTY_200: (200, "OK", "text/xml", b""),
    FaultMode.GARBAGE_200: (200, "OK", "text/xml", b"\x00\xff\xfegarbage{<not xml"),
    FaultMode.NO_MESSAGE_ID: (
        200,
        "OK",
        "text/xml",
        b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        b"<PublishResult></PublishResult><ResponseMetadata><RequestId>"
        b"5f1e2d3c-0000-4000-8000-000000000000</RequestId></ResponseMetadata>"
        b"</PublishResponse>",
    ),
}


@dataclass
class _Fault:
    mode: FaultMode
    remaining: int | None  # None: forever
    delay: float


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class _ClientGone(Exception):
    """The client closed the connection, it timed out, or the proxy is stopping."""


class _BadRequest(Exception):
    """The bytes received are not an HTTP/1.x request this proxy understands."""


class _Conn:
    """A client connection with its own buffer; every read is bounded and stop-aware."""

    def __init__(self, sock: socket.socket, stopping: threading.Event, idle_timeout: float):
        self.sock = sock
        self._stopping = stopping
        self._idle_timeout = idle_timeout
        self._buf = bytearray()

    def _fill(self) -> None:
        deadline = time.monotonic() + self._idle_timeout
        while not self._stopping.is_set():
            if time.monotonic() >= deadline:
                raise _ClientGone("idle timeout")
            try:
                readable, _, _ = select.select([self.sock], [], [], _POLL)
                if not readable:
                    continue
                data = self.sock.recv(65536)
            except (OSError, ValueError) as exc:
                raise _ClientGone(str(exc)) from exc
            if not data:
                raise _ClientGone("client closed the connection")
            self._buf += data
            return
        raise _ClientGone("proxy stopping")

    def read_until(self, marker: bytes, limit: int = _MAX_HEADER_BYTES) -> bytes:
        while True:
            idx = self._buf.find(marker)
            if idx >= 0:
                end = idx + len(marker)
                out = bytes(self._buf[:end])
                del self._buf[:end]
                return out
            if len(self._buf) > limit:
                raise _BadRequest("header section too large")
            self._fill()

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_request(self) -> _Request:
        head = self.read_until(b"\r\n\r\n")
        try:
            text = head.decode("iso-8859-1")
            request_line, *header_lines = text[:-4].split("\r\n")
            method, target, version = request_line.split(" ", 2)
        except ValueError as exc:
            raise _BadRequest(f"malformed request line: {head[:80]!r}") from exc
        if not version.startswith("HTTP/1."):
            raise _BadRequest(f"unsupported version {version!r}")
        headers: list[tuple[str, str]] = []
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"malformed header line {line!r}")
            headers.append((name.strip(), value.strip()))
        request = _Request(method, target, version, headers, b"")
        if "chunked" in (request.header("Transfer-Encoding") or "").lower():
            request.body = self._read_chunked()
            # The body is forwarded de-chunked, with a Content-Length.
            request.headers = [
                (k, v)
                for k, v in headers
                if k.lower() not in {"transfer-encoding", "content-length"}
            ]
            request.headers.append(("Content-Length", str(len(request.body))))
        else:
            length = request.header("Content-Length")
            try:
                n = int(length) if length is not None else 0
            except ValueError as exc:
                raise _BadRequest(f"bad Content-Length {length!r}") from exc
            request.body = self.read_exact(n)
        return request

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.read_until(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BadRequest(f"bad chunk size {size_line!r}") from exc
            if size == 0:
                while self.read_until(b"\r\n") != b"\r\n":  # trailers
                    pass
                return bytes(body)
            body += self.read_exact(size)
            self.read_exact(2)

    def wait_until_closed(self) -> None:
        """Hold the connection (reading and discarding) until the client closes it or stop."""
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([self.sock], [], [], _POLL)
                if readable and not self.sock.recv(65536):
                    return
            except (OSError, ValueError):
                return


def _aws_error_xml(error_type: str, code: str, message: str) -> bytes:
    request_id = str(uuid.uuid4())
    return (
        f'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>{error_type}</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def _canned_response(mode: FaultMode) -> tuple[int, str, bytes]:
    if mode is FaultMode.HTTP_500:
        body = _aws_error_xml(
            "Receiver", "InternalFailure", "Injected fault: internal failure (FaultProxy)"
        )
        return 500, "Internal Server Error", body
    if mode is FaultMode.HTTP_503:
        body = _aws_error_xml(
            "Receiver", "ServiceUnavailable", "Injected fault: service unavailable (FaultProxy)"
        )
        return 503, "Service Unavailable", body
    if mode is FaultMode.THROTTLE:
        return 400, "Bad Request", _aws_error_xml("Sender", "Throttling", "Rate exceeded")
    raise ValueError(f"no canned response for {mode}")


def _status_head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")


class FaultProxy:
    """Fault-injecting HTTP/1.1 forward-to-one-upstream proxy bound to 127.0.0.1.

    Parameters:
        upstream: base URL of the upstream server, e.g. ``"http://127.0.0.1:5000"``
            (loopback only).
        delay: default wait for ``delay`` faults, in seconds.
        upstream_timeout: connect/read timeout towards upstream, in seconds.
        idle_timeout: how long an idle (keep-alive) client connection is kept.
        drop_fraction: for ``drop_mid_response``, the fraction of the body sent
            before the connection is closed.
    """

    def __init__(
        self,
        upstream: str,
        *,
        delay: float = 1.0,
        upstream_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        drop_fraction: float = 0.5,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        if parsed.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(f"upstream must be a loopback address, got {parsed.hostname!r}")
        self.upstream = upstream.rstrip("/")
        self._upstream_host = parsed.hostname
        self._upstream_port = parsed.port or 80
        self.delay = delay
        self.upstream_timeout = upstream_timeout
        self.idle_timeout = idle_timeout
        self.drop_fraction = drop_fraction

        self._name = f"FaultProxy-{next(_proxy_ids)}"
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._requests_seen = 0
        self._forwarded = 0
        self._faults_injected = 0

        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._want_listening = True
        self._listen_changed = threading.Event()
        self._listen_state_ack = threading.Event()
        self._listen_error: OSError | None = None
        self._port: int | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FaultProxy is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid once started)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        if self._accept_thread is not None:
            raise RuntimeError("FaultProxy already started")
        self._listener = self._bind(0)
        self._port = self._listener.getsockname()[1]
        self._stopping.clear()
        self._want_listening = True
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{self._name}-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, release every held connection and join all threads."""
        if self._accept_thread is None:
            return
        self._stopping.set()
        self._listen_changed.set()
        self._drop_connections()
        deadline = time.monotonic() + timeout
        self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
        self._accept_thread = None
        if self._listener is not None:  # only if the accept thread failed to close it
            self._listener.close()
            self._listener = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def name(self) -> str:
        """Prefix of this proxy's thread names."""
        return self._name

    @property
    def threads(self) -> list[threading.Thread]:
        """The proxy's live threads (for leak assertions)."""
        with self._lock:
            threads = [t for t in self._threads if t.is_alive()]
        if self._accept_thread is not None and self._accept_thread.is_alive():
            threads.append(self._accept_thread)
        return threads

    # ------------------------------------------------------------ fault control

    def set_fault(
        self, mode: FaultMode | str, count: int | None = None, *, delay: float | None = None
    ) -> None:
        """Replace any armed faults: apply ``mode`` to the next ``count`` requests
        (``None``: to every request until ``clear_faults()``)."""
        fault = self._make_fault(mode, count, delay)
        with self._lock:
            self._faults = [fault]

    def fail_next(self, n: int, mode: FaultMode | str, *, delay: float | None = None) -> None:
        """Queue ``mode`` for the next ``n`` requests, after any faults already queued."""
        fault = self._make_fault(mode, n, delay)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def _make_fault(self, mode: FaultMode | str, count: int | None, delay: float | None) -> _Fault:
        fmode = FaultMode(mode)
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 or None")
        if delay is not None and delay < 0:
            raise ValueError("delay must be >= 0")
        return _Fault(fmode, count, self.delay if delay is None else delay)

    @property
    def pending_faults(self) -> int | None:
        """How many requests will still be faulted (``None``: unbounded)."""
        with self._lock:
            total = 0
            for fault in self._faults:
                if fault.remaining is None:
                    return None
                total += fault.remaining
            return total

    def _take_fault(self) -> _Fault | None:
        """Count a request and consume one use of the first armed fault, if any."""
        with self._lock:
            self._requests_seen += 1
            while self._faults and self._faults[0].remaining == 0:
                self._faults.pop(0)
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.pop(0)
            self._faults_injected += 1
            return _Fault(fault.mode, 1, fault.delay)

    # ----------------------------------------------------------------- counters

    @property
    def requests_seen(self) -> int:
        """Requests fully received from clients (faulted or not)."""
        with self._lock:
            return self._requests_seen

    @property
    def forwarded(self) -> int:
        """Requests whose upstream exchange completed (including drop_mid_response)."""
        with self._lock:
            return self._forwarded

    @property
    def faults_injected(self) -> int:
        with self._lock:
            return self._faults_injected

    def reset_counters(self) -> None:
        with self._lock:
            self._requests_seen = self._forwarded = self._faults_injected = 0

    # ---------------------------------------------------------------- listening

    def pause_listening(self, *, close_connections: bool = True, timeout: float = 5.0) -> None:
        """Close the listening socket so new connects are refused.

        With ``close_connections`` (the default) established client connections are
        closed too, so a client's pooled keep-alive connection cannot bypass the
        outage: its next request has to connect, and is refused.
        """
        self._change_listening(want=False, timeout=timeout)
        if close_connections:
            self._drop_connections()

    def resume_listening(self, timeout: float = 5.0) -> None:
        """Re-bind the same port and accept connections again."""
        self._change_listening(want=True, timeout=timeout)

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def _change_listening(self, *, want: bool, timeout: float) -> None:
        if self._accept_thread is None:
            raise RuntimeError("FaultProxy is not started")
        self._listen_state_ack.clear()
        self._want_listening = want
        self._listen_changed.set()
        if not self._listen_state_ack.wait(timeout):
            raise TimeoutError("accept thread did not acknowledge the listening change")
        if self._listen_error is not None:
            error, self._listen_error = self._listen_error, None
            raise error

    @staticmethod
    def _bind(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        return sock

    def _accept_loop(self) -> None:
        """Owns the listening socket: accepts, and applies pause/resume requests."""
        try:
            while not self._stopping.is_set():
                if self._listen_changed.is_set():
                    self._listen_changed.clear()
                    self._apply_listening_state()
                listener = self._listener
                if listener is None:
                    self._listen_changed.wait(_POLL)
                    continue
                readable, _, _ = select.select([listener], [], [], _POLL)
                if not readable:
                    continue
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                self._spawn(conn)
        finally:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            self._listen_state_ack.set()

    def _apply_listening_state(self) -> None:
        try:
            if self._want_listening and self._listener is None:
                self._listener = self._bind(self.port)
            elif not self._want_listening and self._listener is not None:
                self._listener.close()
                self._listener = None
        except OSError as exc:
            self._listen_error = exc
        self._listen_state_ack.set()

    # -------------------------------------------------------------- connections

    def _spawn(self, conn: socket.socket) -> None:
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                return
            self._conns.add(conn)
            self._threads = {t for t in self._threads if t.is_alive()}
            thread = threading.Thread(
                target=self._serve_connection,
                args=(conn,),
                name=f"{self._name}-conn",
                daemon=True,
            )
            self._threads.add(thread)
        thread.start()

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _serve_connection(self, sock: socket.socket) -> None:
        conn = _Conn(sock, self._stopping, self.idle_timeout)
        try:
            while not self._stopping.is_set():
                try:
                    request = conn.read_request()
                except _ClientGone:
                    return
                except _BadRequest as exc:
                    self._send_simple(sock, 400, "Bad Request", str(exc).encode())
                    return
                if not self._handle(conn, request):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _handle(self, conn: _Conn, request: _Request) -> bool:  # noqa: PLR0911
        """Serve one request; return whether the connection may be reused."""
        fault = self._take_fault()
        if fault is None:
            return self._proxy(conn.sock, request, drop=False)
        mode = fault.mode
        if mode is FaultMode.REFUSE:
            # Linger 0: close with RST, the client sees "connection reset by peer".
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if mode is FaultMode.HANG:
            conn.wait_until_closed()
            return False
        if mode is FaultMode.DELAY and self._stopping.wait(fault.delay):
            return False
        if mode in _FOREIGN_REPLIES:
            status, reason, content_type, body = _FOREIGN_REPLIES[mode]
            self._send_simple(
                conn.sock, status, reason, body, keep_alive=False, content_type=content_type
            )
            return False
        if mode in (FaultMode.HTTP_500, FaultMode.HTTP_503, FaultMode.THROTTLE):
            status, reason, body = _canned_response(mode)
            self._send_simple(conn.sock, status, reason, body, keep_alive=request.keep_alive)
            return request.keep_alive
        return self._proxy(conn.sock, request, drop=mode is FaultMode.DROP_MID_RESPONSE)

    def _proxy(self, sock: socket.socket, request: _Request, *, drop: bool) -> bool:
        """Forward to upstream and relay the response (truncated if ``drop``)."""
        try:
            status, reason, headers, body = self._forward(request)
        except (OSError, http.client.HTTPException) as exc:
            self._send_simple(sock, 502, "Bad Gateway", f"upstream error: {exc}".encode())
            return False
        with self._lock:
            self._forwarded += 1

        if drop:
            sent = int(len(body) * self.drop_fraction)
            claimed = max(len(body), sent + 1) + 1024
            head = _status_head(status, reason, [*headers, ("Content-Length", str(claimed))])
            with contextlib.suppress(OSError):
                sock.sendall(head + body[:sent])
            return False

        keep_alive = request.keep_alive
        out_headers = [
            *headers,
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
        sock.sendall(_status_head(status, reason, out_headers) + body)
        return keep_alive

    def _forward(self, request: _Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=self.upstream_timeout
        )
        try:
            upstream.putrequest(
                request.method, request.target, skip_host=True, skip_accept_encoding=True
            )
            for name, value in request.headers:
                upstream.putheader(name, value)
            upstream.endheaders(request.body or None)
            response = upstream.getresponse()
            body = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, response.reason, headers, body
        finally:
            upstream.close()

    @staticmethod
    def _send_simple(
        sock: socket.socket,
        status: int,
        reason: str,
        body: bytes,
        *,
        keep_alive: bool = False,
        content_type: str = "text/xml",
    ) -> None:
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]
        with contextlib.suppress(OSError):
            sock.sendall(_status_head(status, reason, headers) + body)
