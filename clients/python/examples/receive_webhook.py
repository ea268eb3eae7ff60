"""A webhook receiver for a DMS, standard library only (plus leadnet_client): verifies each message's signature,
ignores a `webhook-id` it has already handled (delivery is at least once), answers 204 at once and does the work
afterwards (the notifier waits at most 10 s and retries on anything but a 2xx).

    LEADNET_WEBHOOK_SECRET=whsec_... python receive_webhook.py 8765
    leadnet token --role dealer --dealer D001 > token
    curl -X POST http://127.0.0.1:8006/v1/webhooks -H "authorization: Bearer $(cat token)" \\
         -H 'content-type: application/json' -d '{"url": "http://127.0.0.1:8765/hook", "events": ["task.due"]}'

In production the URL must be https on a public address; `leadnet up` also allows http://127.0.0.1.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from leadnet_client import WebhookVerificationError, verify_webhook

Handler = Callable[[str, dict[str, Any]], None]


def make_server(secret: str, on_message: Handler, *, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 that calls `on_message(webhook_id, message)` once per verified message."""
    seen: set[str] = set()  # a real DMS keeps this in its database, with the work the message caused
    lock = threading.Lock()
    work: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                message = verify_webhook(secret, dict(self.headers.items()), body)
            except WebhookVerificationError as exc:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(str(exc).encode())
                return
            webhook_id = self.headers["webhook-id"]
            with lock:
                fresh = webhook_id not in seen
                seen.add(webhook_id)
            if fresh:
                work.put((webhook_id, message))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    def worker() -> None:
        while True:
            webhook_id, message = work.get()
            on_message(webhook_id, message)

    threading.Thread(target=worker, daemon=True).start()
    return ThreadingHTTPServer(("127.0.0.1", port), Receiver)


def main() -> None:
    secret = os.environ["LEADNET_WEBHOOK_SECRET"]
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765

    def show(webhook_id: str, message: dict[str, Any]) -> None:
        # Payloads hold ids and masked data: read the details through the API with the DMS's own token.
        print(webhook_id, message["type"], message["data"], flush=True)

    server = make_server(secret, show, port=port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
