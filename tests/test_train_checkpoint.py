import pytest
import torch

from echomark.errors import ConfigError
from echomark.models import build_model
from echomark.train import Checkpoint, load_checkpoint, load_config, save_checkpoint
from echomark.train.config import to_dict


def _checkpoint(state: dict[str, torch.Tensor]) -> Checkpoint:
    cfg = load_config(None, ["model.variant=tiny", "dataset.input_hw=[64, 64]"])
    return Checkpoint(
        model_state=state,
        config=to_dict(cfg),
        channels=["lv-apex-endo", "curve-lv-endo"],
        kind_names=["point", "curve"],
        variant="tiny",
        in_channels=1,
        input_size=(64, 64),
        epoch=3,
        global_step=30,
    )


def test_checkpoint_with_ddp_prefixes_loads_and_predicts_the_same(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("tiny", 1, 2).eval()
    ddp_state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = save_checkpoint(_checkpoint(ddp_state), tmp_path / "sub" / "last.pt")
    assert not list(path.parent.glob(".*tmp"))  # atomic write leaves no temp file
    ck = load_checkpoint(path, map_location="cpu")
    assert not any(k.startswith("module.") for k in ck.model_state)
    assert ck.kinds[1].value == "curve" and ck.epoch == 3 and ck.codec.strides == (4, 2)
    rebuilt = ck.build_model()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), rebuilt(x), strict=True):
            assert torch.equal(a, b)


def test_checkpoint_saved_on_a_gpu_loads_on_the_cpu(tmp_path, monkeypatch) -> None:
    # Make torch record every storage as living on cuda:0, as a file written on a GPU would.
    model = build_model("tiny", 1, 2)
    path = tmp_path / "gpu.pt"
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(
            _checkpoint(model.state_dict()).to_payload() | {"format": "echomark-checkpoint"}, path
        )
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            torch.load(path, weights_only=False)  # plain load tries to use the GPU
    ck = load_checkpoint(path, map_location="cpu")
    assert all(t.device.type == "cpu" for t in ck.model_state.values())
    assert ck.build_model() is not None


def test_non_checkpoints_are_rejected_with_config_error(tmp_path) -> None:
    raw = tmp_path / "weights-400.pt"
    torch.save(build_model("tiny", 1, 1).state_dict(), raw)
    with pytest.raises(ConfigError, match="not an echomark checkpoint"):
        load_checkpoint(raw)
    garbage = tmp_path / "bad.pt"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot read"):
        load_checkpoint(garbage)
    with pytest.raises(ConfigError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
