"""TensorBoard and W&B sinks mirror metrics.jsonl: same records, same names (``<kind>/<name>``), same values."""

import glob
import json
import struct
import sys

import numpy as np
import pytest

from fidec.cli import main
from fidec.errors import ConfigError
from fidec.loggers import parse_loggers, scalars
from fidec.runs import MetricsLog

from .conftest import TINY_ENV


def read_tensorboard(folder) -> dict:
    """{(tag, step): value} from the TFRecord event files in ``folder``."""
    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted(glob.glob(f"{folder}/events.out.tfevents.*")):
        raw, pos = open(path, "rb").read(), 0
        while pos < len(raw):
            (length,) = struct.unpack("<Q", raw[pos : pos + 8])
            event = event_pb2.Event.FromString(raw[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for v in event.summary.value:
                out[(v.tag, event.step)] = v.simple_value
    return out


def read_wandb(folder) -> list[dict]:
    """The history rows of the offline W&B run files (LevelDB-log framing of protobuf records) in ``folder``."""
    from wandb.proto import wandb_internal_pb2 as pb

    rows = []
    for path in sorted(glob.glob(f"{folder}/run-*.wandb")):
        raw, pos, block, pending = open(path, "rb").read(), 7, 32768, b""
        assert raw[:4] == b":W&B"
        while pos + 7 <= len(raw):
            if block - pos % block < 7:  # block trailer
                pos += block - pos % block
                continue
            _, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
            chunk, pos = raw[pos + 7 : pos + 7 + length], pos + 7 + length
            if kind in (1, 2):  # full / first
                pending = chunk
            elif kind in (3, 4):  # middle / last
                pending += chunk
            if kind in (1, 4):
                rec = pb.Record.FromString(pending)
                if rec.WhichOneof("record_type") == "history":
                    rows.append(
                        {(it.key or "/".join(it.nested_key)): json.loads(it.value_json) for it in rec.history.item}
                    )
    return rows


def test_tensorboard_and_wandb_hold_the_metrics_jsonl_records(tiny_dataset_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the default must be offline: no network, no account
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    argv = ["train", "--agent", "fd", "--env", TINY_ENV, "--preset", "tiny", "--dataset-dir", str(tiny_dataset_dir)]
    argv += ["--run-dir", str(run), "--no-progress", "--num-seeds", "2", "--logger", "tensorboard,wandb"]
    assert main(argv) == 0
    records = MetricsLog(run).records()
    assert {r["kind"] for r in records} == {"train", "eval"}
    for seed in (0, 1):
        mine = [r for r in records if r["seed"] == seed]
        expected = {(tag, r["step"]): v for r in mine for tag, v in scalars(r).items()}
        assert {"train/critic_loss", "train/fisher_trace", "eval/success"} <= {t for t, _ in expected}
        # TensorBoard: every number of metrics.jsonl, under kind/name at its step (float32 in the event file)
        tb = read_tensorboard(run / "tensorboard" / f"seed{seed}")
        assert set(tb) == set(expected)
        for k, v in expected.items():
            assert tb[k] == pytest.approx(v, rel=1e-6, abs=1e-30), k
        # W&B offline run: one per seed, the same names and values, with step as the x axis
        (folder,) = glob.glob(str(run / "wandb" / f"offline-run-*-seed{seed}"))
        got = {}
        for row in read_wandb(folder):
            got.update({(k, row["step"]): v for k, v in row.items() if not k.startswith("_") and k != "step"})
        assert set(got) == set(expected)
        for k, v in expected.items():
            assert got[k] == pytest.approx(v, rel=1e-12), k
    assert np.isfinite([v for r in records for v in scalars(r).values()]).all()


@pytest.mark.parametrize(
    "logger, module, extra", [("tensorboard", "tensorboardX", "tensorboard"), ("wandb", "wandb", "wandb")]
)
def test_missing_logger_package_is_one_line_naming_the_extra(
    tiny_dataset_dir, tmp_path, capsys, monkeypatch, logger, module, extra
):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if the package were absent
    argv = ["train", "--env", TINY_ENV, "--preset", "tiny", "--dataset-dir", str(tiny_dataset_dir)]
    argv += ["--run-dir", str(tmp_path / "run"), "--no-progress", "--logger", logger]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pip install 'fidec[{extra}]'" in err
    assert not (tmp_path / "run").exists()  # nothing written before the check


def test_logger_names_are_checked():
    assert parse_loggers("none") == () and parse_loggers("wandb,tensorboard") == ("wandb", "tensorboard")
    with pytest.raises(ConfigError, match="unknown logger 'mlflow'"):
        parse_loggers("tensorboard,mlflow")


def test_metrics_log_appends_and_a_torn_append_reads_as_never_written(tmp_path):
    """metrics.jsonl and the CSVs grow by appends; a killed writer's torn last line is skipped on read and cut by
    the next append or resume; a new column rewrites that CSV with a header naming every column."""
    log = MetricsLog(tmp_path)
    log.append([{"kind": "train", "step": 10, "seed": 0, "loss": 1.0}, {"kind": "eval", "step": 10, "seed": 0}])
    first = (tmp_path / "metrics.jsonl").read_bytes()
    log.append([{"kind": "train", "step": 20, "seed": 0, "loss": 2.0}])
    assert (tmp_path / "metrics.jsonl").read_bytes().startswith(first)  # appended, not rewritten
    assert (tmp_path / "train.csv").read_text().splitlines() == ["step,seed,loss", "10,0,1.0", "20,0,2.0"]

    with open(tmp_path / "metrics.jsonl", "a") as f:  # a writer killed mid-append
        f.write('{"kind": "train", "loss": 3.0, "se')
    with open(tmp_path / "train.csv", "a") as f:
        f.write("30,0,")
    assert [r["step"] for r in log.records()] == [10, 10, 20]
    log.append([{"kind": "train", "step": 30, "seed": 0, "loss": 3.0, "phase": "online"}])  # a new column
    assert [r["step"] for r in log.records()] == [10, 10, 20, 30]
    assert (tmp_path / "train.csv").read_text().splitlines() == [
        "step,seed,loss,phase",
        "10,0,1.0,",
        "20,0,2.0,",
        "30,0,3.0,online",
    ]
    assert (tmp_path / "eval.csv").read_text().splitlines() == ["step,seed", "10,0"]

    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "ev')
    log.truncate_after(20)  # resume: the torn line and the records after the checkpoint go
    assert (tmp_path / "metrics.jsonl").read_text().endswith("\n")
    assert [r["step"] for r in log.records()] == [10, 10, 20]
    assert (tmp_path / "train.csv").read_text().splitlines() == ["step,seed,loss", "10,0,1.0", "20,0,2.0"]
