"""The training loop: data, model, optimiser, per-epoch tune metrics, checkpoints, DDP.

``run_training`` is the one entry point (the CLI and the demo call it). The loop is a few
named functions: :func:`train_one_epoch`, :func:`evaluate` (:func:`tune_pass` then
:func:`summarise_tune`) and :func:`calibrate_qc`. Each checkpoint written after a tune pass
gets the quality-gate thresholds calibrated on that pass beside it (``best.qc.json``,
``last.qc.json``), which ``echomark measure`` uses with that checkpoint.

Reproducibility: before every epoch the python, numpy and torch generators are reseeded
from ``(seed, epoch, rank)``, the data order comes from ``DistributedSampler(seed).set_epoch``
and the dataset's own augmentation draws from ``(seed, epoch, index)``; with the optimiser
and schedule state restored, a run resumed from ``last.pt`` continues bit-identically on CPU.
(DataLoader workers persist across epochs, so a dataset that drew from the global generators
inside workers instead would only be reproducible with ``workers: 0``.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from echomark.data.spec import ModelSpec, decode_one
from echomark.errors import ConfigError
from echomark.evaluate.evaluation import compare_label
from echomark.fileio import atomic_path, atomic_write_text
from echomark.labels.registry import LabelKind
from echomark.labels.schema import ImageLabels
from echomark.measure.qc import QcConfig, calibrate, frame_peak, qc_beside
from echomark.models.precision import autocast
from echomark.progress import progress as progress_iter
from echomark.train.averaging import WeightEma
from echomark.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from echomark.train.config import (
    BestMetric,
    OptimizerName,
    TrainConfig,
    save_config,
    to_dict,
)
from echomark.train.distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sum,
    average_buffers,
    barrier,
    cleanup_distributed,
    dist_from_env,
    init_distributed,
)
from echomark.train.loss import heatmap_loss, masked_mse
from echomark.train.schedule import LrSchedule

_log = logging.getLogger(__name__)

#: Columns of ``metrics.csv`` in order.
CSV_COLUMNS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "tune_loss",
    "point_error_px",
    "curve_distance_px",
    "presence_accuracy",
    "n_points",
    "n_curves",
    "n_presence",
    "score",
    "epoch_s",
)


class LabelledDataset(Protocol):
    """What the loop needs from a dataset (``EchoDataset`` satisfies it).

    Items are dicts with ``image`` [C, H, W], ``heatmaps`` (list of [K, h, w] per stride),
    ``weights`` (list of [K]), ``matrix`` (3, 3) source -> input px and ``key``.
    """

    channels: list[str]
    kinds: list[LabelKind]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, Any]: ...

    def labels_of(self, index: int) -> ImageLabels:
        """Ground-truth labels of item ``index`` in source pixels."""
        ...


@dataclass
class TrainData:
    """The datasets of one run.

    Attributes:
        train: Training dataset (augmenting).
        tune: Dataset evaluated after each epoch, or None.
    """

    train: LabelledDataset
    tune: LabelledDataset | None = None


@dataclass
class TrainResult:
    """What a finished run produced.

    Attributes:
        best_path: ``best.pt`` (None on ranks other than 0).
        last_path: ``last.pt`` (None on ranks other than 0).
        history: One dict of metrics per epoch (the rows of ``metrics.csv``).
        out_dir: The run folder.
        param_digest: SHA-256 of the final parameters and buffers (equal on every rank).
    """

    best_path: Path | None
    last_path: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    out_dir: Path = Path()
    param_digest: str = ""
    epochs_run: int = 0
    start_epoch: int = 0


def preflight(dataset: Any, *, enabled: bool = True) -> int:
    """Read and decode every labelled frame (and its stacked neighbours) before training.

    A missing or corrupt frame would otherwise stop training mid-epoch inside a DataLoader
    worker; here it stops the run before the first step, naming the frame.

    Args:
        dataset: An :class:`~echomark.data.dataset.EchoDataset` (others are not checked).
        enabled: Show progress.

    Returns:
        Frames checked.

    Raises:
        CacheError: The first frame that is missing or does not decode, and how many more.
    """
    from echomark.cache.keys import ImageKey
    from echomark.errors import CacheError

    store = getattr(dataset, "store", None)
    keys = list(getattr(dataset, "keys", []))
    if store is None or not keys:
        return 0
    offsets = tuple(getattr(getattr(dataset, "config", None), "frame_offsets", (0,)))
    bad: list[tuple[str, str]] = []
    checked = 0
    for name in progress_iter(keys, len(keys), "checking frames", enabled=enabled, unit="frame"):
        key = ImageKey.parse(name)
        for off in offsets:
            index = key.frame + off
            if off and not (0 <= index <= 9999):
                continue
            frame_key = ImageKey(key.dataset_class, key.hex, index)
            if frame_key not in store:
                if off == 0:
                    bad.append((frame_key.name, "labelled frame is not in the png-cache"))
                continue
            try:
                store.read(frame_key)
                checked += 1
            except CacheError as exc:
                bad.append((frame_key.name, exc.message))
    if bad:
        name, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise CacheError(
            f"{why}{more}; nothing was trained: repair or re-curate the frame, or remove its "
            "labels, then start again",
            file=str(getattr(store, "location", "")),
            key=name,
        )
    return checked


def _schedule_changes(ckpt: Checkpoint, config: TrainConfig) -> list[str]:
    """How the learning-rate schedule of ``config`` differs from the checkpoint's run."""
    old = ckpt.config
    new = to_dict(config)
    changes = []
    if old.get("epochs") != new.get("epochs"):
        changes.append(f"epochs {old.get('epochs')} -> {new.get('epochs')}")
    old_optim, new_optim = old.get("optim") or {}, new.get("optim") or {}
    for key in sorted(set(old_optim) | set(new_optim)):
        if old_optim.get(key) != new_optim.get(key):
            changes.append(f"optim.{key} {old_optim.get(key)} -> {new_optim.get(key)}")
    return changes


def build_datasets(config: TrainConfig) -> TrainData:
    """The train and tune :class:`~echomark.data.dataset.EchoDataset` of ``config``."""
    from echomark.data.dataset import EchoDataset
    from echomark.labels.registry import channels_for_views

    d = config.data
    if not d.images or not d.labels:
        raise ConfigError("set data.images and data.labels", field="data")
    for what, value in (("data.images", d.images), ("data.labels", d.labels)):
        if not Path(value).exists():
            raise ConfigError("path does not exist", file=value, field=what)
    channels: list[str] | None = list(d.channels) or None
    if channels is None and d.views:
        channels = channels_for_views(d.views)
    train = EchoDataset(
        d.images,
        d.labels,
        split=d.train_split,
        channels=channels,
        config=config.dataset,
        train=True,
    )
    tune = None
    if d.tune_split:
        tune = EchoDataset(
            d.images,
            d.labels,
            split=d.tune_split,
            channels=train.channels,
            kinds=train.kinds,
            config=config.dataset,
            train=False,
        )
    if not train.channels:
        raise ConfigError("no label channels: set data.channels or data.views", field="data")
    return TrainData(train, tune)


def select_device(spec: str, info: DistInfo) -> torch.device:
    """Resolve ``auto``/``cpu``/``cuda``/``cuda:N`` (under DDP: ``cuda:LOCAL_RANK``)."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("CUDA requested but not available", field="device")
        if info.enabled:
            return torch.device("cuda", info.local_rank)
        return torch.device(spec)
    if spec != "cpu":
        raise ConfigError(f"unknown device {spec!r} (auto, cpu, cuda, cuda:N)", field="device")
    return torch.device("cpu")


def seed_everything(seed: int, *parts: int) -> None:
    """Reseed python, numpy and torch from ``(seed, *parts)`` (all >= 0)."""
    s = int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def _worker_init(worker_id: int) -> None:
    """Give numpy in each DataLoader worker a seed derived from torch's per-worker seed."""
    np.random.seed(torch.initial_seed() % 2**32)


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack items: image [B, C, H, W], heatmaps / weights per stride, matrix [B, 3, 3], keys."""
    n = len(samples[0]["heatmaps"])
    return {
        "image": torch.stack([s["image"] for s in samples]),
        "heatmaps": [torch.stack([s["heatmaps"][i] for s in samples]) for i in range(n)],
        "weights": [torch.stack([s["weights"][i] for s in samples]) for i in range(n)],
        "matrix": torch.stack([torch.as_tensor(s["matrix"]) for s in samples]),
        "key": [s["key"] for s in samples],
        "index": torch.as_tensor([int(s.get("index", -1)) for s in samples]),
    }


class _Indexed(Dataset[dict[str, Any]]):
    """Adds each item's dataset index (needed to look its ground truth up)."""

    def __init__(self, base: LabelledDataset, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.base[self.indices[i]])
        item["index"] = self.indices[i]
        return item


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or RAdam; no weight decay on biases and normalisation parameters."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    o = config.optim
    groups = [
        {"params": decay, "weight_decay": o.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if o.name is OptimizerName.ADAMW:
        return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas)
    return torch.optim.RAdam(groups, lr=o.lr, betas=o.betas, decoupled_weight_decay=True)


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    mf = torch.channels_last if channels_last else torch.contiguous_format
    out = dict(batch)
    out["image"] = batch["image"].to(device, non_blocking=True, memory_format=mf)
    out["heatmaps"] = [t.to(device, non_blocking=True) for t in batch["heatmaps"]]
    out["weights"] = [t.to(device, non_blocking=True) for t in batch["weights"]]
    return out


def _progress(iterable: Any, total: int, desc: str, enabled: bool) -> Iterator[Any]:
    return progress_iter(iterable, total, desc, enabled=enabled, unit="batch")


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader[dict[str, Any]],
    optimizer: torch.optim.Optimizer,
    schedule: LrSchedule,
    config: TrainConfig,
    device: torch.device,
    info: DistInfo,
    *,
    epoch: int,
    progress: bool,
    ema: WeightEma | None = None,
) -> float:
    """One pass over the training data; returns the mean loss over all processes' batches.

    With ``ema``, the weights' moving average is updated after every optimiser step.
    """
    model.train()
    plain = _unwrap(model)
    use_cl = config.channels_last and device.type == "cuda"
    total, count = 0.0, 0
    bar = _progress(loader, len(loader), f"epoch {epoch + 1}/{config.epochs}", progress)
    for batch in bar:
        b = _to_device(batch, device, use_cl)
        with autocast(device, config.amp):
            preds = model(b["image"])
        loss, _ = heatmap_loss(
            preds,
            b["heatmaps"],
            b["weights"],
            foreground_alpha=config.loss.foreground_alpha,
            stride_weights=config.loss.stride_weights,
        )
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at epoch {epoch + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.optim.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.update(plain)
        total += float(loss.detach())
        count += 1
    s, n = all_reduce_sum([total, float(count)], device, info)
    return s / max(n, 1.0)


@dataclass
class TuneOutcome:
    """Raw per-process tune results (merged across processes before summarising)."""

    loss_num: list[float] = field(default_factory=list)
    loss_den: list[float] = field(default_factory=list)
    stride_weights: tuple[float, ...] = ()
    point_errors: list[float] = field(default_factory=list)
    curve_distances: list[float] = field(default_factory=list)
    presence: list[bool] = field(default_factory=list)
    #: What the quality gate is calibrated from: label -> (confidence, error px) of each
    #: prediction drawn where the truth draws it, and each image's median label peak.
    qc_pairs: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    frame_peaks: list[float] = field(default_factory=list)


def tune_loader(
    dataset: LabelledDataset, config: TrainConfig, info: DistInfo, *, persistent: bool = False
) -> DataLoader[dict[str, Any]]:
    """This process's share of the tune split (every ``world_size``-th image), in order.

    ``persistent`` keeps the workers (and their frame caches) alive between tune passes.
    """
    n = len(dataset)
    if config.data.max_tune_images:
        n = min(n, config.data.max_tune_images)
    indices = list(range(info.rank, n, info.world_size))
    return DataLoader(
        _Indexed(dataset, indices),
        batch_size=config.batch_size,
        shuffle=False,
        num_workers=config.workers,
        collate_fn=collate,
        worker_init_fn=_worker_init,
        persistent_workers=persistent and config.workers > 0,
    )


def evaluate(
    model: nn.Module,
    dataset: LabelledDataset,
    config: TrainConfig,
    device: torch.device,
    info: DistInfo,
    *,
    channels: Sequence[str],
    kinds: Sequence[LabelKind],
    loader: DataLoader[dict[str, Any]] | None = None,
) -> dict[str, float]:
    """Tune-split loss and geometric metrics (source px), merged over every process.

    Each process evaluates every ``world_size``-th image (no padding, no duplicates).
    ``loader`` is one made by :func:`tune_loader` for ``dataset`` (made here when None).
    """
    return summarise_tune(
        tune_pass(
            model, dataset, config, device, info, channels=channels, kinds=kinds, loader=loader
        )
    )


def tune_pass(
    model: nn.Module,
    dataset: LabelledDataset,
    config: TrainConfig,
    device: torch.device,
    info: DistInfo,
    *,
    channels: Sequence[str],
    kinds: Sequence[LabelKind],
    loader: DataLoader[dict[str, Any]] | None = None,
) -> list[TuneOutcome]:
    """Every process's raw tune outcome (for :func:`summarise_tune` and :func:`calibrate_qc`).

    Arguments as for :func:`evaluate`.
    """
    if loader is None:
        loader = tune_loader(dataset, config, info)
    codec = config.dataset.codec
    use_cl = config.channels_last and device.type == "cuda"
    n_strides = len(codec.strides)
    out = TuneOutcome([0.0] * n_strides, [0.0] * n_strides, tuple(config.loss.stride_weights))
    kind_names = [LabelKind(k).value for k in kinds]
    # Decoded exactly as prediction decodes, so tune metrics measure what `predict` outputs.
    spec = ModelSpec(tuple(channels), tuple(kinds), config.dataset)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in loader:
            b = _to_device(batch, device, use_cl)
            with autocast(device, config.amp):
                preds = model(b["image"])
            preds = [p.float() for p in preds]
            for s, (p, t, w) in enumerate(zip(preds, b["heatmaps"], b["weights"], strict=True)):
                num, den = masked_mse(p, t, w, config.loss.foreground_alpha)
                out.loss_num[s] += float(num)
                out.loss_den[s] += float(den)
            maps = [p.cpu().numpy() for p in preds]
            for i in range(len(batch["key"])):
                index = int(batch["index"][i])
                matrix = batch["matrix"][i].numpy().astype(np.float64)
                pred_src = decode_one([m[i] for m in maps], spec, matrix)
                truth = dataset.labels_of(index)
                peak = frame_peak(pred_src)
                if peak is not None:
                    out.frame_peaks.append(peak)
                for name, kind in zip(channels, kind_names, strict=True):
                    rec = compare_label(
                        str(batch["key"][i]), name, truth.get(name), pred_src.get(name), kind=kind
                    )
                    if rec.truth_present is not None:
                        out.presence.append(rec.truth_present == rec.pred_present)
                    if rec.error_px is not None:
                        (out.point_errors if kind == "point" else out.curve_distances).append(
                            rec.error_px
                        )
                        if rec.conf is not None:
                            out.qc_pairs.setdefault(name, []).append((rec.conf, rec.error_px))
    model.train(was_training)
    return all_gather_objects(out, info)


def calibrate_qc(parts: Sequence[TuneOutcome], source: str) -> QcConfig:
    """Quality-gate thresholds from one tune pass.

    The same calibration as ``echomark measure --calibrate-qc`` (:func:`calibrate`, 5 px
    tolerance, thresholds resting on at least ``MIN_SUPPORT`` predictions), from the
    predictions the tune pass has already decoded. A pass that drew no
    label (an untrained model) gives the defaults, and says so in ``source``.

    >>> part = TuneOutcome(qc_pairs={"a": [(0.9, 1.0)] * 10 + [(0.3, 30.0)] * 2}, frame_peaks=[0.6])
    >>> calibrate_qc([part], "tune").threshold("a")
    0.9
    >>> calibrate_qc([TuneOutcome()], "tune").source
    'tune (no label predicted: defaults)'
    """
    conf: dict[str, list[float]] = {}
    errors: dict[str, list[float]] = {}
    for p in parts:
        for name, pairs in p.qc_pairs.items():
            conf.setdefault(name, []).extend(c for c, _ in pairs)
            errors.setdefault(name, []).extend(e for _, e in pairs)
    peaks = [x for p in parts for x in p.frame_peaks]
    if not conf and not peaks:
        return QcConfig(source=f"{source} (no label predicted: defaults)")
    return calibrate(conf, errors, peaks, source=source)


def snapshot_path(out_dir: Path, epoch: int) -> Path:
    """Where ``save_every`` keeps the checkpoint of one epoch.

    >>> snapshot_path(Path("runs/a"), 8).as_posix()
    'runs/a/epoch-008.pt'
    """
    return out_dir / f"epoch-{epoch:03d}.pt"


def _write_qc(checkpoint: Path, qc: QcConfig | None) -> None:
    """Save the thresholds beside a checkpoint just written (see :func:`qc_beside`).

    None (no tune pass on this epoch) removes an older file, which would not match.
    """
    path = qc_beside(checkpoint)
    if qc is None:
        path.unlink(missing_ok=True)
    else:
        tagged = replace(qc, source=f"{qc.source} ({checkpoint.name})")
        atomic_write_text(path, tagged.to_json() + "\n")


def summarise_tune(parts: Sequence[TuneOutcome]) -> dict[str, float]:
    """Merge processes' tune outcomes into the metrics of one epoch.

    The tune loss is the training loss computed over the whole split at once: per stride
    ``sum(num) / sum(den)``, combined with the stride weights.

    >>> m = summarise_tune([TuneOutcome([2.0], [4.0], (1.0,), [1.0, 3.0], [], [True, False])])
    >>> m["tune_loss"], m["point_error_px"], m["presence_accuracy"]
    (0.5, 2.0, 0.5)
    """
    nums = np.sum([p.loss_num for p in parts], axis=0)
    dens = np.sum([p.loss_den for p in parts], axis=0)
    weights = parts[0].stride_weights
    pe = [e for p in parts for e in p.point_errors]
    cd = [e for p in parts for e in p.curve_distances]
    pr = [x for p in parts for x in p.presence]
    nan = float("nan")
    m = {
        "tune_loss": float(
            sum(w * n / d for w, n, d in zip(weights, nums, dens, strict=True) if d > 0)
        )
        if dens.sum() > 0
        else nan,
        "point_error_px": float(np.median(pe)) if pe else nan,
        "curve_distance_px": float(np.median(cd)) if cd else nan,
        "presence_accuracy": float(np.mean(pr)) if pr else nan,
        "n_points": float(len(pe)),
        "n_curves": float(len(cd)),
        "n_presence": float(len(pr)),
    }
    terms = [m["point_error_px"], m["curve_distance_px"]]
    score = sum(t for t in terms if math.isfinite(t))
    if math.isfinite(m["presence_accuracy"]):
        score += 10.0 * (1.0 - m["presence_accuracy"])
    m["score"] = score if any(math.isfinite(t) for t in terms) else nan
    return m


#: Added to the loss that stands in for an undefined score or point error (nothing
#: predicted yet), so such an epoch never outranks one where the metric is defined.
_UNDEFINED_RANK = 1e9


def _selection_value(metrics: dict[str, float], which: BestMetric) -> float:
    """Value (lower is better) used to choose ``best.pt``; NaN when undefined.

    Without a score or point error (the model drew nothing on the tune split) the tune loss
    stands in, ranked after every epoch that has one: an untrained first epoch with a
    lower-valued loss must not stay ``best.pt``.

    >>> _selection_value({"score": 9.0, "tune_loss": 0.1}, BestMetric.SCORE)
    9.0
    >>> _selection_value({"score": math.nan, "tune_loss": 0.1}, BestMetric.SCORE) > 9.0
    True
    """
    if which is BestMetric.LOSS:
        return metrics.get("tune_loss", metrics.get("train_loss", math.nan))
    key = "point_error_px" if which is BestMetric.POINT_ERROR else "score"
    v = metrics.get(key, math.nan)
    return v if math.isfinite(v) else _UNDEFINED_RANK + metrics.get("tune_loss", math.nan)


def state_digest(model: nn.Module) -> str:
    """SHA-256 over every parameter and buffer (sorted by name), for equality checks."""
    h = hashlib.sha256()
    for name, t in sorted(_unwrap(model).state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare network inside a DDP wrapper (or the model itself)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        inner: nn.Module = model.module
        return inner
    return model


def _rng_state(config: TrainConfig, next_epoch: int) -> dict[str, Any]:
    # Tensors and plain types only, so checkpoints load with torch.load(weights_only=True).
    py_version, py_internal, py_gauss = random.getstate()
    np_algo, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [int(py_version), torch.tensor(py_internal, dtype=torch.int64), py_gauss],
        "numpy": [
            str(np_algo),
            torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        ],
        "torch": torch.get_rng_state(),
        "sampler": {"seed": config.seed, "epoch": next_epoch},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any] | None) -> None:
    if not state:
        return
    py_version, py_internal, py_gauss = state["python"]
    random.setstate((int(py_version), tuple(int(v) for v in py_internal.tolist()), py_gauss))
    np_algo, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state(
        (
            str(np_algo),
            np.asarray(np_keys.numpy(), dtype=np.uint32),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def write_metrics_csv(path: Path, history: Sequence[dict[str, float]]) -> None:
    """(Re)write ``metrics.csv`` atomically from the full history."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k, math.nan)) for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())


def _fmt(v: float) -> str:
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return str(int(v))
    return f"{v:.6g}"


class _Board:
    """TensorBoard scalars when the ``tensorboard`` package is installed; otherwise nothing."""

    def __init__(self, out_dir: Path, enabled: bool) -> None:
        self.writer: Any = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional; metrics.csv always exists
            return
        self.writer = SummaryWriter(str(out_dir / "tensorboard"))

    def log(self, row: dict[str, float]) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if k not in ("epoch", "step") and math.isfinite(v):
                self.writer.add_scalar(k, v, int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_training(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    progress: bool = True,
    data: TrainData | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    new_schedule: bool = False,
) -> TrainResult:
    """Train a model as ``config`` says; write ``config.yaml``, ``metrics.csv``, checkpoints.

    Under torchrun (``WORLD_SIZE`` > 1) every process calls this; rank 0 writes files.

    Args:
        config: The resolved configuration.
        resume: A ``last.pt`` to continue from (same model, channels and schedule);
            ``config.init`` is then ignored (the weights come from the checkpoint).
        progress: Show progress (a bar on a TTY, plain lines otherwise) and per-epoch
            lines on stderr.
        data: Datasets to use instead of building them from ``config.data``.
        on_epoch_end: Called with the epoch's metrics row after its checkpoint is written
            (e.g. to report progress; raising stops the run with ``last.pt`` intact).
        new_schedule: Resume even though epochs or optimiser settings changed (the
            learning-rate schedule continues under the new settings).

    Returns:
        Paths of ``best.pt`` / ``last.pt`` and the per-epoch metrics.

    Raises:
        ConfigError: Bad paths, channels or device; a resume checkpoint that does not match
            the config, or whose schedule differs without ``new_schedule``; an init model
            (``config.init``) that is unknown or of another variant or input channel count.
        CacheError: A labelled frame is missing or does not decode (before any step).
    """
    info = dist_from_env()
    device = select_device(config.device, info)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    init_distributed(info, device)
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.use_deterministic_algorithms(config.deterministic, warn_only=True)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = not config.deterministic
        return _run(config, resume, progress, data, info, device, on_epoch_end, new_schedule)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)
        cleanup_distributed(info)


def _run(
    config: TrainConfig,
    resume: str | Path | None,
    progress: bool,
    data: TrainData | None,
    info: DistInfo,
    device: torch.device,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    new_schedule: bool = False,
) -> TrainResult:
    from echomark.models import build_model

    out_dir = Path(config.out_dir)
    init_src = None
    if config.init and resume is None:
        from echomark.train.init import check_init, read_init

        # Read and check the init weights before the (possibly long) frame preflight.
        init_src = read_init(config.init)
        check_init(
            init_src,
            variant=config.model.variant,
            in_channels=config.dataset.num_input_channels,
        )
    built = data is None
    data = data if data is not None else build_datasets(config)
    if built:
        for split in (data.train, data.tune):
            if split is not None:
                preflight(split, enabled=progress and info.is_main)
    channels = list(data.train.channels)
    kinds = [LabelKind(k) for k in data.train.kinds]
    if len(data.train) == 0:
        raise ConfigError("the training split has no images", field="data.train_split")
    in_channels = config.dataset.num_input_channels
    ckpt: Checkpoint | None = None
    if resume is not None:
        ckpt = load_checkpoint(resume, map_location="cpu")
        differs = []
        if ckpt.variant != config.model.variant:
            differs.append(f"variant {ckpt.variant} (config: {config.model.variant})")
        if ckpt.channels != channels:
            gone = [c for c in ckpt.channels if c not in channels]
            new = [c for c in channels if c not in ckpt.channels]
            detail = (
                ", ".join([*(f"-{c}" for c in gone[:3]), *(f"+{c}" for c in new[:3])])
                or "same names, other order"
            )
            differs.append(f"{len(ckpt.channels)} channels (config: {len(channels)}; {detail})")
        if differs:
            raise ConfigError(
                "checkpoint differs from the config: "
                + "; ".join(differs)
                + "; resume with the run's own config.yaml",
                file=str(resume),
            )
        changes = _schedule_changes(ckpt, config)
        if changes and not new_schedule:
            raise ConfigError(
                "resuming with another learning-rate schedule ("
                + ", ".join(changes)
                + ") would silently restart it; keep the run's settings, or pass "
                "--new-schedule to continue with the new one",
                file=str(resume),
            )
    seed_everything(config.seed, 0)  # same initial weights on every rank
    model: nn.Module = build_model(config.model.variant, in_channels, len(channels))
    init_record: dict[str, Any] = {}
    if ckpt is not None:
        from echomark.models.modelfile import load_weights

        # A run that keeps a moving average saves it as model_state; training goes on from
        # the raw weights.
        trained = ckpt.model_state if ckpt.raw_model_state is None else ckpt.raw_model_state
        load_weights(model, trained, file=str(resume), variant=config.model.variant)
        init_record = dict(ckpt.init)  # the run's origin stays on record across resumes
    elif init_src is not None:
        from echomark.train.init import apply_init, data_differences

        report = apply_init(
            model,
            init_src,
            variant=config.model.variant,
            in_channels=in_channels,
            channels=channels,
        )
        init_record = report.record(init_src)
        if info.is_main:
            _log.info("%s", report.line())
            differs = data_differences(init_src, to_dict(config.dataset))
            if differs:
                _log.warning(
                    "the init model was trained with other data settings (%s); its weights "
                    "load, but it saw other images or targets",
                    "; ".join(differs),
                )
    model.to(device)
    if device.type == "cuda" and config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if info.enabled:
        if device.type == "cuda":
            # SyncBatchNorm only works on GPU modules (it raises on CPU under DDP).
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    ema: WeightEma | None = None
    if config.optim.ema_decay > 0:
        # a resumed run that kept an average goes on from it; any other starts a new one
        resumed = ckpt if ckpt is not None and ckpt.raw_model_state is not None else None
        try:
            ema = WeightEma(
                _unwrap(model),
                config.optim.ema_decay,
                state=None if resumed is None else resumed.model_state,
                updates=0 if resumed is None else resumed.ema_updates,
            )
        except KeyError as exc:
            raise ConfigError(
                f"cannot resume the weights' moving average: {exc.args[0]}", file=str(resume)
            ) from None
    optimizer = make_optimizer(model, config)
    sampler: DistributedSampler[Any] = DistributedSampler(
        data.train,  # type: ignore[arg-type]
        num_replicas=info.world_size,
        rank=info.rank,
        shuffle=True,
        seed=config.seed,
    )
    loader_gen = torch.Generator()
    loader: DataLoader[dict[str, Any]] = DataLoader(
        data.train,  # type: ignore[arg-type]
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.workers,
        collate_fn=collate,
        worker_init_fn=_worker_init,
        generator=loader_gen,
        pin_memory=device.type == "cuda",
        drop_last=len(sampler) > config.batch_size,
        # Workers live across epochs so their frame caches (DataConfig.cache_bytes) pay off;
        # EchoDataset draws augmentation from (seed, epoch, index), not from worker RNGs.
        persistent_workers=config.workers > 0,
    )
    tune = None if data.tune is None else tune_loader(data.tune, config, info, persistent=True)
    schedule = LrSchedule(optimizer, config.optim, len(loader), config.epochs)
    if info.is_main:
        _startup_summary(config, device, data, channels, in_channels, len(loader), info)
    start_epoch, step, best_value = 0, 0, math.inf
    history: list[dict[str, float]] = []
    if ckpt is not None:
        if ckpt.optimizer_state is not None:
            optimizer.load_state_dict(ckpt.optimizer_state)
        if ckpt.scheduler_state is not None:
            schedule.load_state_dict(ckpt.scheduler_state)
        _restore_rng(ckpt.rng_state)
        start_epoch, step = ckpt.epoch, ckpt.global_step
        best_value = math.inf if ckpt.best_value is None else float(ckpt.best_value)
        history = [dict(r) for r in ckpt.history]
        if info.is_main:
            _log.info(
                "resumed %s: %d of %d epochs done (step %d); optimiser, schedule and RNG "
                "restored; training epochs %d..%d",
                resume, ckpt.epoch, config.epochs, ckpt.global_step,
                min(ckpt.epoch + 1, config.epochs), config.epochs,
            )  # fmt: skip
    config_dict = to_dict(config)
    input_size = config.dataset.input_hw
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"
    board = _Board(out_dir, info.is_main)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, out_dir / "config.yaml")
    try:
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            seed_everything(config.seed, 1, epoch, info.rank)
            sampler.set_epoch(epoch)
            loader_gen.manual_seed(config.seed * 100003 + epoch)
            set_epoch = getattr(data.train, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(epoch)
            train_loss = train_one_epoch(
                model,
                loader,
                optimizer,
                schedule,
                config,
                device,
                info,
                epoch=epoch,
                progress=progress and info.is_main,
                ema=ema,
            )
            step += len(loader)
            average_buffers(_unwrap(model), info)
            # what is evaluated, selected and saved: the moving average when there is one
            served = _unwrap(model)
            if ema is not None:
                served = ema.module(served)
                average_buffers(served, info)
            row: dict[str, float] = {
                "epoch": float(epoch + 1),
                "step": float(step),
                "lr": schedule.lr,
                "train_loss": train_loss,
            }
            last_epoch = epoch + 1 == config.epochs
            qc: QcConfig | None = None
            if data.tune is not None and ((epoch + 1) % config.tune_every == 0 or last_epoch):
                parts = tune_pass(
                    served,
                    data.tune,
                    config,
                    device,
                    info,
                    channels=channels,
                    kinds=kinds,
                    loader=tune,
                )
                row.update(summarise_tune(parts))
                if info.is_main:
                    qc = calibrate_qc(parts, f"tune split, epoch {epoch + 1}")
            schedule.epoch_end(row.get("tune_loss", train_loss))
            row["epoch_s"] = time.perf_counter() - t0
            history.append(row)
            value = _selection_value(row, config.best_metric)
            improved = math.isfinite(value) and value < best_value
            if improved:
                best_value = value
            if info.is_main:
                rng = _rng_state(config, epoch + 1)
                ck = Checkpoint(
                    model_state=served.state_dict(),
                    config=config_dict,
                    channels=channels,
                    kind_names=[k.value for k in kinds],
                    variant=config.model.variant,
                    in_channels=in_channels,
                    input_size=input_size,
                    epoch=epoch + 1,
                    global_step=step,
                    metrics=row,
                    optimizer_state=optimizer.state_dict(),
                    scheduler_state=schedule.state_dict(),
                    rng_state=rng,
                    best_value=best_value if math.isfinite(best_value) else None,
                    history=history,
                    init=init_record,
                    raw_model_state=None if ema is None else _unwrap(model).state_dict(),
                    ema_updates=0 if ema is None else ema.updates,
                )
                save_checkpoint(ck, last_path)
                _write_qc(last_path, qc)
                if improved or not best_path.exists():
                    # The same payload: copy the file rather than serialise it a second time.
                    with atomic_path(best_path) as tmp:
                        shutil.copyfile(last_path, tmp)
                    _write_qc(best_path, qc)
                if config.save_every and (epoch + 1) % config.save_every == 0:
                    snapshot = snapshot_path(out_dir, epoch + 1)
                    with atomic_path(snapshot) as tmp:
                        shutil.copyfile(last_path, tmp)
                    _write_qc(snapshot, qc)
                write_metrics_csv(out_dir / "metrics.csv", history)
                board.log(row)
                if progress:
                    print(_epoch_line(row, config.epochs), file=sys.stderr, flush=True)
            barrier(info)
            if on_epoch_end is not None:
                on_epoch_end(dict(row))
    finally:
        board.close()
    return TrainResult(
        best_path=best_path if info.is_main else None,
        last_path=last_path if info.is_main else None,
        history=history,
        out_dir=out_dir,
        param_digest=state_digest(model),
        epochs_run=max(0, config.epochs - start_epoch),
        start_epoch=start_epoch,
    )


def _startup_summary(
    config: TrainConfig,
    device: torch.device,
    data: TrainData,
    channels: Sequence[str],
    in_channels: int,
    steps: int,
    info: DistInfo,
) -> None:
    """One log line saying what is about to run, and warnings on settings that waste it."""
    n_tune = 0 if data.tune is None else len(data.tune)
    h, w = config.dataset.input_hw
    _log.info(
        "train: device %s%s, model %s, input %dx%d x %d channel(s), %d labels, %d train + "
        "%d tune images, batch %d, %d steps/epoch, %d epochs -> %s",
        device, f" x {info.world_size} processes" if info.enabled else "", config.model.variant,
        h, w, in_channels, len(channels), len(data.train), n_tune, config.batch_size, steps,
        config.epochs, config.out_dir,
    )  # fmt: skip
    if config.optim.warmup_epochs >= config.epochs:
        _log.warning(
            "optim.warmup_epochs=%g is not shorter than epochs=%d: the learning rate never "
            "reaches optim.lr=%g",
            config.optim.warmup_epochs, config.epochs, config.optim.lr,
        )  # fmt: skip


def _epoch_line(row: dict[str, float], epochs: int) -> str:
    parts = [f"epoch {int(row['epoch'])}/{epochs}", f"loss {row['train_loss']:.5f}"]
    for key, label in (
        ("tune_loss", "tune {:.5f}"),
        ("point_error_px", "point {:.2f} px"),
        ("curve_distance_px", "curve {:.2f} px"),
        ("presence_accuracy", "presence {:.1%}"),
    ):
        v = row.get(key)
        if v is not None and math.isfinite(v):
            parts.append(label.format(v))
    parts.append(f"{row['epoch_s']:.1f} s")
    return "  ".join(parts)
