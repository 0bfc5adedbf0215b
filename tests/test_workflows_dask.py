"""Curation on a Dask LocalCluster equals the single-process run, even when a worker dies."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from echomark.dicom.curate import CurateOptions, curate
from echomark.errors import CacheError, ConfigError
from echomark.synth.dicom import write_us_dicom
from echomark.workflows.curate import run_curation
from echomark.workflows.distributed import DaskTarget, parse_dask

distributed = pytest.importorskip("distributed")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    files = [write_us_dicom(tmp / "in" / f"s{s}.dcm", seed=40 + s, frames=24) for s in range(5)]
    single = tmp / "single"
    curate([str(f) for f in files], CurateOptions("01", single, ocr=False, chunk_frames=3))
    return tmp, [str(f) for f in files], _tree(single)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cl:  # fmt: skip
        yield cl


def test_two_workers_give_the_single_process_bytes(inputs, cluster, tmp_path):
    _, files, single = inputs
    out = tmp_path / "out"
    options = CurateOptions("01", out, ocr=False, chunk_frames=3)
    result, _ = run_curation(files, [], options, dask=cluster.scheduler_address)
    assert result.frames_written == 5 * 24
    assert _tree(out) == single


def test_killed_worker_then_rerun_loses_and_duplicates_nothing(inputs, cluster, tmp_path):
    _, files, single = inputs
    out = tmp_path / "out"
    options = CurateOptions("01", out, ocr=False, chunk_frames=2)
    with distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    errors: list[BaseException] = []

    def work():
        try:
            run_curation(files, [], options, dask=cluster.scheduler_address)
        except (CacheError, ConfigError) as exc:  # lost workers stop the run: resumable
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 60
    while len(list(out.rglob("*.png"))) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    at_kill = len(list(out.rglob("*.png")))
    os.kill(victim, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive()
    assert 10 <= at_kill < 5 * 24  # the worker died mid-run
    result, _ = run_curation(files, [], options, dask=cluster.scheduler_address)
    assert result.frames_written + result.frames_skipped == 5 * 24
    assert _tree(out) == single  # same files, same bytes: nothing lost, nothing extra
    manifest = (out / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 5 and len(set(manifest)) == len(manifest)


def test_dask_spec_parsing():
    assert parse_dask("local:3") == DaskTarget(workers=3)
    assert parse_dask("tcp://h:8786").address == "tcp://h:8786"
    for bad in ["local:0", "local:x", "h:8786", "tcp://"]:
        with pytest.raises(ConfigError):
            parse_dask(bad)


def test_prediction_over_a_png_cache_on_dask_equals_local_and_resumes(inputs, cluster, tmp_path):
    torch = pytest.importorskip("torch")
    from echomark.predict.api import run_prediction
    from echomark.workflows.distributed import SHARD_DIR, predict_on_dask
    from predict_helpers import tiny_checkpoint

    tmp, _, _ = inputs
    cache = str(tmp / "single")
    ckpt = str(tiny_checkpoint(tmp_path / "tiny.pt", head_bias=0.0, head_std=0.05))
    # The workers run torch on one thread each; on some CPUs a convolution's float sums
    # depend on the thread count, so the local run gets one thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_prediction([cache], checkpoint=ckpt, out=tmp_path / "local", batch_size=4,
                               ocr=False, stream=None)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    path, failed, ran = predict_on_dask([cache], checkpoint=ckpt, out=str(tmp_path / "dask"),
                                        dask=cluster.scheduler_address, batch_size=4)  # fmt: skip
    assert failed == [] and ran == 2  # 120 frames, shards of 16 batches of 4
    assert path.read_bytes() == local.json_path.read_bytes()
    shards = sorted((tmp_path / "dask" / SHARD_DIR).glob("*.json"))
    shards[1].unlink()  # as if its worker died before writing it
    path, _, ran = predict_on_dask([cache], checkpoint=ckpt, out=str(tmp_path / "dask"),
                                   dask=cluster.scheduler_address, batch_size=4)  # fmt: skip
    assert ran == 1 and path.read_bytes() == local.json_path.read_bytes()


def test_predict_dask_refuses_what_it_cannot_shard(tmp_path, capsys):
    from echomark.cli.main import main

    args = ["predict", str(tmp_path), "--checkpoint", str(tmp_path / "none.pt"),
            "--out", str(tmp_path / "o"), "--dask", "local:1", "--overlays"]  # fmt: skip
    assert main(args) == 2
    assert "--dask predicts png-caches with the torch engine only" in capsys.readouterr().err


def test_cli_dask_local_cluster(inputs, tmp_path, capsys):
    from echomark.cli.main import main

    _, files, single = inputs
    out = tmp_path / "out"
    # chunk size differs from the fixture's, which does not change a byte
    assert (
        main(["curate", *files, "--no-ocr", "--quiet", "--dask", "local:1", "--out", str(out)]) == 0
    )
    assert _tree(out) == single
    assert main(["curate", *files, "--dask", "local:1", "--workers", "2", "--out", str(out)]) == 2
    assert "--dask and --workers exclude each other" in capsys.readouterr().err
