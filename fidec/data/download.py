"""``fidec data download``: OGBench's official download, failing fast where there is no network."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.parse

from fidec.data.catalog import get_spec
from fidec.data.sources import minari as msrc
from fidec.errors import DatasetError
from fidec.paths import dataset_dir as resolve_dataset_dir
from fidec.paths import dataset_files

#: Seconds to wait for the dataset host (name lookup and TCP connect) and for each read while downloading.
NETWORK_TIMEOUT = 5.0


def dataset_host() -> tuple[str, int]:
    from ogbench.utils import DATASET_URL

    u = urllib.parse.urlparse(DATASET_URL)
    return u.hostname, u.port or (443 if u.scheme == "https" else 80)


def check_reachable(host: str, port: int, timeout: float = NETWORK_TIMEOUT) -> str | None:
    """None if ``host:port`` accepts a TCP connection within ``timeout`` s; else why not (one line).

    Name lookup ignores socket timeouts, so the whole check runs in a daemon thread with a deadline.
    """
    result: list = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(None)
        except OSError as e:
            result.append(" ".join(str(e).split()) or type(e).__name__)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 1.0)
    if not result:
        return f"no answer within {timeout:.0f} s"
    return result[0]


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def download_dataset(name: str, dataset_dir=None, timeout: float = NETWORK_TIMEOUT):
    """Download ``name`` (train and validation) with ``ogbench.download_datasets``; returns the two paths.

    Without network it fails within about ``timeout`` seconds with a one-line ``DatasetError`` that says
    how to make the dataset locally.
    """
    spec = get_spec(name)
    directory = resolve_dataset_dir(dataset_dir)
    train, val = dataset_files(spec.name, directory)
    if train.exists() and val.exists():
        return train, val
    if spec.generatable:
        remedy = f"generate it locally with 'fidec data generate {spec.name} --dataset-dir {directory}'"
        if spec.recipe.get("oracle") == "expert":
            remedy += f" (after training its expert: 'fidec data expert {spec.recipe.get('expert', 'ant')}')"
    else:
        remedy = f"{spec.name} cannot be generated offline ({spec.reason}); download it where the network allows"
    host, port = dataset_host()
    why = check_reachable(host, port, timeout)
    if why is not None:
        raise DatasetError(f"cannot reach {host} ({why}); {remedy}")
    import ogbench

    try:
        with _socket_timeout(timeout * 6):
            ogbench.download_datasets([spec.name], dataset_dir=str(directory))
    except Exception as e:  # noqa: BLE001 - network errors of every kind end the same way
        for p in (train, val):  # OGBench's partial downloads
            p.with_name(p.name + ".tmp").unlink(missing_ok=True)
        raise DatasetError(f"download of {spec.name} failed ({' '.join(str(e).split())}); {remedy}") from None
    return train, val


def minari_host() -> tuple[str, str, int]:
    """(remote, host, port) of Minari's dataset server (``$MINARI_REMOTE``, else Minari's default)."""
    import os

    from minari.storage.remotes import DEFAULT_REMOTE

    remote = os.environ.get("MINARI_REMOTE", DEFAULT_REMOTE)
    scheme = remote.split("://", 1)[0]
    host = {"hf": "huggingface.co", "gcp": "storage.googleapis.com"}.get(scheme, urllib.parse.urlparse(remote).hostname)
    return remote, host or remote, 443


def download_minari(name: str, timeout: float = NETWORK_TIMEOUT):
    """Download the Minari dataset ``minari:ID`` into Minari's root with ``minari.download_dataset``.

    Returns its local folder. Without network it fails within about ``timeout`` seconds with a one-line
    ``DatasetError`` saying what to do instead; a failed download leaves no partial dataset behind.
    """
    import shutil

    minari = msrc.import_minari()
    did = msrc.dataset_id(name)
    folder = msrc.root() / did
    if msrc.is_local(did):
        return folder
    remote, host, port = minari_host()
    remedy = (
        f"run 'fidec data download minari:{did}' where the network allows, or copy the folder {did}/ from a "
        f"machine that has it into {msrc.root()} ($MINARI_DATASETS_PATH), or make your own with minari.DataCollector"
    )
    why = check_reachable(host, port, timeout)
    if why is not None:
        raise DatasetError(f"cannot reach {host} ({why}), Minari's server for {remote}; {remedy}")
    existed = folder.exists()
    try:
        with _socket_timeout(timeout * 6):
            minari.download_dataset(did)
    except Exception as e:  # noqa: BLE001 - unknown id, network errors: one line
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise DatasetError(f"download of minari:{did} failed ({' '.join(str(e).split())}); {remedy}") from None
    return folder
