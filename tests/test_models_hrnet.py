import math

import pytest
import torch

from echomark.cli.main import main
from echomark.errors import ConfigError
from echomark.models import (
    HEAD_BIAS,
    VARIANTS,
    build_model,
    count_parameters,
    model_info,
    output_strides,
)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_forward_shapes_and_range_for_every_variant(variant: str) -> None:
    torch.manual_seed(0)
    model = build_model(variant, 3, 5).eval()
    with torch.no_grad():
        s4, s2 = model(torch.randn(1, 3, 64, 96))
    assert s4.shape == (1, 5, 16, 24)
    assert s2.shape == (1, 5, 32, 48)
    # What the training config checks the codec against is what the net outputs.
    assert [(64 // s, 96 // s) for s in output_strides(variant)] == [s4.shape[-2:], s2.shape[-2:]]
    for out in (s4, s2):
        assert torch.isfinite(out).all()
        assert float(out.min()) > 0 and float(out.max()) < 1


@pytest.mark.parametrize(("h", "w"), [(32, 32), (100, 60), (68, 132)])
def test_output_sizes_are_quarter_and_half_for_sizes_divisible_by_4(h: int, w: int) -> None:
    model = build_model("tiny", 1, 2).eval()
    with torch.no_grad():
        s4, s2 = model(torch.zeros(2, 1, h, w))
    assert s4.shape[-2:] == (math.ceil(h / 4), math.ceil(w / 4))
    assert s2.shape[-2:] == (math.ceil(h / 2), math.ceil(w / 2))


def test_initial_output_is_small_everywhere() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", 1, 3).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 1, 64, 64))
    expected = 1 / (1 + math.exp(-HEAD_BIAS))
    for out in outs:
        assert abs(float(out.mean()) - expected) < 2e-3


def test_input_channels_and_outputs_change_only_first_and_last_layers() -> None:
    base = count_parameters(build_model("w18", 1, 1))
    more_in = count_parameters(build_model("w18", 9, 1))
    more_out = count_parameters(build_model("w18", 1, 2))
    assert more_in - base == 8 * 9 * 64  # first conv: 3x3 kernels into 64 channels
    # one more channel: head4 (18*3*3 + 1), the deconv input (+1 x 32 x 3 x 3), head2 (32*9+1)
    assert more_out - base == (18 * 9 + 1) + 32 * 9 + (32 * 9 + 1)


def test_standard_widths_have_expected_sizes() -> None:
    # HRNet-W18/W32/W48 trunks with our heads: monotone and of the published order of size.
    sizes = {v: count_parameters(build_model(v, 3, 40)) / 1e6 for v in ("w18", "w32", "w48")}
    assert 9 < sizes["w18"] < 11
    assert 28 < sizes["w32"] < 31
    assert 63 < sizes["w48"] < 67


def test_unknown_variant_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown model variant"):
        build_model("w99", 1, 1)
    with pytest.raises(ConfigError):
        build_model("tiny", 0, 1)


def test_model_info_counts_conv_flops_as_twice_the_macs() -> None:
    info = model_info("tiny", 1, 2, (64, 64))
    stem_macs = 1 * 16 * 9 * 32 * 32  # first conv, stride 2: 32x32 outputs
    assert info.gflops * 1e9 > 2 * stem_macs
    assert info.params == count_parameters(build_model("tiny", 1, 2))
    # cost scales with area
    big = model_info("tiny", 1, 2, (128, 128))
    assert big.gflops == pytest.approx(4 * info.gflops, rel=1e-6)


def test_model_info_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "--variant", "tiny", "--size", "64", "--outputs", "3"]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "GFLOPs" in out and "3x16x16" in out
    assert main(["model-info", "--variant", "tiny", "--size", "64", "--json"]) == 0
    assert '"flops_convention": "2*MACs"' in capsys.readouterr().out
    assert main(["model-info", "--variant", "tiny", "--size", "30"]) == 2
