"""Start a run from another model's weights (``train --init``): what fits is loaded, and said.

The source is a named model (:mod:`echomark.models.zoo`), a model folder or a training
checkpoint. It must be of the same network variant and take the same input channels. With
the same label list every tensor is loaded; with another one the trunk is loaded (tensors of
equal name and shape) and the label-dependent tensors (:data:`LABEL_TENSORS`) slice by slice
for the labels both lists share (output channel ``k`` of a head depends only on row ``k`` of
its weight and bias); the other labels' slices keep their fresh initialisation. Unlike
``--resume`` the optimiser, schedule and epoch count start from zero.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from echomark.errors import ConfigError

#: Tensors with one slice per label: their last K entries along axis 0 follow the label
#: list (the heads' outputs; the stride-2 branch's deconvolution also takes the stride-4
#: logits as input channels after the features). Checked for every variant by the tests.
LABEL_TENSORS = frozenset(
    {"head4.weight", "head4.bias", "up.0.weight", "head2.weight", "head2.bias"}
)

#: Data settings whose difference makes the init weights see other images or targets.
_DATA_KEYS = ("input_hw", "resize", "in_channels", "frame_offsets", "codec")


@dataclass
class InitSource:
    """Weights to start from, with what they are.

    Attributes:
        source: As the user gave it (a name or a path).
        path: The model folder or checkpoint file it resolved to.
        variant: Network variant of the weights.
        in_channels: Input channels of the weights.
        channels: Label names of the weights' output channels.
        state: The tensors.
        config: The training config the weights were trained with (plain data).
        sha256: Digest of the weights file, so a run records exactly what it started from.
    """

    source: str
    path: Path
    variant: str
    in_channels: int
    channels: list[str]
    state: dict[str, torch.Tensor]
    config: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


@dataclass
class InitReport:
    """What :func:`apply_init` loaded.

    Attributes:
        source: The init source as given.
        total: Tensors in the network.
        loaded: Tensors loaded whole.
        by_rows: Label-dependent tensors (:data:`LABEL_TENSORS`) copied slice by slice:
            the label-independent part whole, each shared label's slice by name.
        fresh: Tensors left at their fresh initialisation (names).
        head_copied: Labels whose slices were copied from the source.
        head_fresh: Labels whose slices start fresh (not in the source).
    """

    source: str
    total: int
    loaded: int
    by_rows: int = 0
    fresh: list[str] = field(default_factory=list)
    head_copied: list[str] = field(default_factory=list)
    head_fresh: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One log line with the counts."""
        if self.loaded == self.total:
            return (
                f"init from {self.source}: all {self.total} tensors loaded (same variant, "
                "input channels and labels); optimiser and schedule start fresh"
            )
        fresh_labels = ", ".join(self.head_fresh[:6]) + (
            ", ..." if len(self.head_fresh) > 6 else ""
        )
        heads = f"output heads: {len(self.head_copied)} labels copied by name"
        if self.head_fresh:
            heads += f", {len(self.head_fresh)} start fresh ({fresh_labels})"
        return (
            f"init from {self.source}: {self.loaded} of {self.total} tensors loaded whole, "
            f"{self.by_rows} label-dependent tensors label by label, {len(self.fresh)} "
            f"fresh; {heads}; optimiser and schedule start fresh"
        )

    def record(self, src: InitSource) -> dict[str, Any]:
        """What a checkpoint keeps about the init (``Checkpoint.init``)."""
        return {
            "source": self.source,
            "sha256": src.sha256,
            "variant": src.variant,
            "tensors_loaded": self.loaded,
            "tensors_total": self.total,
            "head_labels_copied": len(self.head_copied),
            "head_labels_fresh": list(self.head_fresh),
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_init(name_or_path: str | os.PathLike[str]) -> InitSource:
    """Read the weights ``train --init`` names.

    Raises:
        ConfigError: Unknown name (the known ones listed), a missing or unreadable file, or
            an ONNX model (its weights are not named tensors).
    """
    from echomark.models.modelfile import WEIGHTS_FILE, is_model_dir, read_model_dir
    from echomark.models.zoo import resolve_model
    from echomark.train.checkpoint import load_checkpoint

    source = os.fspath(name_or_path)
    path = resolve_model(source)
    if path.suffix.lower() == ".onnx":
        raise ConfigError(
            "an ONNX model cannot start training (its weights are not named tensors); give "
            "its checkpoint or model folder",
            file=source,
        )
    if is_model_dir(path):
        card, state = read_model_dir(path)
        folder = path if path.is_dir() else path.parent
        return InitSource(
            source=source,
            path=folder,
            variant=card.variant,
            in_channels=card.in_channels,
            channels=list(card.channels),
            state=state,
            config=card.config,
            sha256=_sha256(folder / WEIGHTS_FILE),
        )
    ckpt = load_checkpoint(path, map_location="cpu")
    return InitSource(
        source=source,
        path=path,
        variant=ckpt.variant,
        in_channels=ckpt.in_channels,
        channels=list(ckpt.channels),
        state=ckpt.model_state,
        config=ckpt.config,
        sha256=_sha256(path),
    )


def check_init(src: InitSource, *, variant: str, in_channels: int) -> None:
    """Refuse weights of another variant or input channel count, in one line.

    Raises:
        ConfigError: The variant or the input channels differ (both values named).
    """
    if src.variant != variant:
        raise ConfigError(
            f"the init model is an HRNet {src.variant}, this run trains an HRNet {variant}; "
            f"set model.variant={src.variant} to fine-tune it, or drop --init",
            file=src.source,
        )
    if src.in_channels != in_channels:
        raise ConfigError(
            f"the init model takes {src.in_channels} input channel(s), this run "
            f"{in_channels} (dataset.in_channels / frame_offsets); use the model's data settings",
            file=src.source,
        )


def data_differences(src: InitSource, run_dataset: Mapping[str, Any]) -> list[str]:
    """Data settings (input size, resize, codec...) in which the run differs from the init.

    The weights still load; they were trained to see other images or to draw other targets.

    >>> src = InitSource("m", Path("m"), "tiny", 1, [], {}, {"dataset": {"input_hw": [256, 256]}})
    >>> data_differences(src, {"input_hw": [128, 128]})
    ['dataset.input_hw [256, 256] -> [128, 128]']
    """
    theirs = src.config.get("dataset") or {}
    out = []
    for key in _DATA_KEYS:
        if key in theirs and key in run_dataset and theirs[key] != run_dataset[key]:
            out.append(f"dataset.{key} {theirs[key]} -> {run_dataset[key]}")
    return out


def apply_init(
    model: nn.Module,
    src: InitSource,
    *,
    variant: str,
    in_channels: int,
    channels: Sequence[str],
) -> InitReport:
    """Load what fits of ``src`` into ``model`` (freshly initialised) and say what.

    Raises:
        ConfigError: Another variant or input channel count, or no tensor fits at all.
    """
    from echomark.models.modelfile import load_weights

    check_init(src, variant=variant, in_channels=in_channels)
    own = model.state_dict()
    if list(src.channels) == list(channels):
        load_weights(model, src.state, file=src.source, variant=variant)
        return InitReport(src.source, total=len(own), loaded=len(own))
    shared = [c for c in channels if c in src.channels]
    k_mine, k_theirs = len(channels), len(src.channels)
    new_state: dict[str, torch.Tensor] = {}
    loaded, by_rows, fresh = 0, 0, []
    for name, mine in own.items():
        theirs = src.state.get(name)
        if name in LABEL_TENSORS:
            # Slices follow the labels: copy by name, even when the counts happen to agree.
            off = mine.shape[0] - k_mine
            fits = (
                theirs is not None
                and theirs.ndim == mine.ndim
                and tuple(theirs.shape[1:]) == tuple(mine.shape[1:])
                and theirs.shape[0] - k_theirs == off >= 0
            )
            if fits and theirs is not None and (shared or off):
                rows = mine.clone()
                rows[:off] = theirs[:off]
                for label in shared:
                    rows[off + list(channels).index(label)] = theirs[
                        off + src.channels.index(label)
                    ]
                new_state[name] = rows
                by_rows += 1
                continue
        elif theirs is not None and tuple(theirs.shape) == tuple(mine.shape):
            new_state[name] = theirs.to(mine.dtype)
            loaded += 1
            continue
        new_state[name] = mine
        fresh.append(name)
    if loaded == 0 and by_rows == 0:
        raise ConfigError(
            f"no tensor of the init model fits this HRNet {variant} (of {len(own)}); it is not "
            "an echomark HRNet of this variant",
            file=src.source,
        )
    model.load_state_dict(new_state)
    copied = shared if by_rows else []
    return InitReport(
        src.source,
        total=len(own),
        loaded=loaded,
        by_rows=by_rows,
        fresh=fresh,
        head_copied=copied,
        head_fresh=[c for c in channels if c not in copied],
    )
