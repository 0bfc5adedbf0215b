from pathlib import Path

import numpy as np
import onnx
import pytest

from echomark.cli.main import main
from echomark.predict.engine import OnnxEngine, TorchEngine
from echomark.predict.export import META_CHANNELS, export_onnx, parity_check
from echomark.train.checkpoint import load_checkpoint
from predict_helpers import CHANNELS, tiny_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("onnx")
    ckpt = tiny_checkpoint(d / "tiny.pt", input_hw=(64, 64))
    return ckpt, export_onnx(ckpt, d / "tiny.onnx")


def test_onnx_graph_names_opset_and_dynamic_batch(exported: tuple[Path, Path]) -> None:
    _, path = exported
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    assert [i.name for i in model.graph.input] == ["images"]
    assert [o.name for o in model.graph.output] == ["heatmaps_s4", "heatmaps_s2"]
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"
    meta = {p.key: p.value for p in model.metadata_props}
    assert META_CHANNELS in meta and CHANNELS[0] in meta[META_CHANNELS]


def test_onnxruntime_matches_pytorch_within_1e4(exported: tuple[Path, Path]) -> None:
    ckpt_path, path = exported
    ckpt = load_checkpoint(ckpt_path)
    x = np.random.default_rng(1).standard_normal((3, 1, 64, 64)).astype(np.float32) * 0.3
    ref = TorchEngine(ckpt.build_model())(x)
    got = OnnxEngine(path)(x)
    assert [a.shape for a in got] == [(3, 3, 16, 16), (3, 3, 32, 32)]
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-4, rtol=0)
    assert parity_check(ckpt_path, path) < 1e-4


def test_export_cli_with_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tiny_checkpoint(tmp_path / "t.pt", input_hw=(32, 48))
    rc = main(["export", "--checkpoint", str(ckpt), "--onnx", str(tmp_path / "t.onnx"), "--check"])
    assert rc == 0
    assert capsys.readouterr().out.strip().endswith(f"onnx: {tmp_path / 't.onnx'}")
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--onnx", "x.onnx"]) == 2
