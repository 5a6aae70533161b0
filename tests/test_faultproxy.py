"""The fault proxy itself, on the wire: what update-job's fault tests take for granted.

What update-job does with each fault (retries, deadlines, spooling, exit codes) is tested in
test_faults.py and its neighbours, through this proxy; botocore's retry policy is not
re-tested here.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localaws import LOCAL_AWS_ENV, REGION
from tests.conftest import wait_until
from tests.faultproxy import FaultMode, FaultProxy


def sns_request(port: int, action: str = "ListTopics") -> tuple[bytes, dict[str, str]]:
    """The body and headers of an SNS query-API request to 127.0.0.1:port, as an SDK sends
    it: form-encoded with its Content-Type, signed with SigV4 by botocore (moto routes a
    request by the service in the credential scope and answers 404 to a POST without the
    form's Content-Type)."""
    body = f"Action={action}&Version=2010-03-31".encode()
    aws_request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    credentials = Credentials(
        LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"], LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"]
    )
    SigV4Auth(credentials, "sns", REGION).add_auth(aws_request)
    return body, dict(aws_request.headers.items())


def send_sns_request(conn: http.client.HTTPConnection, port: int) -> None:
    body, headers = sns_request(port)
    conn.request("POST", "/", body=body, headers=headers)


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy
    assert proxy.threads == []


def request(proxy: FaultProxy) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    send_sns_request(conn, proxy.port)
    return conn.getresponse()


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.seen.append((self.command, self.path, headers, body))
        out = b"echo:" + body
        self.send_response(201, "Made")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_requests_and_answers_pass_unchanged_on_one_connection() -> None:
    """Method, path and query, Host (as signed), Authorization and body reach upstream as
    sent, request after request on a kept-alive connection."""
    _EchoHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    auth = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sns/aws4_request"
    try:
        with FaultProxy(f"http://127.0.0.1:{server.server_address[1]}") as proxy:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
            for n in range(2):
                body = b"\x00binary\xffbody%d" % n
                conn.request("POST", "/p?x=1&y=%2F", body=body, headers={"Authorization": auth})
                answer = conn.getresponse()
                assert (answer.status, answer.getheader("X-Upstream")) == (201, "yes")
                assert answer.read() == b"echo:" + body
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert (proxy.requests_seen, proxy.forwarded) == (2, 2)
    assert [(m, p, b) for m, p, _, b in _EchoHandler.seen] == [
        ("POST", "/p?x=1&y=%2F", b"\x00binary\xffbody0"),
        ("POST", "/p?x=1&y=%2F", b"\x00binary\xffbody1"),
    ]
    headers = _EchoHandler.seen[0][2]
    assert headers["host"] == f"127.0.0.1:{proxy.port}"
    assert headers["authorization"] == auth


def test_faults_apply_one_request_each_in_the_order_armed(proxy: FaultProxy) -> None:
    proxy.fail_next(1, FaultMode.HTTP_503)
    proxy.fail_next(2, FaultMode.THROTTLE)
    assert [request(proxy).status for _ in range(4)] == [503, 400, 400, 200]
    proxy.set_fault(FaultMode.HTTP_500)  # until cleared
    assert [request(proxy).status for _ in range(3)] == [500, 500, 500]
    proxy.set_fault(FaultMode.TEXT_404, count=1)  # replaces the fault armed before
    assert [request(proxy).status for _ in range(2)] == [404, 200]
    proxy.set_fault(FaultMode.HTTP_500)
    proxy.clear_faults()
    assert request(proxy).status == 200
    assert (proxy.requests_seen, proxy.forwarded) == (10, 3)


def test_a_throttle_is_sns_throttling_error(proxy: FaultProxy) -> None:
    proxy.fail_next(1, FaultMode.THROTTLE)
    answer = request(proxy)
    assert (answer.status, answer.getheader("Content-Type")) == (400, "text/xml")
    assert b"<Type>Sender</Type><Code>Throttling</Code>" in answer.read()


def test_refuse_resets_the_connection_without_an_answer(proxy: FaultProxy) -> None:
    proxy.fail_next(1, FaultMode.REFUSE)
    with pytest.raises(ConnectionError):
        request(proxy)
    assert (proxy.requests_seen, proxy.forwarded) == (1, 0)


def test_a_dropped_answer_is_forwarded_then_cut_short(proxy: FaultProxy) -> None:
    proxy.fail_next(1, FaultMode.DROP_MID_RESPONSE)
    answer = request(proxy)
    assert answer.status == 200  # upstream's status line arrives...
    with pytest.raises(http.client.IncompleteRead) as cut:
        answer.read()  # ...but not all of the body it announced
    assert cut.value.partial.startswith(b"<ListTopicsResponse")
    assert (proxy.requests_seen, proxy.forwarded) == (1, 1)


def test_busy_counts_the_requests_held_until_they_are_answered(proxy: FaultProxy) -> None:
    proxy.set_fault(FaultMode.DELAY, delay=0.5)
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    with client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        wait_until(lambda: proxy.busy == 1, "the held request", within=5)
    # The client is gone; the delayed request still goes upstream, and then is done.
    wait_until(lambda: proxy.busy == 0, "the request let go", within=5)
    assert (proxy.requests_seen, proxy.forwarded) == (1, 1)


@pytest.mark.parametrize("mode", [FaultMode.HANG, FaultMode.DELAY])
def test_stop_releases_a_held_request_promptly(moto_endpoint: str, mode: FaultMode) -> None:
    proxy = FaultProxy(moto_endpoint).start()
    proxy.set_fault(mode, delay=30)
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    try:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        wait_until(lambda: proxy.requests_seen == 1, "the request", within=5)
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 3
        try:
            data = client.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b""  # closed without an answer
    finally:
        client.close()
    assert proxy.threads == []
    assert proxy.forwarded == 0


def test_pause_refuses_connects_and_resume_listens_on_the_same_port(proxy: FaultProxy) -> None:
    kept = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    send_sns_request(kept, proxy.port)
    assert b"<ListTopicsResponse" in kept.getresponse().read()
    port = proxy.port
    proxy.pause_listening()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    # The open connection was closed too: a pooled connection does not bypass the outage.
    with pytest.raises(ConnectionError):
        send_sns_request(kept, proxy.port)
        kept.getresponse()
    kept.close()
    proxy.resume_listening()
    assert proxy.port == port
    assert request(proxy).status == 200
    assert (proxy.requests_seen, proxy.forwarded) == (2, 2)


def test_only_a_loopback_http_upstream_is_accepted() -> None:
    for upstream in ("http://192.0.2.1:5000", "https://127.0.0.1:5000"):
        with pytest.raises(ValueError, match="loopback"):
            FaultProxy(upstream)
