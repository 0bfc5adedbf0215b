"""Export a checkpoint to ONNX (opset 17, dynamic batch, one named output per stride).

The model's channels, kinds and resolved training config travel in the ONNX metadata, so an
exported file predicts on its own (``echomark predict --checkpoint model.onnx``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from echomark.data.spec import ModelSpec
from echomark.errors import ConfigError, InputError
from echomark.fileio import atomic_path
from echomark.labels.registry import LabelKind
from echomark.measure.qc import qc_beside, read_qc_config
from echomark.predict.engine import ONNX_INPUT, OnnxEngine, TorchEngine, onnx_output_name

#: Default ONNX opset.
OPSET = 17

#: Metadata keys written into the ONNX model.
META_CHANNELS = "echomark.channels"
META_KINDS = "echomark.kinds"
META_CONFIG = "echomark.config"
META_VARIANT = "echomark.variant"


def spec_from_checkpoint(ckpt: Any) -> ModelSpec:
    """The :class:`ModelSpec` of a loaded :class:`echomark.train.checkpoint.Checkpoint`."""
    data = ckpt.train_config().dataset
    return ModelSpec(tuple(ckpt.channels), tuple(ckpt.kinds), data, ckpt.variant)


def spec_from_card(card: Any, *, file: str = "") -> ModelSpec:
    """The :class:`ModelSpec` of a :class:`echomark.models.modelfile.ModelCard`.

    Raises:
        ConfigError: The card's config or kinds cannot be read.
    """
    from echomark.labels.registry import LabelKind
    from echomark.train.config import config_from_dict

    try:
        kinds = tuple(LabelKind(k) for k in card.kinds)
    except ValueError as exc:
        raise ConfigError(f"model card: {exc}", file=file, field="kinds") from None
    data = config_from_dict(card.config).dataset
    return ModelSpec(tuple(card.channels), kinds, data, card.variant)


#: Config entries that hold paths of the training machine (file names are kept).
_PATH_KEYS = (("data", "images"), ("data", "labels"), ("out_dir",), ("init",))


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A training config fit to share: its paths cut to their last part.

    Folders may name people or hosts; prediction needs none of them.

    >>> public_config({"data": {"images": "/home/ann/rel/png-cache.zip"}, "out_dir": "/x/run"})
    {'data': {'images': 'png-cache.zip'}, 'out_dir': 'run'}
    """
    out: dict[str, Any] = json.loads(json.dumps(dict(config), default=str))
    for path in _PATH_KEYS:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str) and node[path[-1]]:
            node[path[-1]] = Path(node[path[-1]]).name
    return out


def card_from_checkpoint(ckpt: Any) -> Any:
    """The :class:`~echomark.models.modelfile.ModelCard` describing a training checkpoint."""
    from dataclasses import asdict

    from echomark.models.modelfile import ModelCard

    config = ckpt.train_config()
    data = config.dataset
    # Only the file names of the training data: folders may name people or hosts.
    return ModelCard(
        variant=ckpt.variant,
        in_channels=ckpt.in_channels,
        input_size=tuple(ckpt.input_size),
        channels=list(ckpt.channels),
        kinds=list(ckpt.kind_names),
        codec=json.loads(json.dumps(asdict(data.codec), default=str)),
        config=public_config(ckpt.config),
        training={
            "images": Path(config.data.images).name,
            "labels": Path(config.data.labels).name,
            "train_split": config.data.train_split,
            "epochs": ckpt.epoch,
            "steps": ckpt.global_step,
            **({"init": init_record(ckpt.init)} if ckpt.init else {}),
        },
        metrics={k: float(v) for k, v in ckpt.metrics.items()},
    )


#: Card fields an exporter may add or merge (``export --card-json``).
CARD_EXTRA_KEYS = ("training_data", "notes", "metrics", "training")


def check_card_extra(raw: Any, *, file: str = "") -> dict[str, Any]:
    """Check extra card fields (``export --card-json``): known keys, right types.

    >>> check_card_extra({"training_data": "synthetic only", "metrics": {"ival_px": 0.9}})
    {'training_data': 'synthetic only', 'metrics': {'ival_px': 0.9}}

    Raises:
        ConfigError: Not an object, an unknown key, or a value of the wrong type (named).
    """
    from echomark.models.modelfile import card_metrics

    if not isinstance(raw, dict):
        raise ConfigError("card JSON must be an object", file=file)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in CARD_EXTRA_KEYS:
            raise ConfigError(
                f"unknown card field (expected one of: {', '.join(CARD_EXTRA_KEYS)})",
                file=file,
                field=str(key),
            )
        if key in ("training_data", "notes") and not isinstance(value, str):
            raise ConfigError("must be a string", file=file, field=key)
        if key == "training" and not isinstance(value, dict):
            raise ConfigError("must be an object", file=file, field=key)
        if key == "metrics":
            try:
                value = card_metrics(value)
            except TypeError as exc:
                raise ConfigError(str(exc), file=file, field=key) from None
        out[key] = value
    return out


def init_record(init: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's init record as a card shows it: the source's last path part only.

    >>> init_record({"source": "/home/x/runs/a/best.pt", "sha256": "ab"})
    {'source': 'best.pt', 'sha256': 'ab'}
    """
    out = dict(init)
    if "source" in out:
        out["source"] = Path(str(out["source"])).name
    return out


def export_model_dir(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    card_extra: dict[str, Any] | None = None,
    qc_file: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a checkpoint as a shareable model folder (safetensors weights + JSON card).

    Args:
        checkpoint: Checkpoint written by training.
        out_dir: The model folder to write.
        overwrite: Replace a non-empty ``out_dir``.
        card_extra: Card fields to add (see :func:`check_card_extra`): ``training_data``
            and ``notes`` replace, ``metrics`` and ``training`` merge into the card's own.
        qc_file: Quality-gate thresholds for the card (``measure --calibrate-qc`` output);
            default: those training saved beside the checkpoint, if any.

    Raises:
        InputError: ``qc_file`` is given but missing.
    """
    from echomark.models.modelfile import write_model_dir
    from echomark.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(Path(checkpoint), map_location="cpu")
    ckpt.build_model("cpu")  # refuse weights that do not fit their own metadata
    card = card_from_checkpoint(ckpt)
    if qc_file is not None and not Path(qc_file).is_file():
        raise InputError("quality-gate thresholds file not found", file=str(qc_file))
    qc_path = Path(qc_file) if qc_file is not None else qc_beside(checkpoint)
    if qc_path.is_file():
        # measure uses the thresholds calibrated with these weights; a copy travels with them
        card.qc = json.loads(read_qc_config(qc_path).to_json())
    extra = check_card_extra(card_extra or {})
    card.training_data = extra.get("training_data", card.training_data)
    card.notes = extra.get("notes", card.notes)
    card.metrics.update(extra.get("metrics", {}))
    card.training.update(extra.get("training", {}))
    return write_model_dir(out_dir, ckpt.model_state, card, overwrite=overwrite)


def spec_from_onnx_metadata(meta: dict[str, str], *, file: str = "") -> ModelSpec:
    """The :class:`ModelSpec` stored in an exported model's metadata.

    Raises:
        ConfigError: if the ONNX file was not written by ``echomark export``.
    """
    from echomark.train.config import config_from_dict

    try:
        channels = tuple(json.loads(meta[META_CHANNELS]))
        kinds = tuple(LabelKind(k) for k in json.loads(meta[META_KINDS]))
        config = config_from_dict(json.loads(meta[META_CONFIG]))
    except KeyError:
        raise ConfigError(
            "ONNX model has no echomark metadata (export it with `echomark export`)", file=file
        ) from None
    return ModelSpec(channels, kinds, config.dataset, meta.get(META_VARIANT, ""))


def export_onnx(
    checkpoint: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    *,
    opset: int = OPSET,
    batch: int = 1,
) -> Path:
    """Export a checkpoint to ONNX.

    Args:
        checkpoint: Checkpoint written by training.
        onnx_path: Destination ``.onnx`` (written atomically).
        opset: ONNX opset version.
        batch: Batch size of the tracing input (the batch axis is dynamic anyway).

    Returns:
        The written path.
    """
    import onnx
    import torch

    from echomark.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(Path(checkpoint), map_location="cpu")
    spec = spec_from_checkpoint(ckpt)
    model = ckpt.build_model("cpu")
    h, w = spec.data.input_hw
    dummy = torch.zeros(batch, ckpt.in_channels, h, w)
    outputs = [onnx_output_name(s) for s in spec.codec.strides]
    dest = Path(onnx_path)
    if dest.is_dir():
        raise InputError("is a folder; give a .onnx file name", file=str(dest))
    with atomic_path(dest) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                input_names=[ONNX_INPUT],
                output_names=outputs,
                dynamic_axes={ONNX_INPUT: {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
                opset_version=opset,
                dynamo=False,
            )
        proto = onnx.load(str(tmp))
        meta = {
            META_CHANNELS: json.dumps(list(ckpt.channels)),
            META_KINDS: json.dumps(list(ckpt.kind_names)),
            META_CONFIG: json.dumps(public_config(ckpt.config)),
            META_VARIANT: ckpt.variant,
        }
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return dest


def parity_check(
    checkpoint: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    *,
    batch: int = 2,
    seed: int = 0,
) -> float:
    """Largest absolute difference between PyTorch and onnxruntime outputs on random input.

    Args:
        checkpoint: The checkpoint that was exported.
        onnx_path: The exported model.
        batch: Batch size of the random input (exercises the dynamic batch axis).
        seed: Seed of the random input.

    Returns:
        ``max |ort - torch|`` over every output.
    """
    import numpy as np

    from echomark.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(Path(checkpoint), map_location="cpu")
    h, w = ckpt.train_config().dataset.input_hw
    rng = np.random.default_rng(seed)
    x = (rng.random((batch, ckpt.in_channels, h, w), dtype=np.float32) - 0.5).astype(np.float32)
    ref = TorchEngine(ckpt.build_model("cpu"))(x)
    got = OnnxEngine(onnx_path)(x)
    return max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True))
