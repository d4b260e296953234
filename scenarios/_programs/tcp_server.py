"""A program under test for scenarios/tcp_restart.ts: a small threaded TCP echo server
that answers one message per connection and then closes it, like an HTTP/1.0 server.

Closing first leaves each of its connections in TIME_WAIT on the server's port for 60 s.
Without --reuse it binds without SO_REUSEADDR, like many hand-written servers: after a
restart, those TIME_WAIT connections keep the port, bind() fails with EADDRINUSE, and
the server retries quietly for a few seconds before giving up. With --reuse it sets
SO_REUSEADDR and binds at once.

Usage: python3 tcp_server.py <port> [--reuse] [--give-up-after SECONDS]
"""

import socket
import sys
import threading
import time

port = int(sys.argv[1])
reuse = "--reuse" in sys.argv
give_up = float(sys.argv[sys.argv.index("--give-up-after") + 1]) if "--give-up-after" in sys.argv else 3.0

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if reuse:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
deadline = time.monotonic() + give_up
while True:
    try:
        server.bind(("0.0.0.0", port))
        break
    except OSError as error:
        # Swallowed, retried: from the outside the server just looks slow to start.
        if time.monotonic() > deadline:
            print(f"giving up: {error}", file=sys.stderr, flush=True)
            sys.exit(1)
        time.sleep(0.1)
server.listen(128)
print(f"listening on tcp {port}", flush=True)


def echo(connection):
    with connection:
        data = connection.recv(65536)
        if data:
            connection.sendall(data)
    # Closed by the server first: this side of the connection enters TIME_WAIT.


while True:
    connection, _ = server.accept()
    threading.Thread(target=echo, args=(connection,), daemon=True).start()
