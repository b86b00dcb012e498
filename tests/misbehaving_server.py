"""A loopback HTTP server that misbehaves on purpose, for the network fault tests.

    with MisbehavingServer(files, behavior="500") as server:
        server.url          # "http://127.0.0.1:PORT/"
        server.requests     # [("HEAD", "/name"), ("GET", "/name"), ...]

`files` maps a file name to its bytes. `behavior` says how the server answers a request for a file: one
name for every request, or a list of names used in turn by successive GET requests of each file, the
last one repeating (["truncate", "ok"]: the first GET of each file is cut short, later ones succeed).
A HEAD request gets the headers its next GET would get.

    ok                  200 with Content-Length and the file's bytes
    404, 500            that status, with a small HTML body
    html                200 with an HTML page (a proxy's or captive portal's error page) in place of the file
    truncate            200 announcing the full Content-Length, half the bytes, then the connection closes
    truncate-no-length  200 without Content-Length, half the bytes, then the connection closes
    stall               200 announcing the full Content-Length, half the bytes, then silence until stopped
    hang                reads the request, then never answers until stopped
    trickle             200 announcing the full Content-Length, then one byte every TRICKLE_INTERVAL seconds
    endless             200 without Content-Length, the file's bytes, then ENDLESS_CHUNK zeros every
                        ENDLESS_INTERVAL seconds until the client hangs up (a few MB/s: a test's disk stays clear)
    oversize            200 announcing and sending the file's bytes followed by as many zeros

`refused_url()` yields a base URL whose port refuses connections.
"""

import contextlib
import http.server
import socket
import threading

BEHAVIORS = (
    "ok",
    "404",
    "500",
    "html",
    "truncate",
    "truncate-no-length",
    "stall",
    "hang",
    "trickle",
    "endless",
    "oversize",
)
TRICKLE_INTERVAL = 0.3  # seconds between two bytes of a trickle: less than any read timeout in the tests
ENDLESS_CHUNK = bytes(64 * 1024)
ENDLESS_INTERVAL = 0.01  # seconds between two chunks of an endless body: less than any read timeout in the tests
HTML_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>Proxy error</body></html>\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format, *args):
        pass

    def do_HEAD(self):
        self._answer(send_body=False)

    def do_GET(self):
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        owner = self.server.owner
        name = self.path.lstrip("/")
        behavior = owner.behavior_for(name, consume=send_body)
        with owner.lock:
            owner.requests.append((self.command, self.path))
        data = owner.files.get(name)
        if data is None and behavior not in ("hang", "404", "500"):
            behavior = "404"
        if behavior == "hang":
            owner.stopping.wait()
            return
        if behavior in ("404", "500"):
            body = f"<html><body>{behavior}</body></html>\n".encode()
            self._headers(int(behavior), "text/html", len(body))
            if send_body:
                self.wfile.write(body)
            return
        if behavior == "html":
            self._headers(200, "text/html; charset=utf-8", len(HTML_PAGE))
            if send_body:
                self.wfile.write(HTML_PAGE)
            return
        if behavior == "oversize":
            data += bytes(len(data))
        length = None if behavior in ("truncate-no-length", "endless") else len(data)
        self._headers(200, "application/octet-stream", length)
        if not send_body:
            return
        if behavior in ("ok", "oversize"):
            self.wfile.write(data)
            return
        if behavior in ("trickle", "endless"):
            self._send_slowly_or_forever(data, behavior)
            return
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        if behavior == "stall":
            owner.stopping.wait()
        # truncate, truncate-no-length: HTTP/1.0, so returning closes the connection.

    def _send_slowly_or_forever(self, data: bytes, behavior: str) -> None:
        stopping = self.server.owner.stopping
        try:
            if behavior == "trickle":
                for offset in range(len(data)):
                    if stopping.wait(TRICKLE_INTERVAL):
                        return
                    self.wfile.write(data[offset : offset + 1])
                    self.wfile.flush()
            else:
                self.wfile.write(data)
                while not stopping.wait(ENDLESS_INTERVAL):
                    self.wfile.write(ENDLESS_CHUNK)
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: "MisbehavingServer"


class MisbehavingServer:
    def __init__(self, files: dict[str, bytes], behavior: str | list[str] = "ok"):
        self.files = dict(files)
        self.behavior = behavior
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._gets: dict[str, int] = {}
        for name in [behavior] if isinstance(behavior, str) else behavior:
            if name not in BEHAVIORS:
                raise ValueError(f"unknown behavior {name!r}; known: {', '.join(BEHAVIORS)}")

    def behavior_for(self, name: str, consume: bool) -> str:
        if isinstance(self.behavior, str):
            return self.behavior
        with self.lock:
            count = self._gets.get(name, 0)
            if consume:
                self._gets[name] = count + 1
        return self.behavior[min(count, len(self.behavior) - 1)]

    def gets(self) -> list[str]:
        """Names of the files requested with GET, in order."""
        with self.lock:
            return [path.lstrip("/") for method, path in self.requests if method == "GET"]

    def __enter__(self) -> "MisbehavingServer":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def refused_url():
    """A base URL on 127.0.0.1 whose port is bound but not listening: every connection is refused.

    Holding the bound socket keeps the port from being reused by anything else while the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
