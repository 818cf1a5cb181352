"""An OTLP/HTTP traces endpoint that takes every export and keeps nothing,
counting spans' bytes: the collector side of measuring what exporting
spans costs hookgate (docs/benchmarks.md).

    python3 loadtest/otlp_sink.py PORT
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        Sink.received += len(self.rfile.read(length))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
    try:
        server.serve_forever()
    finally:
        print(f"otlp_sink: {Sink.received} bytes received", file=sys.stderr)
