"""A minimal FastCGI client (FastCGI 1.0, responder role) to talk to one worker's unix socket directly.

nginx consumes some response headers itself (``X-Accel-Buffering`` is one: it is a control header for nginx
and never reaches the client), so the tests that check what the application itself sends speak FastCGI.
"""

from __future__ import annotations

import socket
import struct
import time
from email.message import Message

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
RESPONDER = 1


def _record(rtype: int, request_id: int, content: bytes) -> bytes:
    padding = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, request_id, len(content), padding, 0) + content + b"\0" * padding


def _length(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def _params(params: dict[str, str]) -> bytes:
    out = b""
    for k, v in params.items():
        kb, vb = k.encode(), v.encode()
        out += _length(len(kb)) + _length(len(vb)) + kb + vb
    return out


class FastCGIResponse:
    """Reads a response's FCGI_STDOUT as it arrives: the CGI head, then the body."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = b""
        self.stdout = b""
        self.ended = False
        self.status: int | None = None
        self.headers = Message()
        self.body = b""

    def _read_record(self, deadline: float) -> bool:
        while len(self._buf) < 8 or len(self._buf) < 8 + struct.unpack(">H", self._buf[4:6])[0] + self._buf[6]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no FastCGI record in time")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                self.ended = True
                return False
            self._buf += data
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", self._buf[:8])
        content = self._buf[8:8 + clen]
        self._buf = self._buf[8 + clen + plen:]
        if rtype == STDOUT:
            self.stdout += content
        elif rtype == END_REQUEST:
            self.ended = True
        return True

    def read_head(self, timeout: float = 5.0) -> "FastCGIResponse":
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.stdout and b"\n\n" not in self.stdout:
            if not self._read_record(deadline) or (self.ended and b"\n\n" not in self.stdout.replace(b"\r\n", b"\n")):
                break
        sep = b"\r\n\r\n" if b"\r\n\r\n" in self.stdout else b"\n\n"
        head, _, self.body = self.stdout.partition(sep)
        for line in head.decode("latin-1").replace("\r\n", "\n").split("\n"):
            name, _, value = line.partition(":")
            self.headers[name.strip()] = value.strip()
        self.status = int((self.headers.get("Status") or "200").split()[0])
        return self

    def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.stdout and not self.ended:
            self._read_record(deadline)
        _, _, self.body = self.stdout.partition(b"\r\n\r\n")
        return self.body

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def fastcgi_request(sock_path: str, method: str, uri: str, headers: dict[str, str] | None = None,
                    body: bytes = b"", server_port: int = 80, timeout: float = 5.0) -> FastCGIResponse:
    """Sends one request (as nginx would) and returns the response with its head read."""
    params = {
        "REQUEST_METHOD": method, "REQUEST_URI": uri, "SCRIPT_NAME": uri, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": str(server_port), "SERVER_NAME": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)) if body else "", "CONTENT_TYPE": "",
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            params["CONTENT_TYPE"] = value
        else:
            params["HTTP_" + key] = value
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    rid = 1
    data = _record(BEGIN_REQUEST, rid, struct.pack(">HB5x", RESPONDER, 0))
    data += _record(PARAMS, rid, _params(params)) + _record(PARAMS, rid, b"")
    if body:
        data += _record(STDIN, rid, body)
    data += _record(STDIN, rid, b"")
    s.sendall(data)
    return FastCGIResponse(s).read_head(timeout)
