"""Typed training configuration: dataclasses, YAML loading, ``--set`` overrides, dumping.

A configuration is a tree of dataclasses. Files and overrides are plain dicts that are merged
onto the defaults and then converted field by field with type checks, so a misspelt key or a
value of the wrong type fails at load time with a :class:`~echomark.errors.ConfigError` naming
the field, never later in the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from echomark.data.config import DataConfig
from echomark.errors import ConfigError
from echomark.fileio import atomic_write_text
from echomark.models.hrnet import output_strides


class OptimizerName(str, Enum):
    """Optimiser family."""

    ADAMW = "adamw"
    """AdamW (decoupled weight decay)."""

    RADAM = "radam"
    """RAdam (rectified Adam; the reference recipe, decoupled weight decay here)."""


class ScheduleName(str, Enum):
    """Learning-rate schedule after the linear warm-up."""

    COSINE = "cosine"
    """Cosine decay per optimiser step from ``lr`` to ``lr * min_lr_ratio`` at the last step."""

    PLATEAU = "plateau"
    """Multiply by ``factor`` when the tune loss has not improved for ``patience`` epochs."""

    CONSTANT = "constant"
    """Keep ``lr``."""


class BestMetric(str, Enum):
    """Tune-split metric that selects ``best.pt`` (lower is better for all)."""

    LOSS = "loss"
    """Masked MSE on the tune split."""

    POINT_ERROR = "point_error_px"
    """Median point error in source pixels (falls back to the loss when undefined, ranked after every epoch where it is defined)."""

    SCORE = "score"
    """Median point error + median curve distance + 10 x presence error rate (px-like)."""


@dataclass(frozen=True)
class DataPaths:
    """Where the data is and which part of it to use.

    Attributes:
        images: ``png-cache.zip``, an extracted ``png-cache/`` folder or its parent.
        labels: ``labels.zip``, a folder of split files, or one ``.json`` label file.
        train_split: Split used for training (``train``, ``tune``, ``ival``, ``all``).
        tune_split: Split evaluated after every epoch; empty string: none.
        channels: Label names in network output order; empty: from ``views``.
        views: Views whose registry labels become the channels (when ``channels`` is empty);
            empty: every label in the registry.
        max_tune_images: Evaluate at most this many tune images per epoch (0: all).
    """

    images: str = ""
    labels: str = ""
    train_split: str = "train"
    tune_split: str = "tune"
    channels: tuple[str, ...] = ()
    views: tuple[str, ...] = ()
    max_tune_images: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """Network choice.

    Attributes:
        variant: Key of :data:`echomark.models.VARIANTS`; it fixes the heatmap strides
            (``dataset.codec.strides`` must equal :func:`echomark.models.output_strides`).
    """

    variant: str = "w32"


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule.

    Attributes:
        name: Optimiser family.
        lr: Peak learning rate.
        weight_decay: Decoupled weight decay (not applied to biases and BN parameters).
        betas: Adam betas.
        schedule: Schedule after the warm-up.
        warmup_epochs: Linear warm-up length in epochs (may be fractional), from
            ``lr * warmup_start`` to ``lr``.
        warmup_start: Warm-up start as a fraction of ``lr``.
        min_lr_ratio: Cosine end value as a fraction of ``lr``.
        patience: Plateau: epochs without improvement before decaying.
        factor: Plateau: multiplier applied on a plateau.
        threshold: Plateau: relative improvement that counts.
        grad_clip: Clip the global gradient norm to this (0: off).
        ema_decay: Keep an exponential moving average of the weights (and batch-norm
            statistics) with this decay per optimiser step, and evaluate, select and save
            the averaged weights (0: off). 0.9995 averages over about the last 2,000 steps.
    """

    name: OptimizerName = OptimizerName.ADAMW
    lr: float = 1e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: ScheduleName = ScheduleName.COSINE
    warmup_epochs: float = 1.0
    warmup_start: float = 0.01
    min_lr_ratio: float = 0.01
    patience: int = 10
    factor: float = 0.2
    threshold: float = 1e-4
    grad_clip: float = 0.0
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"must be > 0, got {self.lr}", field="optim.lr")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(
                f"must be in [0, 1) (0: off), got {self.ema_decay}", field="optim.ema_decay"
            )
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.grad_clip < 0:
            raise ConfigError(
                "weight_decay, warmup_epochs and grad_clip must be >= 0", field="optim"
            )
        if not 0 < self.factor < 1:
            raise ConfigError(f"must be in (0, 1), got {self.factor}", field="optim.factor")


@dataclass(frozen=True)
class LossConfig:
    """Masked, normalised MSE over both strides.

    The loss of one stride is ``sum((p - t)^2 * w) / sum(w)`` over batch, channels and pixels,
    with ``w = m * (1 + foreground_alpha * t)`` where ``m`` is the per-channel mask (1 point,
    curve or off, 0 blurred). The strides' losses are combined with ``stride_weights``.

    Attributes:
        foreground_alpha: Extra weight on target foreground (0: plain masked MSE). With
            sparse Gaussians most supervised pixels are background; alpha ~ 10-50 makes the
            peaks count.
        stride_weights: Weight of each output stride, same order as the codec strides.
    """

    foreground_alpha: float = 0.0
    stride_weights: tuple[float, ...] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.foreground_alpha < 0 or any(w < 0 for w in self.stride_weights):
            raise ConfigError("loss weights must be >= 0", field="loss")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved resolved as ``config.yaml`` with every run.

    Attributes:
        data: Data locations, splits and channels.
        dataset: Image preparation, augmentation and heatmap codec (engineer D's
            :class:`~echomark.data.config.DataConfig`).
        model: Network choice.
        optim: Optimiser and schedule.
        loss: Loss weighting.
        epochs: Number of training epochs.
        batch_size: Samples per optimiser step per process.
        workers: DataLoader worker processes per process (0: load in the main process).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: bfloat16 autocast on CUDA GPUs that run it natively (float32 elsewhere).
        channels_last: Use the channels-last memory format on CUDA (ignored on CPU).
        seed: Seed of model init, data order and augmentation.
        deterministic: Ask torch for deterministic algorithms (CPU runs are bit-reproducible).
        threads: CPU threads for torch (0: torch's default).
        best_metric: Tune metric that selects ``best.pt``.
        tune_every: Evaluate the tune split every this many epochs (and after the last).
        save_every: Also keep a copy of the checkpoint every this many epochs as
            ``epoch-NNN.pt`` (with its ``epoch-NNN.qc.json`` when the tune split was
            evaluated that epoch); 0 keeps only ``best.pt`` and ``last.pt``.
        out_dir: Run folder (config, metrics CSV, checkpoints).
        init: Start from the weights of this model instead of random ones: a named model
            (``echomark models``), a model folder or a checkpoint. Same variant and input
            channels required; with another label list only what fits is loaded (the
            output heads by label name). The optimiser and schedule start fresh; a resumed
            run ignores it (its weights come from the checkpoint). Empty: random weights.
    """

    data: DataPaths = field(default_factory=DataPaths)
    dataset: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 100
    batch_size: int = 8
    workers: int = 2
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    seed: int = 0
    deterministic: bool = True
    threads: int = 0
    best_metric: BestMetric = BestMetric.SCORE
    tune_every: int = 1
    save_every: int = 0
    out_dir: str = "runs/train"
    init: str = ""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "tune_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", field=name)
        if self.workers < 0 or self.threads < 0 or self.seed < 0:
            raise ConfigError("workers, threads and seed must be >= 0")
        if self.save_every < 0:
            raise ConfigError(f"must be >= 0 (0: off), got {self.save_every}", field="save_every")
        # The codec must target exactly the strides the network outputs, in its order;
        # otherwise the first loss fails (or, with matching counts, compares wrong sizes).
        model_strides = output_strides(self.model.variant)
        if tuple(self.dataset.codec.strides) != model_strides:
            raise ConfigError(
                f"codec strides {list(self.dataset.codec.strides)} do not match model variant "
                f"{self.model.variant!r}, which outputs strides {list(model_strides)}",
                field="dataset.codec.strides",
            )
        if len(self.loss.stride_weights) != len(self.dataset.codec.strides):
            raise ConfigError(
                f"{len(self.loss.stride_weights)} stride weights for "
                f"{len(self.dataset.codec.strides)} strides {tuple(self.dataset.codec.strides)}",
                field="loss.stride_weights",
            )


T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """A dataclass tree as plain YAML-safe data (enums by value, tuples as lists).

    >>> to_dict(ModelConfig("tiny"))
    {'variant': 'tiny'}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return to_dict(obj.value)
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (YAML data -> typed)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{value!r} fits none of {_type_name(tp)}", field=where)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping for {tp.__name__}, got {value!r}", field=where)
        return from_dict(tp, value, where=where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(str(m.value) for m in tp)
            raise ConfigError(f"{value!r} is not one of {choices}", field=where) from None
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"expected a list, got {value!r}", field=where)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"expected {len(args)} items, got {value!r}", field=where)
            items = [
                _convert(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list or tp is list else tuple(items)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping, got {value!r}", field=where)
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"expected true/false, got {value!r}", field=where)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"expected an integer, got {value!r}", field=where)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "5e-4" (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"expected a number, got {value!r}", field=where)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"expected a string, got {value!r}", field=where)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"expected {tp.__name__}, got {value!r}", field=where)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build dataclass ``cls`` from plain data, checking every key and type.

    Missing keys take the dataclass defaults.

    Raises:
        ConfigError: Unknown key, wrong type, or a value the dataclass rejects.

    >>> from_dict(ModelConfig, {"variant": "tiny"})
    ModelConfig(variant='tiny')
    >>> from_dict(ModelConfig, {"varient": "tiny"})
    Traceback (most recent call last):
    ...
    echomark.errors.ConfigError: varient: unknown key (expected one of: variant)
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown key (expected one of: {', '.join(fields)})", field=path)
        kwargs[key] = _convert(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if where and exc.field and not exc.field.startswith(where):
            raise ConfigError(exc.message, field=f"{where}.{exc.field}") from None
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), field=where or cls.__name__) from None


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not key=value", field="--set")
    key, _, raw = item.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"bad key in override {item!r}", field="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse value of {item!r}: {exc}", field=key) from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (values parsed as YAML) to a nested dict, in place.

    Keys must exist in ``TrainConfig``; types are checked when the config is built.

    A list or tuple key also takes comma-separated values (``dataset.input_hw=256,256``).

    >>> apply_overrides({}, ["optim.lr=0.01", "data.channels=[a, b]"])
    {'optim': {'lr': 0.01}, 'data': {'channels': ['a', 'b']}}
    >>> apply_overrides({}, ["dataset.input_hw=256,320", "data.views=PLAX"])
    {'dataset': {'input_hw': [256, 320]}, 'data': {'views': ['PLAX']}}
    """
    for item in overrides:
        parts, value = _parse_override(item)
        tp = _check_path(TrainConfig, parts)
        origin = typing.get_origin(tp)
        if origin in (list, tuple) or tp in (list, tuple):
            if isinstance(value, str) and value:
                value = [_scalar(v) for v in value.split(",")]
            elif not isinstance(value, list):
                value = [value]
        node = data
        for p in parts[:-1]:
            child = node.get(p)
            if not isinstance(child, dict):
                child = {}
                node[p] = child
            node = child
        node[parts[-1]] = value
    return data


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text.strip())
    except yaml.YAMLError:
        return text.strip()


def _check_path(cls: type, parts: list[str]) -> Any:
    """The type at field path ``parts`` of dataclass ``cls``; ConfigError when there is none."""
    tp: Any = cls
    for i, p in enumerate(parts):
        path = ".".join(parts[: i + 1])
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            raise ConfigError("not a section: cannot set a sub-key", field=path)
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        if p not in names:
            raise ConfigError(
                f"unknown key (expected one of: {', '.join(names)}; see "
                "`echomark train --list-keys`)",
                field=path,
            )
        tp = hints[p]
    return tp


def list_keys(cls: type = TrainConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every settable key of ``cls`` as ``(key, type, default)``, depth first.

    >>> [k for k in list_keys() if k[0] == "optim.lr"]
    [('optim.lr', 'float', '0.001')]
    """
    out: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            out += list_keys(tp, key + ".")
            continue
        default = getattr(instance, f.name)
        if isinstance(default, Enum):
            default = default.value
        if isinstance(default, tuple):
            default = list(default)
        name = getattr(tp, "__name__", None) if typing.get_origin(tp) is None else None
        if isinstance(tp, type) and issubclass(tp, Enum):
            name = " | ".join(str(m.value) for m in tp)
        out.append((key, name or str(tp).replace("typing.", ""), json.dumps(default)))
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


#: File suffix of config files; a shipped config is named by its file name without it.
CONFIG_SUFFIX = ".yaml"


def shipped_configs() -> list[str]:
    """Names of the configs that ship inside the package (``demo``, ``w32-gpu``...)."""
    folder = resources.files("echomark") / "configs"
    return sorted(
        entry.name.removesuffix(CONFIG_SUFFIX)
        for entry in folder.iterdir()
        if entry.name.endswith(CONFIG_SUFFIX)
    )


def config_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The YAML file meant by ``name_or_path``: an existing file, else a shipped config's name.

    A name is looked up among the package's configs (``demo`` or ``demo.yaml``), so
    ``--config w32-gpu`` works from any folder after ``pip install``; a file of that name in
    the working folder wins.

    >>> config_path("demo").name
    'demo.yaml'

    Raises:
        ConfigError: Neither a file nor a shipped config; the message lists the shipped ones.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path).removesuffix(CONFIG_SUFFIX)
    if path.parent == Path(".") and name in shipped_configs():
        return Path(str(resources.files("echomark") / "configs" / f"{name}{CONFIG_SUFFIX}"))
    raise ConfigError(
        f"no such config file, and not a shipped config (shipped: {', '.join(shipped_configs())})",
        file=str(name_or_path),
    )


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    base: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Read a YAML config (optional), apply ``--set`` overrides and build a TrainConfig.

    Args:
        path: YAML file with any subset of the TrainConfig tree, or the name of a shipped
            config (see :func:`config_path`).
        overrides: ``a.b=value`` strings, applied after the file.
        base: Extra plain data merged before the file (used by tests and the demo).

    Raises:
        ConfigError: Unreadable file, unknown key or bad value.
    """
    data: dict[str, Any] = {}
    if base:
        _merge(data, base)
    if path is not None:
        path = config_path(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config: {exc.strerror}", file=str(path)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"invalid YAML{where}: {problem}", file=str(path)) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise ConfigError("top level must be a mapping", file=str(path))
        _merge(data, loaded)
    apply_overrides(data, overrides)
    overridden = {item.partition("=")[0].strip(): item for item in overrides}
    try:
        return from_dict(TrainConfig, data)
    except ConfigError as exc:
        # Blame the --set that gave the bad value, not the file it overrode.
        field = exc.field or ""
        culprit = next(
            (
                k
                for k in overridden
                if field == k or field.startswith(k + ".") or k.startswith(field + ".")
            ),
            None,
        )
        if culprit is not None:
            raise ConfigError(
                exc.message, file=f"--set {overridden[culprit]}", field=exc.field
            ) from None
        if path is not None and exc.file is None:
            raise ConfigError(exc.message, file=str(path), field=exc.field) from None
        raise


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a TrainConfig from :func:`to_dict` output (e.g. stored in a checkpoint)."""
    return from_dict(TrainConfig, data)


def dump_config(config: TrainConfig) -> str:
    """The fully resolved config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(Path(path), dump_config(config))
