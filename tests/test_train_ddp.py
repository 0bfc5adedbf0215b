import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_process_gloo_ddp_on_cpu_keeps_ranks_equal(tmp_path) -> None:
    script = tmp_path / "ddp_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            sys.path.insert(0, {str(TESTS)!r})
            from _train_fakes import FakeDataset, fake_config_dict
            from echomark.train import TrainData, load_config, run_training
            import torch.distributed as dist

            cfg = load_config(base=fake_config_dict({str(tmp_path / "out")!r}, epochs=2))
            data = TrainData(FakeDataset(6), FakeDataset(3, seed=1, train=False))
            result = run_training(cfg, data=data, progress=False)
            assert not dist.is_initialized()
            rank = os.environ["RANK"]
            with open({str(tmp_path)!r} + f"/digest-{{rank}}.txt", "w") as fh:
                fh.write(result.param_digest + " " + str(result.history[-1]["tune_loss"]))
            """
        )
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{_free_port()}",
        str(script),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d0 = (tmp_path / "digest-0.txt").read_text().split()
    d1 = (tmp_path / "digest-1.txt").read_text().split()
    assert d0 == d1  # same parameters and the same all-reduced tune loss on both ranks
    out = tmp_path / "out"
    assert (out / "last.pt").is_file() and (out / "metrics.csv").is_file()
    # rank 0 alone writes: exactly one config, the QC thresholds calibrated on the merged
    # tune pass beside each checkpoint, and no stray temp files
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt",
        "best.qc.json",
        "config.yaml",
        "last.pt",
        "last.qc.json",
        "metrics.csv",
    ]


@pytest.mark.parametrize("env", [{"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "0"}])
def test_dist_info_from_env(env: dict[str, str]) -> None:
    from echomark.train.distributed import dist_from_env

    info = dist_from_env(env)
    assert info.enabled and not info.is_main and info.local_rank == 0
