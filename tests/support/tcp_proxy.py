"""A TCP forwarder a test can cut and restore: an outage of one process's PostgreSQL or
RabbitMQ without stopping the shared servers (other test runs keep theirs).

The process under test is given ``127.0.0.1:<proxy.port>`` instead of the server's port. While
the proxy is ``down()``, its port refuses connections and every connection through it is
closed -- what clients see of a server that stopped; ``up()`` listens on the same port again.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.accepted = 0  # connections taken while up (a reconnect shows as one more)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self.up()

    @property
    def is_up(self) -> bool:
        return self._running.is_set()

    def up(self) -> None:
        if self._running.is_set():
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._running.set()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Refuse new connections and cut every open one."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    close = down

    def _accept(self, listener: socket.socket) -> None:
        try:
            while self._running.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    server = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                client.settimeout(None)
                with self._lock:
                    if not self._running.is_set():
                        client.close()
                        server.close()
                        return
                    self._sockets |= {client, server}
                    self.accepted += 1
                for src, dst in ((client, server), (server, client)):
                    threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()
        finally:
            listener.close()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets -= {src, dst}
            for sock in (src, dst):
                with suppress(OSError):
                    sock.close()
