"""One HRNet (HigherHRNet-style two-stride heads) whose sizes are data, not code.

The trunk follows the MIT HRNet: a stride-4 stem, a stage of residual blocks, then stages 2-4
of parallel branches at strides 4, 8, 16 and 32 fused by summation. Only the stride-4 branch
feeds the heads (as in HigherHRNet): a k x k conv gives K heatmaps at stride 4; the stride-4
features concatenated with those logits are upsampled by a centred transposed conv to stride
2, refined by residual blocks and mapped to K heatmaps at stride 2. The stride-2 logits are a
learned correction added to the exactly upsampled stride-4 logits. Both outputs go through a
sigmoid.

Alignment: every stride-2 convolution is 3x3 with padding 1 and the transposed convolution is
3x3, stride 2, padding 1, output padding 1, so heatmap pixel ``i`` at stride ``s`` is centred on
input pixel ``s * i`` (docs/conventions.md). For an input of ``H x W`` divisible by 4 the outputs
are exactly ``H/4 x W/4`` and ``H/2 x W/2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from echomark.errors import ConfigError

#: BatchNorm momentum used throughout (PyTorch convention: weight of the new batch).
BN_MOMENTUM = 0.1


class BlockKind(str, Enum):
    """Residual block family."""

    BASIC = "basic"
    """Two 3x3 convs; output width = ``planes``."""

    BOTTLENECK = "bottleneck"
    """1x1, 3x3, 1x1 convs; output width = ``4 * planes``."""


@dataclass(frozen=True)
class StageSpec:
    """One multi-branch stage (HRNet stages 2-4).

    Attributes:
        widths: Channels of each branch, highest resolution first; branch ``b`` runs at
            stride ``4 * 2**b``.
        modules: Number of HRNet modules (each = per-branch blocks + a fusion).
        blocks: Residual blocks per branch per module.
        block: Block family of the branches.
    """

    widths: tuple[int, ...]
    modules: int
    blocks: int
    block: BlockKind = BlockKind.BASIC


@dataclass(frozen=True)
class HRNetSpec:
    """Every size of an HRNet variant.

    Attributes:
        stem_width: Channels of the two stride-2 stem convs.
        stage1_block: Block family of stage 1 (stride 4, one branch).
        stage1_planes: ``planes`` of the stage-1 blocks.
        stage1_blocks: Number of stage-1 blocks.
        stages: Stages 2, 3, 4.
        head_kernel: Kernel of the stride-4 output conv.
        deconv_width: Channels of the stride-2 refinement path.
        deconv_blocks: BASIC blocks after the upsampling to stride 2.
    """

    stem_width: int
    stage1_block: BlockKind
    stage1_planes: int
    stage1_blocks: int
    stages: tuple[StageSpec, ...]
    head_kernel: int = 3
    deconv_width: int = 32
    deconv_blocks: int = 4


def _std_stages(c: int) -> tuple[StageSpec, ...]:
    """HRNet-W``c`` stages 2-4 (1/4/3 modules, 4 BASIC blocks per branch)."""
    return (
        StageSpec((c, 2 * c), 1, 4),
        StageSpec((c, 2 * c, 4 * c), 4, 4),
        StageSpec((c, 2 * c, 4 * c, 8 * c), 3, 4),
    )


#: Named variants. "tiny" is for tests and the CPU demo; w18/w32/w48 are the standard HRNet
#: widths (Bottleneck stage 1 of 4 x 64 planes, BASIC blocks in stages 2-4).
VARIANTS: dict[str, HRNetSpec] = {
    "tiny": HRNetSpec(
        stem_width=16,
        stage1_block=BlockKind.BASIC,
        stage1_planes=16,
        stage1_blocks=1,
        stages=(
            StageSpec((16, 32), 1, 1),
            StageSpec((16, 32, 64), 1, 1),
            StageSpec((16, 32, 64, 128), 1, 1),
        ),
        deconv_width=16,
        deconv_blocks=1,
    ),
    "small": HRNetSpec(
        stem_width=32,
        stage1_block=BlockKind.BOTTLENECK,
        stage1_planes=16,
        stage1_blocks=2,
        stages=(
            StageSpec((16, 32), 1, 2),
            StageSpec((16, 32, 64), 2, 2),
            StageSpec((16, 32, 64, 128), 1, 2),
        ),
        deconv_width=24,
        deconv_blocks=2,
    ),
    "w18": HRNetSpec(64, BlockKind.BOTTLENECK, 64, 4, _std_stages(18), deconv_width=32),
    "w32": HRNetSpec(64, BlockKind.BOTTLENECK, 64, 4, _std_stages(32), deconv_width=32),
    "w48": HRNetSpec(64, BlockKind.BOTTLENECK, 64, 4, _std_stages(48), deconv_width=48),
}

#: Strides of the network's outputs, in output order (coarsest first). The same for every
#: variant: the stem's two stride-2 convs give stride 4, the transposed conv stride 2.
OUTPUT_STRIDES: tuple[int, ...] = (4, 2)

#: Bias of the output convs: sigmoid(-4.6) ~ 0.01, so an untrained net predicts "almost
#: nothing" everywhere, matching sparse targets and keeping early masked-MSE gradients sane.
HEAD_BIAS = -4.6


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=BN_MOMENTUM)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        self.conv1 = _conv3(cin, planes)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3(planes, planes)
        self.bn2 = _bn(planes)
        self.bn2.is_last_bn = True  # type: ignore[assignment]
        self.down = _projection(cin, planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block; shape [B, cin, H, W] -> [B, planes, H, W]."""
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3(planes, planes)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = _bn(cout)
        self.bn3.is_last_bn = True  # type: ignore[assignment]
        self.down = _projection(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block; shape [B, cin, H, W] -> [B, 4 * planes, H, W]."""
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


def _projection(cin: int, cout: int) -> nn.Module | None:
    if cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))


_BLOCKS: dict[BlockKind, type[BasicBlock] | type[Bottleneck]] = {
    BlockKind.BASIC: BasicBlock,
    BlockKind.BOTTLENECK: Bottleneck,
}


def _layer(kind: BlockKind, cin: int, planes: int, n: int) -> tuple[nn.Sequential, int]:
    """``n`` blocks of ``kind``; returns the layer and its output width."""
    cls = _BLOCKS[kind]
    layers: list[nn.Module] = []
    for _ in range(n):
        layers.append(cls(cin, planes))
        cin = planes * cls.expansion
    return nn.Sequential(*layers), cin


class HRModule(nn.Module):
    """Parallel branches followed by fusion by summation.

    Args:
        widths: Branch widths, highest resolution first.
        blocks: Residual blocks per branch.
        kind: Block family.
        outputs: Number of fused outputs (the first ``outputs`` branches); the network's
            very last module fuses only into the stride-4 branch, which alone feeds the heads
            (lower fusions would be unused parameters, which DDP rejects).
    """

    def __init__(
        self, widths: tuple[int, ...], blocks: int, kind: BlockKind, outputs: int | None = None
    ) -> None:
        super().__init__()
        expansion = _BLOCKS[kind].expansion
        if any(w % expansion for w in widths):
            raise ValueError(f"branch widths {widths} not divisible by {expansion}")
        self.branches = nn.ModuleList(_layer(kind, w, w // expansion, blocks)[0] for w in widths)
        n = len(widths)
        self.fuse = nn.ModuleList()
        for i in range(n if outputs is None else outputs):
            row = nn.ModuleList()
            for j in range(n):
                row.append(_fuse_path(widths[j], widths[i], j - i))
            self.fuse.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Run every branch, then give each branch the sum of all branches at its scale."""
        ys = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for i, row in enumerate(self.fuse):
            assert isinstance(row, nn.ModuleList)
            acc = ys[i]
            size = ys[i].shape[-2:]
            for j, path in enumerate(row):
                if j == i:
                    continue
                z = path(ys[j])
                if j > i:
                    z = F.interpolate(z, size=size, mode="nearest")
                acc = acc + z
            out.append(F.relu(acc))
        return out


def _fuse_path(cin: int, cout: int, levels: int) -> nn.Module:
    """Map branch ``j`` to branch ``i`` (``levels = j - i``); upsampling happens in forward."""
    if levels == 0:
        return nn.Identity()
    if levels > 0:
        return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))
    layers: list[nn.Module] = []
    for k in range(-levels):
        last = k == -levels - 1
        width = cout if last else cin
        layers += [_conv3(cin, width, 2), _bn(width)]
        if not last:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HRNet(nn.Module):
    """HRNet trunk with sigmoid heatmap heads at strides 4 and 2.

    Args:
        spec: Sizes (see :data:`VARIANTS`).
        in_channels: Image channels (1 grey, 3 colour, 3 x frames for neighbour frames).
        num_outputs: Heatmap channels K (one per label).

    Shapes:
        input ``[B, in_channels, H, W]`` -> ``[heatmaps_s4 [B, K, H/4, W/4],
        heatmaps_s2 [B, K, H/2, W/2]]`` for H, W divisible by 4; values in (0, 1).
    """

    def __init__(self, spec: HRNetSpec, in_channels: int, num_outputs: int) -> None:
        super().__init__()
        if in_channels < 1 or num_outputs < 1:
            raise ValueError("in_channels and num_outputs must be >= 1")
        self.spec = spec
        self.in_channels = in_channels
        self.num_outputs = num_outputs
        s = spec.stem_width
        self.stem = nn.Sequential(
            _conv3(in_channels, s, 2),
            _bn(s),
            nn.ReLU(inplace=True),
            _conv3(s, s, 2),
            _bn(s),
            nn.ReLU(inplace=True),
        )
        self.stage1, width = _layer(spec.stage1_block, s, spec.stage1_planes, spec.stage1_blocks)
        prev: tuple[int, ...] = (width,)
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for s_i, st in enumerate(spec.stages):
            self.transitions.append(_transition(prev, st.widths))
            last_stage = s_i == len(spec.stages) - 1
            self.stages.append(
                nn.Sequential(
                    *(
                        HRModule(
                            st.widths,
                            st.blocks,
                            st.block,
                            outputs=1 if last_stage and m == st.modules - 1 else None,
                        )
                        for m in range(st.modules)
                    )
                )
            )
            prev = st.widths
        top = prev[0]
        k = spec.head_kernel
        self.head4 = nn.Conv2d(top, num_outputs, k, padding=k // 2)
        d = spec.deconv_width
        self.up = nn.Sequential(
            nn.ConvTranspose2d(
                top + num_outputs, d, 3, stride=2, padding=1, output_padding=1, bias=False
            ),
            _bn(d),
            nn.ReLU(inplace=True),
        )
        self.refine = _layer(BlockKind.BASIC, d, d, spec.deconv_blocks)[0]
        self.head2 = nn.Conv2d(d, num_outputs, 3, padding=1)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Heatmaps at stride 4 and stride 2 (see class docstring)."""
        y = self.stage1(self.stem(x))
        xs = [y]
        for transition, stage in zip(self.transitions, self.stages, strict=True):
            assert isinstance(transition, nn.ModuleList)
            xs = [t(xs[min(b, len(xs) - 1)]) for b, t in enumerate(transition)]
            xs = stage(xs)
        feat = xs[0]
        logits4 = self.head4(feat)
        z = self.refine(self.up(torch.cat([feat, logits4], dim=1)))
        # The stride-2 head predicts a correction to the upsampled stride-4 logits, so a
        # channel cannot be "dead" at stride 2 while alive at stride 4 (saturated sigmoids
        # under MSE barely recover), and the finer head only has to learn the refinement.
        logits2 = self.head2(z) + upsample2_exact(logits4)
        return [torch.sigmoid(logits4), torch.sigmoid(logits2)]


def upsample2_exact(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling that keeps pixel ``i`` at stride ``s`` on input pixel ``s * i``.

    Output pixel ``j`` takes the value at position ``j / 2`` of the input (interpolating
    between neighbours for odd ``j``); the last row and column, beyond the input's last
    pixel, repeat it. Shape [B, K, h, w] -> [B, K, 2h, 2w].

    >>> upsample2_exact(torch.tensor([[[[0.0, 2.0]]]])).tolist()
    [[[[0.0, 1.0, 2.0, 2.0], [0.0, 1.0, 2.0, 2.0]]]]
    """
    h, w = x.shape[-2:]
    y = F.interpolate(x, size=(2 * h - 1, 2 * w - 1), mode="bilinear", align_corners=True)
    return F.pad(y, (0, 1, 0, 1), mode="replicate")


def _transition(prev: tuple[int, ...], widths: tuple[int, ...]) -> nn.ModuleList:
    """Per new branch: adapt width (existing branches) or downsample the last one (new)."""
    out = nn.ModuleList()
    for b, w in enumerate(widths):
        if b < len(prev):
            if prev[b] == w:
                out.append(nn.Identity())
            else:
                out.append(nn.Sequential(_conv3(prev[b], w), _bn(w), nn.ReLU(inplace=True)))
        else:
            out.append(nn.Sequential(_conv3(prev[-1], w, 2), _bn(w), nn.ReLU(inplace=True)))
    return out


def _init_weights(model: HRNet) -> None:
    """He init for convs, zero gamma on each block's last BN, small output heads.

    Zeroing the last BN of every residual block makes each block start as the identity, which
    trains from scratch (no ImageNet weights) more reliably.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            if getattr(m, "is_last_bn", False):
                nn.init.zeros_(m.weight)
    for head in (model.head4, model.head2):
        nn.init.normal_(head.weight, std=1e-3)
        assert head.bias is not None
        nn.init.zeros_(head.bias)
    assert model.head4.bias is not None
    nn.init.constant_(model.head4.bias, HEAD_BIAS)  # stride 2 inherits it through the upsampling


def output_strides(variant: str) -> tuple[int, ...]:
    """Heatmap strides of a variant's outputs, in output order (what the codec must use).

    Raises:
        ConfigError: Unknown variant (field ``model.variant``).

    >>> output_strides("w32")
    (4, 2)
    """
    if variant not in VARIANTS:
        raise ConfigError(
            f"unknown model variant {variant!r}; choose from {', '.join(VARIANTS)}",
            field="model.variant",
        )
    return OUTPUT_STRIDES


def build_model(variant: str, in_channels: int, num_outputs: int) -> nn.Module:
    """Build an HRNet by variant name.

    Args:
        variant: A key of :data:`VARIANTS` ("tiny", "small", "w18", "w32", "w48").
        in_channels: Image channels (1 grey, 3, or 3 x neighbour frames).
        num_outputs: Heatmap channels K.

    Returns:
        A module whose forward returns ``[stride-4 heatmaps, stride-2 heatmaps]`` (sigmoid).

    Raises:
        ConfigError: Unknown variant or non-positive channel counts.

    >>> m = build_model("tiny", 1, 2).eval()
    >>> [tuple(t.shape) for t in m(torch.zeros(1, 1, 64, 96))]
    [(1, 2, 16, 24), (1, 2, 32, 48)]
    """
    output_strides(variant)  # checks the name
    if in_channels < 1 or num_outputs < 1:
        raise ConfigError(
            f"in_channels ({in_channels}) and num_outputs ({num_outputs}) must be >= 1",
            field="model",
        )
    return HRNet(VARIANTS[variant], in_channels, num_outputs)
