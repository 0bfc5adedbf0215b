"""Shareable model files: safetensors weights plus a JSON model card, and weight-fit checks.

A model folder holds ``model.safetensors`` (tensors only; loading it cannot run code) and
``model.json`` (the card: variant, input channels and size, label channels and kinds, codec,
the resolved training config, training data and metrics). ``echomark export --model-dir``
writes one; ``predict`` and ``measure`` read it through ``--checkpoint DIR`` (or ``--model NAME``
for a folder in the model zoo, :mod:`echomark.models.zoo`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from echomark.errors import ConfigError, InputError

#: File names inside a model folder.
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"
#: Format marker of the card.
CARD_FORMAT = "echomark-model"
#: Bumped when the card layout changes incompatibly.
CARD_VERSION = 1


@dataclass
class ModelCard:
    """What a shared model is, beside its weights.

    Attributes:
        variant: Network variant (``tiny``, ``w18``, ``w32``...).
        in_channels: Network input channels.
        input_size: Network input (H, W) in px.
        channels: Label names in output-channel order.
        kinds: ``point`` / ``curve`` per channel.
        codec: Heatmap codec settings as plain data.
        config: The resolved training config as plain data (prediction rebuilds its data
            settings from it).
        training: Where the model was trained from: data sources, epochs, steps, and the
            weights it started from (``init``).
        metrics: Tune metrics of the exported epoch, plus any the exporter added (numbers,
            or text such as ``"118/120 frames"``).
        training_data: What the model was trained on, in words (e.g. "synthetic only: ...").
        notes: Anything else a user should know (intended use, known failures).
        qc: The quality-gate thresholds calibrated with the exported checkpoint (the JSON
            of ``best.qc.json``); ``echomark measure`` uses them with this model.
    """

    variant: str
    in_channels: int
    input_size: tuple[int, int]
    channels: list[str]
    kinds: list[str]
    codec: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float | str] = field(default_factory=dict)
    training_data: str = ""
    notes: str = ""
    qc: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: variant, input, labels, training data.

        >>> ModelCard("tiny", 1, (64, 64), ["a", "b"], ["point", "curve"]).summary()
        'HRNet tiny, 1 x 64x64 in, 2 labels (1 points, 1 curves)'
        """
        h, w = self.input_size
        points = sum(k == "point" for k in self.kinds)
        text = (
            f"HRNet {self.variant}, {self.in_channels} x {h}x{w} in, {len(self.channels)} labels "
            f"({points} points, {len(self.kinds) - points} curves)"
        )
        return f"{text}; trained on {self.training_data}" if self.training_data else text

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the card."""
        return {
            "format": CARD_FORMAT,
            "version": CARD_VERSION,
            "variant": self.variant,
            "in_channels": self.in_channels,
            "input_size": list(self.input_size),
            "channels": list(self.channels),
            "kinds": list(self.kinds),
            "codec": self.codec,
            "training": self.training,
            "metrics": {
                k: v for k, v in self.metrics.items() if isinstance(v, str) or math.isfinite(v)
            },
            "training_data": self.training_data,
            "notes": self.notes,
            **({"qc": self.qc} if self.qc else {}),
            "config": self.config,
        }


def card_from_dict(raw: Any, *, file: str = "") -> ModelCard:
    """Check and type a card's JSON.

    Raises:
        ConfigError: Not an echomark model card, a newer version, or a field missing or
            of the wrong type (named).
    """
    if not isinstance(raw, dict) or raw.get("format") != CARD_FORMAT:
        raise ConfigError(f'not an echomark model card (no "format": "{CARD_FORMAT}")', file=file)
    version = raw.get("version")
    if not isinstance(version, int) or version > CARD_VERSION:
        raise ConfigError(
            f"model card version {version!r} is not supported (this echomark reads "
            f"{CARD_VERSION}); upgrade echomark",
            file=file,
        )
    try:
        card = ModelCard(
            variant=_typed(raw, "variant", str),
            in_channels=_typed(raw, "in_channels", int),
            input_size=(int(raw["input_size"][0]), int(raw["input_size"][1])),
            channels=[str(c) for c in _typed(raw, "channels", list)],
            kinds=[str(k) for k in _typed(raw, "kinds", list)],
            codec=dict(raw.get("codec") or {}),
            config=_typed(raw, "config", dict),
            training=dict(raw.get("training") or {}),
            metrics=card_metrics(raw.get("metrics") or {}),
            training_data=_optional_text(raw, "training_data"),
            notes=_optional_text(raw, "notes"),
            qc=dict(raw.get("qc") or {}),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConfigError(f"malformed model card: {exc}", file=file) from None
    if len(card.kinds) != len(card.channels):
        raise ConfigError(
            f"model card lists {len(card.channels)} channels but {len(card.kinds)} kinds",
            file=file,
            field="kinds",
        )
    return card


def card_metrics(raw: Any) -> dict[str, float | str]:
    """A card's metrics: a mapping of names to numbers or short texts.

    >>> card_metrics({"ival_point_error_px": 0.9, "real_cine": "118/120 frames"})
    {'ival_point_error_px': 0.9, 'real_cine': '118/120 frames'}

    Raises:
        TypeError: Not a mapping, or a value that is neither a number nor a string (named).
    """
    if not isinstance(raw, Mapping):
        raise TypeError(f"field 'metrics' must be an object, got {type(raw).__name__}")
    out: dict[str, float | str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            out[str(key)] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[str(key)] = float(value)
        else:
            raise TypeError(f"metric {key!r} must be a number or a string, got {value!r}")
    return out


def _optional_text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _typed(raw: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in raw:
        raise KeyError(f"missing field {key!r}")
    value = raw[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"field {key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """True for a folder holding a model card, or a path naming the card or the weights."""
    p = Path(path)
    if p.is_dir():
        return (p / CARD_FILE).is_file()
    return p.name in (CARD_FILE, WEIGHTS_FILE) or p.suffix.lower() == ".safetensors"


def write_model_dir(
    out_dir: str | os.PathLike[str],
    state: Mapping[str, torch.Tensor],
    card: ModelCard,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``model.safetensors`` + ``model.json`` into ``out_dir``, whole or not at all.

    Both files are written into a temporary folder beside ``out_dir`` that is renamed into
    place at the end.

    Raises:
        InputError: ``out_dir`` is a file, or a non-empty folder without ``overwrite``.
    """
    from safetensors.torch import save_file

    dest = Path(out_dir)
    if dest.exists() and not dest.is_dir():
        raise InputError("exists and is not a folder; give a new folder name", file=str(dest))
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise InputError(
            "output folder is not empty; choose a new folder or pass --overwrite", file=str(dest)
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": CARD_FORMAT})
        (tmp / CARD_FILE).write_text(json.dumps(card.to_dict(), indent=1) + "\n", "utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read only the card of a model folder (or of the folder holding ``path``).

    Raises:
        ConfigError: No card, not JSON, or not an echomark model card.
    """
    p = Path(path)
    card_path = (p if p.is_dir() else p.parent) / CARD_FILE
    if not card_path.is_file():
        raise ConfigError(f"no {CARD_FILE} (not a model folder)", file=str(p))
    try:
        raw = json.loads(card_path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"model card is not JSON ({exc})", file=str(card_path)) from None
    return card_from_dict(raw, file=str(card_path))


def read_model_dir(path: str | os.PathLike[str]) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """Read a model folder (or its ``model.json`` / ``model.safetensors``).

    Raises:
        ConfigError: Missing files, a card that is not an echomark card, or weights that
            are not a safetensors file; each one line naming the file.
    """
    from safetensors.torch import load_file

    p = Path(path)
    folder = p if p.is_dir() else p.parent
    card_path, weights_path = folder / CARD_FILE, folder / WEIGHTS_FILE
    if not p.exists():
        raise ConfigError("model not found", file=str(p))
    if not card_path.is_file():
        raise ConfigError(
            f"no {CARD_FILE} beside the weights; a model folder from `echomark export "
            "--model-dir` holds both",
            file=str(folder),
        )
    if not weights_path.is_file():
        raise ConfigError(f"no {WEIGHTS_FILE} in the model folder", file=str(folder))
    card = read_card(folder)
    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as exc:  # safetensors raises its own error type for any bad header
        raise ConfigError(
            f"not a safetensors weights file ({str(exc).splitlines()[0] if str(exc) else exc!r})",
            file=str(weights_path),
        ) from None
    return card, state


def load_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    file: str = "",
    variant: str = "",
) -> None:
    """Load ``state`` into ``model``, or say in one line how the two differ.

    Raises:
        ConfigError: Missing or extra tensors (another variant) or tensors of other shapes
            (another channel list or input channel count), with the first difference named.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or extra:
        what = f"{len(missing)} missing tensors (e.g. {missing[0]})" if missing else ""
        what += ("; " if what else "") + (
            f"{len(extra)} unexpected tensors (e.g. {extra[0]})" if extra else ""
        )
        raise ConfigError(
            f"weights are not those of an HRNet {variant or '?'}: {what}; the file is of "
            "another variant or another program",
            file=file,
        )
    if shapes:
        name, got, want = shapes[0]
        first_out = next(iter(own))
        if name == first_out and len(got) == 4 and got[1] != want[1]:
            hint = f"the file takes {got[1]} input channels, the model {want[1]}"
        elif name.startswith("head") and got[0] != want[0]:
            hint = f"the file predicts {got[0]} label channels, the model {want[0]}"
        else:
            hint = "another variant or channel list"
        raise ConfigError(
            f"weights do not fit an HRNet {variant or '?'} ({hint}): {name} is "
            f"{list(got)} in the file, {list(want)} in the model",
            file=file,
        )
    model.load_state_dict(dict(state))
