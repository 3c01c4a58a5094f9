"""Transparent decompression of input files: `.gz`, `.bz2`, `.xz` by extension, or as configured."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from typing import BinaryIO, Literal

Compression = Literal["auto", "none", "gzip", "bz2", "xz"]

_BY_EXTENSION = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "xz"}


def compression_of(name: str, setting: Compression) -> str | None:
    """The codec of a file (None: plain), from the setting or, with `auto`, from its extension."""
    if setting == "none":
        return None
    if setting != "auto":
        return setting
    return _BY_EXTENSION.get(os.path.splitext(name)[1].lower())


def open_binary(path: str, codec: str | None, offset: int = 0) -> BinaryIO:
    """A binary stream of the file's (decompressed) content, positioned at `offset`.

    Compressed streams cannot seek, so reaching `offset` decompresses and discards what comes
    before it; plain files seek directly.
    """
    # the streams are returned open: the caller closes them
    stream: BinaryIO
    if codec is None:
        stream = open(path, "rb", buffering=0)  # noqa: SIM115
    elif codec == "gzip":
        stream = gzip.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
    elif codec == "bz2":
        stream = bz2.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
    elif codec == "xz":
        stream = lzma.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
    else:
        raise ValueError(f"unknown compression '{codec}'")
    if offset:
        try:
            if codec is None:
                size = os.fstat(stream.fileno()).st_size
                reached = stream.seek(offset) if size >= offset else size
            else:
                reached = stream.seek(offset)
            if reached < offset:
                raise ShorterThanPosition(
                    f"{path}: the saved position {offset} is past the end of the content "
                    f"({reached})"
                )
        except BaseException:
            stream.close()
            raise
    return stream


class ShorterThanPosition(OSError):
    """The file's content ends before the saved position: it changed, so it is read again."""
