"""Reading W&B's transaction log (agents/run/wandb_record.py): records split over blocks, torn and damaged tails,
another format refused in one line; the mirror falls back to its own count then (a real offline run: test_api)."""

from __future__ import annotations

import json
import sys
import types
import zlib
from pathlib import Path

import pytest

pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2 as pb

from agents.run import wandb_log
from agents.run.wandb_record import BLOCK, HEADER, RECORD_HEADER, UnreadableRecord, history, saved_rows


def _row(**values: float) -> bytes:
    record = pb.Record()
    for key, value in values.items():
        item = record.history.item.add()
        item.key = key.replace("__", "/")
        item.value_json = json.dumps(value)
    return record.SerializeToString()


def _write(path: Path, payloads: list[bytes]) -> list[int]:
    """A transaction log as W&B writes it (LevelDB's log format); returns each record's end offset."""
    data, ends = bytearray(HEADER), []
    for payload in payloads:
        first = True
        while True:
            left = BLOCK - len(data) % BLOCK
            if left < RECORD_HEADER.size:
                data += b"\0" * left
                continue
            chunk, payload = payload[: left - RECORD_HEADER.size], payload[left - RECORD_HEADER.size:]
            kind = (1 if first else 4) if not payload else (2 if first else 3)
            data += RECORD_HEADER.pack(zlib.crc32(bytes([kind]) + chunk), len(chunk), kind) + chunk
            first = False
            if not payload:
                break
        ends.append(len(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return ends


def test_rows_are_read_across_blocks_up_to_a_torn_or_damaged_record(tmp_path):
    path = tmp_path / "wandb" / "offline-run-20261207_000000-abcd1234" / "run-abcd1234.wandb"
    big = "x" * 50_000  # a record longer than a block: first, middle and last fragments
    payloads = [_row(train__loss=0.5, env_step=256), _row(eval__breakout__note=big, env_step=512),
                pb.Record(exit=pb.RunExitRecord(exit_code=0)).SerializeToString(),
                *[_row(plasticity__dormant=0.1, env_step=512) for _ in range(3)], _row(task__visit=1, env_step=768)]
    ends = _write(path, payloads)
    assert [(log, step) for _, log, step in history(path)] == [
        ("metrics", 256.0), ("eval", 512.0), ("plasticity", 512.0), ("plasticity", 512.0), ("plasticity", 512.0),
        ("tasks", 768.0)]
    assert saved_rows(tmp_path / "wandb", "abcd1234") == {"metrics": 1, "eval": 1, "plasticity": 3, "tasks": 1}
    assert saved_rows(tmp_path / "wandb", "other000") is None  # no record of that run: nothing to ask
    data = path.read_bytes()
    path.write_bytes(data[: ends[4] + 10])  # torn in the middle of the 6th record
    assert saved_rows(tmp_path / "wandb", "abcd1234") == {"metrics": 1, "eval": 1, "plasticity": 2}
    damaged = bytearray(data)
    damaged[ends[0] + RECORD_HEADER.size + 3] ^= 0xFF  # a flipped byte in the second record: its CRC fails
    path.write_bytes(bytes(damaged))
    assert saved_rows(tmp_path / "wandb", "abcd1234") == {"metrics": 1}


def test_a_record_of_another_format_warns_once_and_the_mirror_counts_itself(tmp_path, monkeypatch, capsys):
    class Run:
        def __init__(self):
            self.logged = []

        def define_metric(self, *args, **kwargs):
            pass

        def log(self, data):
            self.logged.append(data)

    runs: list[Run] = []
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kw: runs.append(Run()) or runs[-1]))
    monkeypatch.setattr(wandb_log, "wandb_missing", lambda: False)
    run_dir = tmp_path / "run"
    (run_dir / "wandb" / "run-20261207_000000-abcd1234").mkdir(parents=True)
    (run_dir / "wandb" / "run-20261207_000000-abcd1234" / "run-abcd1234.wandb").write_bytes(b"PK\x03\x04 zip")
    (run_dir / "wandb.json").write_text(json.dumps({"id": "abcd1234", "handed": {"metrics": 1}}))
    (run_dir / "metrics.csv").write_text("step,loss\n256,0.5\n512,0.25\n")
    cfg = {"agent": {"name": "ppo"}, "env": {"name": "e"}, "method": {"name": "adam"}, "seed": 0,
           "wandb": {"enabled": True}}
    with pytest.raises(UnreadableRecord, match="not a W&B transaction log of the known format"):
        saved_rows(run_dir / "wandb", "abcd1234")
    wandb_log.WandbLog(cfg, run_dir)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: W&B's record of this run could not be read (")
    assert "run-abcd1234.wandb: not a W&B transaction log" in err[0]
    assert runs[0].logged == [{"train/loss": 0.25, "env_step": 512.0}]  # the first row counts as handed over
