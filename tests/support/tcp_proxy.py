"""A tiny TCP proxy for fault tests: forwards to a server, and can stall like a hung server.

``stall_after(n)`` makes every connection opened afterwards stop passing the
server's bytes on once ``n`` of them have gone through (the connection stays
open, nothing more arrives: a server that stops answering mid-FETCH).
``resume()`` lets stalled connections and new ones flow again.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class StallingProxy:
    """Listens on 127.0.0.1 (a free port, or the one given) and forwards to ``target``."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._stall_after: int | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def stall_after(self, server_bytes: int) -> None:
        """Connections opened from now on stall after passing this many bytes from the server."""
        self._flowing.clear()
        self._stall_after = server_bytes

    def resume(self) -> None:
        """Let every connection flow again, stalled ones included."""
        self._stall_after = None
        self._flowing.set()

    def close(self) -> None:
        """Stop listening and cut every connection."""
        self._closed.set()
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def __enter__(self) -> "StallingProxy":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
                self.connections += 1
            limit = self._stall_after
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, limit), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        passed = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and passed + len(data) > limit:
                    head = data[: max(0, limit - passed)]
                    if head:
                        sink.sendall(head)
                    passed = limit
                    self._flowing.wait()  # hung: hold the rest until resumed or closed
                    if self._closed.is_set():
                        break
                    data = data[len(head):]
                    limit = None
                sink.sendall(data)
                passed += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
