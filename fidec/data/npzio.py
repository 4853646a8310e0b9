"""Deterministic, atomic file writing for datasets.

``np.savez_compressed`` stamps the current time into each zip entry, so two runs with the same data give
different bytes. :class:`NpzWriter` writes the same format (a zip64 archive of deflated ``{key}.npy``
members, as ``np.savez_compressed`` does, readable by ``np.load``) with a fixed entry date, and can stream
one array from several parts so a large dataset is never concatenated in memory.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: The zip entry timestamp used for every member (the earliest a zip file can record).
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class NpzWriter:
    """Write a ``.npz`` archive member by member; same bytes for the same arrays, every time."""

    def __init__(self, target: str | os.PathLike | io.BufferedIOBase):
        """``target``: a path (created) or a binary file object (left open)."""
        if hasattr(target, "write"):
            self.path, self._file, self._owns = None, target, False
        else:
            self.path, self._owns = Path(target), True
            self._file = open(self.path, "wb")
        self._zip = zipfile.ZipFile(self._file, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def _member(self, key: str):
        info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_DATE_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        return self._zip.open(info, mode="w", force_zip64=True)

    def write(self, key: str, array: np.ndarray) -> None:
        """One member holding ``array``, byte-identical (uncompressed) to ``np.save``'s output."""
        array = np.asanyarray(array)
        self.write_parts(key, array.dtype, array.shape, [array])

    def write_parts(self, key: str, dtype, shape: tuple[int, ...], parts: Iterable[np.ndarray]) -> None:
        """One member holding the concatenation (along axis 0) of ``parts``, of the given dtype and shape."""
        dtype = np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
        rows = 0
        with self._member(key) as fp:
            np.lib.format.write_array_header_1_0(fp, header)
            for part in parts:
                part = np.ascontiguousarray(part, dtype=dtype)
                if part.shape[1:] != tuple(shape[1:]):
                    raise ValueError(f"{key}: part of shape {part.shape} does not fit {tuple(shape)}")
                rows += part.shape[0]
                if part.size:
                    fp.write(part.reshape(-1).view(np.uint8))
        if rows != shape[0]:
            raise ValueError(f"{key}: wrote {rows} rows, header says {shape[0]}")

    def close(self, fsync: bool = True) -> None:
        self._zip.close()
        self._file.flush()
        if self._owns:
            if fsync:
                os.fsync(self._file.fileno())
            self._file.close()

    def abort(self) -> None:
        try:
            self._zip.close()
        except Exception:  # noqa: BLE001 - best effort while failing
            pass
        if self._owns:
            self._file.close()
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def member_shape(path: str | os.PathLike, key: str) -> tuple[int, ...] | None:
    """The shape of array ``key`` in the ``.npz`` at ``path``, read from its ``.npy`` header alone (the array is
    not decompressed, so this is cheap for any file size); None if the file or the member cannot be read."""
    try:
        with zipfile.ZipFile(path) as z, z.open(f"{key}.npy") as fp:
            version = np.lib.format.read_magic(fp)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(fp)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return tuple(int(x) for x in shape)
