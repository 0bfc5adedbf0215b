"""Integration: echomark train on a tiny synthetic release-layout data set (real dataset)."""

import csv
import hashlib

import pytest

from echomark.cache.keys import ImageKey
from echomark.cache.writer import CacheWriter
from echomark.cli.main import main
from echomark.labels.io import write_labels
from echomark.labels.schema import LabelFile
from echomark.synth.cine import make_cine
from echomark.train import load_checkpoint


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    writer = CacheWriter(out)
    splits: dict[str, dict] = {"train": {}, "tune": {}}
    for v, (view, split) in enumerate([("PLAX", "train"), ("A4C", "train"), ("A4C", "tune")]):
        cine = make_cine(view, 7 + v, n_frames=4, label_frames=[0, 2], size=(96, 128))
        hex64 = hashlib.sha256(f"video-{v}".encode()).hexdigest()
        for frame, labels in cine.labels.items():
            key = ImageKey.parse(f"01-{hex64}-{frame:04d}.png")
            writer.write(key, cine.frames[frame])
            splits[split][key.name] = labels
    for split, images in splits.items():
        write_labels(LabelFile(images=images), out / f"labels-{split}.json")
    return out


def test_train_cli_on_synthetic_release_layout_learns(synth_dir, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    argv = [
        "train", "--quiet", "--out", str(run),
        "--set", f"data.images={synth_dir}", "--set", f"data.labels={synth_dir}",
        "--set", "data.views=[A4C]", "--set", "model.variant=tiny",
        "--set", "dataset.input_hw=[64, 64]", "--set", "dataset.resize=letterbox",
        "--set", "dataset.codec.sigma_point=2", "--set", "loss.foreground_alpha=10",
        "--set", "epochs=4", "--set", "batch_size=2", "--set", "workers=0",
        "--set", "device=cpu", "--set", "optim.lr=0.005", "--set", "threads=1",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "best:" in out and "last:" in out
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    losses = [float(r["train_loss"]) for r in rows]
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0]
    assert 0.0 <= float(rows[-1]["presence_accuracy"]) <= 1.0
    ck = load_checkpoint(run / "best.pt")
    assert ck.channels and all(c in ("point", "curve") for c in ck.kind_names)
    assert ck.train_config().data.views == ("A4C",) and ck.input_size == (64, 64)
