"""What W&B has saved of a run: how many rows of each CSV log are in W&B's own record of the run.

W&B writes every run (online and offline alike) to a transaction log, ``<run_dir>/wandb/*run-<time>-<id>/
run-<id>.wandb``, which ``wandb sync`` uploads and from which W&B rebuilds a crashed run. A row handed to
``run.log`` reaches that file later, through W&B's service process; when the whole process group is killed (a
cluster preemption, an OOM kill, ``kill -9 -<pgid>``) the service dies with it and the last rows it held are lost
(tens of rows, measured). So a resumed run asks this file, not its own count of rows handed over, which rows W&B
has. Rows are counted, not compared by step: several rows of a log share a step (one eval row per task, one
plasticity row per metric and layer), and W&B saves each log's rows in the order they were written, so the rows it
has are the first ``n`` of each log.

The file format is LevelDB's log format with W&B's header: 7 bytes ``:W&B`` + ``0xBEE1`` + version 0, then
32 KiB blocks of records ``crc32(type + payload) (uint32 LE) · length (uint16 LE) · type (1 full, 2 first,
3 middle, 4 last) · payload``, each payload a ``wandb_internal.proto`` ``Record``. A torn or damaged tail ends
the readable prefix (what W&B can rebuild from the file too).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

HEADER = b":W&B\xe1\xbe\x00"
BLOCK = 32 * 1024
RECORD_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
PREFIX_LOG = {"train/": "metrics", "task/": "tasks", "eval/": "eval", "plasticity/": "plasticity"}


class UnreadableRecord(ValueError):
    """A W&B transaction log this reader does not understand (another W&B file format)."""


def transaction_logs(wandb_dir: Path, run_id: str) -> list[Path]:
    """The transaction logs of every session of W&B run ``run_id`` under ``wandb_dir``, oldest first
    (``latest-run`` is a link to one of them and is left out)."""
    return sorted(p for p in Path(wandb_dir).glob(f"*run-*-{run_id}/run-{run_id}.wandb") if p.is_file())


def records(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(end offset, payload)`` of each whole record of one transaction log, up to its first torn or damaged
    record."""
    data = Path(path).read_bytes()
    if not data:
        return
    if not data.startswith(HEADER):
        raise UnreadableRecord(f"{path}: not a W&B transaction log of the known format (header {data[:7]!r})")
    pos, parts = len(HEADER), b""
    while pos + RECORD_HEADER.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER.size:  # a block's tail too short for a header is padding
            pos += left
            continue
        crc, length, kind = RECORD_HEADER.unpack_from(data, pos)
        payload = data[pos + RECORD_HEADER.size: pos + RECORD_HEADER.size + length]
        if kind not in (FULL, FIRST, MIDDLE, LAST) or len(payload) < length \
                or zlib.crc32(bytes([kind]) + payload) != crc:
            return  # zero padding, a torn write or damage: what follows was not saved
        pos += RECORD_HEADER.size + length
        if kind == FULL:
            yield pos, payload
        elif kind == FIRST:
            parts = payload
        elif kind == MIDDLE:
            parts += payload
        else:
            yield pos, parts + payload
            parts = b""


def history(path: Path) -> Iterator[tuple[int, str, float]]:
    """``(end offset, CSV log, env_step)`` of each row of ours in one transaction log, in the order saved.

    :raises UnreadableRecord: a record W&B's schema (this installed W&B's) does not parse.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    for end, payload in records(path):
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except Exception as err:  # protobuf's DecodeError: a record of another schema
            raise UnreadableRecord(f"{path}: a record W&B's schema does not parse ({err})") from None
        if record.WhichOneof("record_type") != "history":
            continue
        items = {item.key or "/".join(item.nested_key): item.value_json for item in record.history.item}
        log = log_of(items)
        if log is not None and "env_step" in items:
            yield end, log, float(json.loads(items["env_step"]))


def saved_rows(wandb_dir: Path, run_id: str) -> dict[str, int] | None:
    """Per CSV log (``metrics``, ``tasks``, ``eval``, ``plasticity``), how many of its rows W&B saved for run
    ``run_id`` over all its sessions; ``None`` when there is no transaction log to ask.

    :raises UnreadableRecord: a transaction log of another format (a W&B version this reader does not know).
    """
    paths = transaction_logs(wandb_dir, run_id)
    if not paths:
        return None
    counts: dict[str, int] = {}
    for path in paths:
        for _, log, _ in history(path):
            counts[log] = counts.get(log, 0) + 1
    return counts


def log_of(keys: Iterable[str]) -> str | None:
    """The CSV log a W&B history row came from, by its keys' prefixes (``train/`` → ``metrics`` …)."""
    return next((PREFIX_LOG[p] for k in keys for p in PREFIX_LOG if k.startswith(p)), None)
