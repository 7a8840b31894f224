"""A command's output kept in bounded memory: its head and its tail, with a marker where it
was cut.

`kubegym.sandbox.session.Session.run` feeds every byte of a command's output to one
`OutputBuffer` and returns its `OutputBuffer.text`. Standard library only.
"""

from __future__ import annotations


class OutputBuffer:
    """Keeps the head and the tail of a stream in bounded memory, counting what it drops.

    Args:
        limit: how many bytes to keep in all; the first half is the head, the rest the tail.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._head_limit = self.limit // 2
        self._tail_limit = self.limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        """Add bytes to the stream."""
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data or self._tail_limit == 0:
            return
        self._tail += data[-self._tail_limit :]
        if len(self._tail) > 2 * self._tail_limit:
            del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def truncated(self) -> bool:
        """Whether bytes were dropped."""
        return self.total > self.limit

    def text(self) -> str:
        """The kept output as text (invalid UTF-8 replaced), with a marker where it was cut."""
        if not self.truncated:
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", "replace")
        tail = bytes(self._tail[len(self._tail) - self._tail_limit :]) if self._tail_limit else b""
        cut = self.total - len(self._head) - len(tail)
        marker = (
            f"\n[... {cut} bytes cut by kubegym: output longer than {self.limit} bytes; "
            "the first and last parts are shown ...]\n"
        )
        return (
            bytes(self._head).decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace")
        )
