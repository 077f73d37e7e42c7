"""Local AWS for tests and the demo: moto, served one request at a time.

The stock `moto_server` answers on threads and does not isolate TransactWriteItems from each other
(measured: concurrent conditional transactions sometimes both commit). Serving one request at a time
gives the isolation the design relies on in real DynamoDB.

Usage: python moto_server.py [PORT]   (0 or nothing: a free port). Prints the port on the first line.
Exits when its standard input closes, so a test process that dies cannot leave it behind.
"""

import os
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False)
    print(server.server_port, flush=True)
    if os.environ.get("MOTO_WATCH_STDIN", "1") == "1":
        def watch() -> None:
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
