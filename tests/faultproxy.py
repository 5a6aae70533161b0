"""A fault-injecting HTTP proxy between update-job and moto, for the tests (standard library).

``FaultProxy`` listens on a free loopback port and forwards each request unchanged (method,
path, headers including ``Host`` and ``Authorization``, body) to a loopback upstream. A fault
is armed for the next N requests, or for every request until cleared::

    with FaultProxy(moto_url) as proxy:
        proxy.fail_next(2, FaultMode.HTTP_503)  # the next 2 requests get a 503
        ...  # update-job --endpoint-url proxy.url ...
        assert proxy.requests_seen == 3 and proxy.forwarded == 1

``pause_listening()`` closes the listening socket (connects are refused) and
``resume_listening()`` binds the same port again: an endpoint that is down, then back.
"""

from __future__ import annotations

import contextlib
import enum
import http.client
import http.server
import select
import socket
import struct
import threading
import types
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["FaultMode", "FaultProxy"]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_POLL = 0.05  # seconds: how often blocking loops look at stop() and pause_listening()
# Response headers the proxy sets itself (the body is relayed whole, with its own length).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class FaultMode(enum.StrEnum):
    """What the proxy does to a request."""

    REFUSE = "refuse"  # read it, then reset the connection without an answer
    DELAY = "delay"  # wait, then forward
    HANG = "hang"  # never answer; hold the connection until the client closes it or stop()
    DROP_MID_RESPONSE = "drop_mid_response"  # forward, then cut the answer's body short
    # SNS's own errors (AWS XML bodies): botocore retries all three.
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    THROTTLE = "throttle"
    # Answers from something that is not SNS: a load balancer or proxy in the way.
    HTML_503 = "html_503"
    TEXT_503 = "text_503"
    HTML_404 = "html_404"
    TEXT_404 = "text_404"
    EMPTY_200 = "empty_200"
    GARBAGE_200 = "garbage_200"
    NO_MESSAGE_ID = "no_message_id"  # a well-formed Publish answer without a MessageId


def _aws_error(error_type: str, code: str, message: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>{error_type}</Type><Code>{code}</Code><Message>{message}</Message>"
        f"</Error><RequestId>5f1e2d3c-0000-4000-8000-000000000001</RequestId></ErrorResponse>"
    ).encode()


# The answer of each mode that does not forward: (status, reason, content type, body).
_CANNED: dict[FaultMode, tuple[int, str, str, bytes]] = {
    FaultMode.HTTP_500: (
        500,
        "Internal Server Error",
        "text/xml",
        _aws_error("Receiver", "InternalFailure", "Injected fault: internal failure"),
    ),
    FaultMode.HTTP_503: (
        503,
        "Service Unavailable",
        "text/xml",
        _aws_error("Receiver", "ServiceUnavailable", "Injected fault: service unavailable"),
    ),
    FaultMode.THROTTLE: (
        400,
        "Bad Request",
        "text/xml",
        _aws_error("Sender", "Throttling", "Rate exceeded"),
    ),
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
    remaining: int | None  # None: until clear_faults()
    delay: float


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves one client connection (keep-alive: request after request) for the proxy."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this many seconds

    def __init__(self, sock: socket.socket, address: Any, proxy: FaultProxy) -> None:
        self.proxy = proxy
        # No socketserver: the proxy runs its own accept loop (to pause and resume it).
        super().__init__(sock, address, None)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.proxy._handling():
            self._serve(body)

    do_GET = do_POST

    def _serve(self, body: bytes) -> None:
        fault = self.proxy._take_fault()
        mode = None if fault is None else fault.mode
        self.close_connection = True  # every fault ends the connection; forwarding keeps it
        if mode is FaultMode.REFUSE:
            # Linger 0: closing sends RST, the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode is FaultMode.HANG:
            self.proxy._hold(self.connection)
        elif mode in _CANNED:
            status, reason, content_type, answer = _CANNED[mode]
            headers = [("Content-Type", content_type), ("Content-Length", str(len(answer)))]
            self.wfile.write(_head(status, reason, [*headers, ("Connection", "close")]) + answer)
        elif (
            fault is not None and mode is FaultMode.DELAY and self.proxy._stopping.wait(fault.delay)
        ):
            pass  # stopped while delaying: nothing forwarded
        else:
            self._forward(body, drop=mode is FaultMode.DROP_MID_RESPONSE)

    def _forward(self, body: bytes, *, drop: bool) -> None:
        try:
            status, reason, headers, answer = self.proxy._exchange(
                self.command, self.path, self.headers.items(), body
            )
        except (OSError, http.client.HTTPException) as exc:
            error = f"upstream error: {exc}".encode()
            self.wfile.write(
                _head(502, "Bad Gateway", [("Content-Length", str(len(error)))]) + error
            )
            return
        if drop:  # claim more than is sent, send half, and close
            claimed = [("Content-Length", str(len(answer) + 1024))]
            self.wfile.write(_head(status, reason, headers + claimed) + answer[: len(answer) // 2])
            return
        self.close_connection = "close" in (self.headers.get("Connection") or "").lower()
        headers += [("Content-Length", str(len(answer)))]
        headers += [("Connection", "close" if self.close_connection else "keep-alive")]
        self.wfile.write(_head(status, reason, headers) + answer)


class FaultProxy:
    """Fault-injecting HTTP/1.1 proxy on ``127.0.0.1`` in front of one loopback upstream."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or parsed.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(f"upstream must be an http:// loopback URL, got {upstream!r}")
        self._upstream = (parsed.hostname, parsed.port or 80)
        self.port = 0
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._requests_seen = 0
        self._forwarded = 0
        self._busy = 0
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("FaultProxy is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._listen(0)
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection (held ones too) and join all threads."""
        self._stopping.set()
        self._close_listener()
        self._drop_connections()
        for thread in self._threads:
            thread.join(5)

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
    def threads(self) -> list[threading.Thread]:
        """The proxy's live threads (for leak checks)."""
        every = [*self._threads, *([self._acceptor] if self._acceptor else [])]
        return [thread for thread in every if thread.is_alive()]

    # Faults ------------------------------------------------------------------------------

    def set_fault(
        self, mode: FaultMode | str, count: int | None = None, *, delay: float = 1.0
    ) -> None:
        """Replace any armed faults: ``mode`` for the next ``count`` requests (None: all)."""
        with self._lock:
            self._faults = [_Fault(FaultMode(mode), count, delay)]

    def fail_next(self, n: int, mode: FaultMode | str, *, delay: float = 1.0) -> None:
        """``mode`` for the next ``n`` requests, after the faults already armed."""
        with self._lock:
            self._faults.append(_Fault(FaultMode(mode), n, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def _take_fault(self) -> _Fault | None:
        """Count a request and use up one request's worth of the first armed fault."""
        with self._lock:
            self._requests_seen += 1
            while self._faults and self._faults[0].remaining == 0:
                self._faults.pop(0)
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault

    @property
    def requests_seen(self) -> int:
        """Requests received whole from clients, faulted or not."""
        with self._lock:
            return self._requests_seen

    @property
    def busy(self) -> int:
        """Requests being handled right now: held, delayed, or on their way upstream."""
        with self._lock:
            return self._busy

    @contextlib.contextmanager
    def _handling(self) -> Iterator[None]:
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    @property
    def forwarded(self) -> int:
        """Requests upstream answered (drop_mid_response included)."""
        with self._lock:
            return self._forwarded

    # Listening ---------------------------------------------------------------------------

    def pause_listening(self) -> None:
        """Refuse connects, and close the open connections so none bypasses the outage."""
        self._close_listener()
        self._drop_connections()

    def resume_listening(self) -> None:
        """Listen again on the same port."""
        self._listen(self.port)

    def _listen(self, port: int) -> None:
        listener = socket.create_server(("127.0.0.1", port))  # SO_REUSEADDR: rebinds at once
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if self._acceptor is not None:
            self._acceptor.join(5)
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            if not select.select([listener], [], [], _POLL)[0]:
                continue
            with contextlib.suppress(OSError):
                sock, address = listener.accept()
                thread = threading.Thread(target=self._serve, args=(sock, address), daemon=True)
                with self._lock:
                    self._conns.add(sock)
                    self._threads.append(thread)
                thread.start()

    def _serve(self, sock: socket.socket, address: Any) -> None:
        with contextlib.suppress(OSError):
            _Handler(sock, address, self)
        with self._lock:
            self._conns.discard(sock)
        sock.close()

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _hold(self, sock: socket.socket) -> None:
        """Read and discard until the client closes the connection or the proxy stops."""
        while not self._stopping.is_set():
            try:
                if select.select([sock], [], [], _POLL)[0] and not sock.recv(65536):
                    return
            except (OSError, ValueError):
                return

    def _exchange(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One request to upstream, sent as received (``Host`` is the one the client signed)."""
        upstream = http.client.HTTPConnection(*self._upstream, timeout=10)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                upstream.putheader(name, value)
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            answer = response.read()
        finally:
            upstream.close()
        with self._lock:
            self._forwarded += 1
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        return response.status, response.reason, kept, answer
