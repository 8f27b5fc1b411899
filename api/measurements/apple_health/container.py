"""The bytes of export.xml, from an ``export.zip`` (its member streamed) or a bare file: size and
compression caps, progress, a damaged zip's errors as :class:`ExportInvalid`."""

from __future__ import annotations

import zipfile
import zlib
from typing import IO, Final

from api.measurements.apple_health.model import ExportInvalid, ExportTooLarge, Limits, Progress

ZIP_MAGIC: Final = b"PK\x03\x04"
EXPORT_MEMBER: Final = "apple_health_export/export.xml"


class CountingStream:
    """What lxml reads from: counts the bytes, enforces the cap, reports progress, and turns a
    damaged zip's errors into :class:`ExportInvalid`."""

    def __init__(
        self,
        raw: IO[bytes],
        *,
        head: bytes,
        total: int | None,
        max_bytes: int,
        progress: Progress | None,
        every: int,
    ) -> None:
        self._raw = raw
        self._head = head
        self.total = total
        self.bytes_read = 0
        self._max = max_bytes
        self._progress = progress
        self._every = max(1, every)
        self._next_report = self._every
        self._reported = 0

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
        else:
            try:
                data = self._raw.read(size)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ExportInvalid(f"the zip is damaged: {exc}") from None
        self.bytes_read += len(data)
        if self.bytes_read > self._max:
            raise ExportTooLarge(
                f"export.xml is larger than {self._max:,} bytes, the most accepted",
                limits={"max_bytes": self._max},
            )
        if self._progress is not None and (
            self.bytes_read >= self._next_report or (not data and self._reported != self.bytes_read)
        ):
            self._next_report = self.bytes_read + self._every
            self._reported = self.bytes_read
            self._progress(self.bytes_read, self.total)
        return data


class Container:
    """The export.xml to read, opened from ``file``: checks the zip (member, encryption, declared
    size and compression ratio) or the bare file's size at once. :meth:`close` closes the zip."""

    def __init__(
        self, file: IO[bytes], limits: Limits, progress: Progress | None, every: int
    ) -> None:
        self.limits = limits
        self._zip: zipfile.ZipFile | None = None
        self._member: IO[bytes] | None = None
        seekable = file.seekable()
        start = file.tell() if seekable else 0
        head = file.read(len(ZIP_MAGIC))
        if head == ZIP_MAGIC:
            if not seekable:
                raise ExportInvalid("a zip upload must be read from a seekable file")
            file.seek(start)
            member, size = self._open_member(file)
            self.stream = CountingStream(
                member,
                head=b"",
                total=size,
                max_bytes=limits.max_xml_bytes,
                progress=progress,
                every=every,
            )
            return
        total: int | None = None
        if seekable:
            total = file.seek(0, 2) - start
            file.seek(start + len(head))
            if total > limits.max_xml_bytes:
                raise ExportTooLarge(
                    f"export.xml is {total:,} bytes; at most {limits.max_xml_bytes:,} are accepted",
                    limits={"max_bytes": limits.max_xml_bytes},
                )
        self.stream = CountingStream(
            file,
            head=head,
            total=total,
            max_bytes=limits.max_xml_bytes,
            progress=progress,
            every=every,
        )

    def _open_member(self, file: IO[bytes]) -> tuple[IO[bytes], int]:
        limits = self.limits
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise ExportInvalid(f"the file is not a readable zip: {exc}") from None
        self._zip = archive
        candidates = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and not info.filename.startswith("__MACOSX/")
            and (info.filename == "export.xml" or info.filename.endswith("/export.xml"))
        ]
        if not candidates:
            self.close()
            raise ExportInvalid(
                "the zip holds no apple_health_export/export.xml; upload the export.zip the "
                "Health app wrote, or its export.xml"
            )
        candidates.sort(key=lambda info: (info.filename != EXPORT_MEMBER, len(info.filename)))
        info = candidates[0]
        if info.flag_bits & 0x1:
            self.close()
            raise ExportInvalid("the zip's export.xml is encrypted")
        if info.file_size > limits.max_xml_bytes:
            self.close()
            raise ExportTooLarge(
                f"the zip's export.xml is {info.file_size:,} bytes; at most "
                f"{limits.max_xml_bytes:,} are accepted",
                limits={"max_bytes": limits.max_xml_bytes},
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_compression_ratio:
            self.close()
            raise ExportTooLarge(
                f"the zip's export.xml expands {ratio:,.0f} times ({info.compress_size:,} to "
                f"{info.file_size:,} bytes); at most {limits.max_compression_ratio:,.0f} times "
                "is accepted",
                limits={"max_compression_ratio": limits.max_compression_ratio},
            )
        try:
            member = archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
            self.close()
            raise ExportInvalid(f"the zip's export.xml cannot be opened: {exc}") from None
        self._member = member
        return member, info.file_size

    def close(self) -> None:
        if self._member is not None:
            self._member.close()
            self._member = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None
