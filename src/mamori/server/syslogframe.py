"""Syslog over a byte stream (RFC 6587 / RFC 5425): octet-counting or LF-terminated frames, bounded.

The framing is decided once per connection by its first octet, as RFC 6587 3.4 lets a receiver
do: a digit means octet counting (``MSG-LEN SP SYSLOG-MSG``, the only framing of RFC 5425 TLS),
``<`` means non-transparent framing (each message ends with LF; Docker's driver uses it on plain
``tcp://``). Anything else, a bad MSG-LEN or a frame over the size limit is fatal for the
connection: the stream can no longer be cut into messages with certainty, so the caller records
the error with the octets it has and closes.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LEN_DIGITS = 10


@dataclass(frozen=True, slots=True)
class FrameError:
    """Why the stream cannot be framed any more, and (a bounded prefix of) the octets concerned."""

    reason: str
    raw: bytes
    size: int  # octets concerned: the claimed MSG-LEN, or those buffered


class Framer:
    """Sans-IO: ``feed`` bytes as they arrive, get complete frames and at most one fatal error."""

    def __init__(self, max_size: int, keep: int = 8192) -> None:
        self.max_size, self.keep = max_size, keep
        self.mode: str | None = None  # "octet" | "lf"
        self.failed: FrameError | None = None
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Octets of an incomplete frame (a partial frame at end of stream is an error too)."""
        return len(self._buf)

    def _fail(self, reason: str, size: int | None = None) -> FrameError:
        self.failed = FrameError(reason, bytes(self._buf[:self.keep]), len(self._buf) if size is None else size)
        self._buf.clear()
        return self.failed

    def feed(self, data: bytes) -> tuple[list[bytes], FrameError | None]:
        if self.failed is not None:
            return [], self.failed
        self._buf += data
        if self.mode is None and self._buf:
            first = self._buf[0]
            if 0x31 <= first <= 0x39:
                self.mode = "octet"
            elif first == 0x3C:
                self.mode = "lf"
            else:
                return [], self._fail(f"the stream starts with {bytes([first])!r}, neither an octet count (RFC 6587 "
                                      "octet counting) nor '<' (a syslog PRI)")
        if self.mode == "octet":
            return self._octets()
        if self.mode == "lf":
            return self._lines()
        return [], None

    def finish(self) -> tuple[list[bytes], FrameError | None]:
        """End of stream: a last LF-framed message may lack its LF (RFC 6587); a cut octet frame is an error."""
        if self.failed is not None or not self._buf:
            return [], None
        if self.mode == "lf":
            last = bytes(self._buf.rstrip(b"\r"))
            self._buf.clear()
            return ([last] if last else []), None
        return [], self._fail("the stream ended inside a frame")

    def _octets(self) -> tuple[list[bytes], FrameError | None]:
        buf, i, n = self._buf, 0, len(self._buf)
        out: list[bytes] = []
        err: FrameError | None = None
        while i < n:
            sp = buf.find(b" ", i, i + MAX_LEN_DIGITS + 1)
            if sp < 0:
                if n - i > MAX_LEN_DIGITS or not buf[i:n].isdigit() or buf[i] == 0x30:
                    del buf[:i]
                    err = self._fail("expected an octet count (MSG-LEN SP) before the next message")
                break
            count = bytes(buf[i:sp])
            if not count.isdigit() or count[0] == 0x30:
                del buf[:i]
                err = self._fail(f"bad octet count {count[:MAX_LEN_DIGITS]!r} (expected MSG-LEN SP SYSLOG-MSG)")
                break
            size = int(count)
            if size > self.max_size:
                del buf[:i]
                err = self._fail(f"frame of {size} octets exceeds the limit of {self.max_size}", size)
                break
            if sp + 1 + size > n:
                break
            out.append(bytes(buf[sp + 1:sp + 1 + size]))
            i = sp + 1 + size
        else:
            buf.clear()
            return out, None
        if err is None:
            del buf[:i]
        return out, err

    def _lines(self) -> tuple[list[bytes], FrameError | None]:
        buf, i = self._buf, 0
        out: list[bytes] = []
        while True:
            j = buf.find(b"\n", i)
            if j < 0:
                break
            end = j - 1 if j > i and buf[j - 1] == 0x0D else j
            if end - i > self.max_size:
                del buf[:i]
                return out, self._fail(f"message of {end - i} octets exceeds the limit of {self.max_size}", end - i)
            if end > i:
                out.append(bytes(buf[i:end]))
            i = j + 1
        del buf[:i]
        if len(buf) > self.max_size:
            return out, self._fail(f"message of more than {self.max_size} octets without a line feed")
        return out, None
