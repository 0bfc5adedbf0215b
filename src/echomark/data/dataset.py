"""The training/validation Dataset over the release layout (png-cache + label JSON)."""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from echomark.cache.keys import ImageKey
from echomark.cache.store import FrameStore, open_store
from echomark.data import transforms as tr
from echomark.data.config import DataConfig
from echomark.errors import CacheError, ConfigError, ImageKeyError
from echomark.heatmaps import encode
from echomark.labels.registry import LabelKind, load_registry
from echomark.labels.schema import ImageLabels, LabelFile
from echomark.labels.splits import read_split

UInt8Array = npt.NDArray[np.uint8]
Sample = dict[str, Any]

#: Extra rows/columns of the per-process noise field, so windows can be placed at random.
_NOISE_MARGIN = 256
#: Second seed word of the noise field's generator (distinct from any epoch number).
_NOISE_STREAM = 0x6E6F697365
#: Input px between the dense nodes that stand for a curve under an elastic warp: a spline
#: through nodes this close is the curve to < 0.01 px (a polyline, for curves with corners,
#: to ``0.5 / radius`` px), and encodes about as fast as the expert's nodes (1 px: 2x slower).
_ELASTIC_NODE_SPACING = 2.0


@dataclass(frozen=True)
class SkippedImage:
    """An image left out of a dataset built with ``skip_missing=True``.

    Attributes:
        key: The image key as written in the label file.
        reason: Why it was left out.
    """

    key: str
    reason: str


class FrameCache:
    """A least-recently-used cache of decoded frames bounded by a byte budget.

    Each process (DataLoader worker) holds its own copy, so the budget applies per worker.

    Args:
        max_bytes: Budget in bytes; 0 disables caching.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items: OrderedDict[str, UInt8Array] = OrderedDict()

    def get(self, name: str) -> UInt8Array | None:
        """The cached frame, or None (and marks it most recently used)."""
        item = self._items.get(name)
        if item is not None:
            self._items.move_to_end(name)
        return item

    def put(self, name: str, frame: UInt8Array) -> None:
        """Store ``frame`` unless it alone exceeds the budget; evict the oldest to fit."""
        if frame.nbytes > self.max_bytes or name in self._items:
            return
        frame.setflags(write=False)
        self._items[name] = frame
        self.nbytes += frame.nbytes
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes

    def __len__(self) -> int:
        return len(self._items)


def _read_labels(labels: str | os.PathLike[str] | LabelFile, split: str | None) -> LabelFile:
    if isinstance(labels, LabelFile):
        if split is not None:
            raise ConfigError(
                "split applies to a labels path (labels.zip, folder or .json), "
                "not to a LabelFile object",
                field="split",
            )
        return labels
    return read_split(Path(labels), split)


def default_channels(label_file: LabelFile) -> list[str]:
    """Registry names (in registry = channel order) that occur in ``label_file``."""
    present = set(label_file.label_names())
    return [name for name in load_registry() if name in present]


def _apply_lut(frame: UInt8Array, lut: UInt8Array) -> UInt8Array:
    return np.asarray(cv2.LUT(frame, lut), dtype=np.uint8).reshape(frame.shape)


class EchoDataset(Dataset[Sample]):
    """Images of the release layout with their heatmap targets, for training or validation.

    Every item is a dict:

    - ``image``: float32 tensor [C, H, W], ``x/255 - 0.5``, C = ``config.num_input_channels``
      (frames in ``config.frame_offsets`` order, each ``config.in_channels`` wide);
    - ``heatmaps``: list per stride of float32 tensors [K, h, w];
    - ``weights``: list per stride of float32 tensors [K];
    - ``matrix``: float64 tensor (3, 3) mapping source pixels to input pixels (its inverse
      maps predictions back; an elastic warp, ``augment.elastic_p``, comes on top of it);
    - ``key``: the image key.

    Training items are augmented with draws from ``(config.seed, epoch, index)``, so a
    sample is the same whatever the number of DataLoader workers; call :meth:`set_epoch`
    before each epoch (the epoch lives in shared memory, so persistent workers see it).
    Validation items are only fitted to the input size.

    Example (a release folder with ``png-cache.zip`` and ``labels.zip``)::

        ds = EchoDataset("data/png-cache.zip", "data/labels.zip", split="train",
                         config=DataConfig(frame_offsets=(-5, 0, 5)), train=True)
        loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=4,
                            persistent_workers=True, collate_fn=collate)
        for epoch in range(epochs):
            ds.set_epoch(epoch)
            for batch in loader: ...

    Args:
        images: ``png-cache.zip``, a png-cache folder (or its parent), or an open
            :class:`~echomark.cache.store.FrameStore`.
        labels: ``labels.zip``, a labels folder, a ``.json`` file, or a :class:`LabelFile`.
        split: ``all | train | tune | ival`` for a labels path (default ``all``).
        channels: Label names, one output channel each; default: registry names present in
            the label file.
        kinds: Kind per channel; default from the label registry.
        config: Image, augmentation and target settings.
        train: Augment (True) or only fit to the input size (False).
        skip_missing: Leave out images whose key is invalid or whose frame is not in the
            cache (listed in :attr:`skipped` and warned about) instead of raising.
        check_images: Also decode every labelled frame now (about 2 ms each), so corrupt
            PNGs are found at construction (left out with ``skip_missing``, else raised)
            rather than when the item is first read.

    Raises:
        ConfigError: on an unknown channel without ``kinds``, or ``kinds`` of the wrong
            length.
        CacheError: when ``images`` holds no png-cache; from reading an item whose frame is missing or corrupt (naming the key).
    """

    def __init__(
        self,
        images: str | os.PathLike[str] | FrameStore,
        labels: str | os.PathLike[str] | LabelFile,
        *,
        split: str | None = None,
        channels: Sequence[str] | None = None,
        kinds: Sequence[LabelKind] | None = None,
        config: DataConfig | None = None,
        train: bool = False,
        skip_missing: bool = False,
        check_images: bool = False,
    ) -> None:
        self.config = config if config is not None else DataConfig()
        self.train = train
        # Stores are fork- and pickle-safe: a zip store reopens its file handle lazily in
        # each process, so workers share the parent's index without re-reading it.
        self._store = images if isinstance(images, FrameStore) else open_store(images)
        self.label_file = _read_labels(labels, split)
        self.channels = (
            list(channels) if channels is not None else default_channels(self.label_file)
        )
        self.kinds = self._resolve_kinds(kinds)
        self.skipped: list[SkippedImage] = []
        self.keys: list[str] = []
        self._image_keys: list[ImageKey] = []
        store = self._store if (skip_missing or check_images) else None
        for name in sorted(self.label_file.images):
            try:
                key = ImageKey.parse(name)
            except ImageKeyError as exc:
                if not skip_missing:
                    raise
                self.skipped.append(SkippedImage(name, exc.message))
                continue
            if store is not None:
                problem = None
                if key not in store:
                    problem = "frame not in the png-cache"
                elif check_images:
                    try:
                        store.read(key)
                    except CacheError as exc:
                        problem = exc.message
                if problem is not None:
                    if not skip_missing:
                        raise CacheError(problem, file=store.location, key=name)
                    self.skipped.append(SkippedImage(name, problem))
                    continue
            self.keys.append(name)
            self._image_keys.append(key)
        if self.skipped:
            warnings.warn(
                f"EchoDataset: left out {len(self.skipped)} image(s) of "
                f"{self.label_file.source}: "
                + "; ".join(f"{s.key} ({s.reason})" for s in self.skipped[:5])
                + (" ..." if len(self.skipped) > 5 else ""),
                stacklevel=2,
            )
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._cache = FrameCache(self.config.cache_bytes)
        self._noise: npt.NDArray[np.float32] | None = None

    def _resolve_kinds(self, kinds: Sequence[LabelKind] | None) -> list[LabelKind]:
        if kinds is not None:
            if len(kinds) != len(self.channels):
                raise ConfigError(
                    f"{len(kinds)} kinds for {len(self.channels)} channels", field="kinds"
                )
            return [LabelKind(k) for k in kinds]
        registry = load_registry()
        unknown = [c for c in self.channels if c not in registry]
        if unknown:
            raise ConfigError(
                f"channel(s) not in the label registry (pass kinds=): {', '.join(unknown)}",
                field="channels",
            )
        return [registry[c].kind for c in self.channels]

    # --- store access -------------------------------------------------------------------

    @property
    def store(self) -> FrameStore:
        """The frame store (its file handles are opened lazily in each process).

        Note: never call ``cv2.setNumThreads`` inside a forked DataLoader worker once the
        parent has used OpenCV; it deadlocks (OpenCV's pthreads pool does not survive fork).
        """
        return self._store

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = FrameCache(self.config.cache_bytes)
        state["_noise"] = None
        return state

    def _read(self, key: ImageKey) -> UInt8Array:
        """One frame as uint8 (H, W, in_channels), through the RAM cache."""
        name = key.name
        frame = self._cache.get(name)
        if frame is None:
            try:
                raw = self.store.read(key)
            except CacheError as exc:
                raise CacheError(exc.message, file=exc.file, key=name) from exc
            frame = tr.to_channels(raw, self.config.in_channels)
            self._cache.put(name, frame)
        return frame

    def _frames(self, key: ImageKey) -> tuple[list[UInt8Array | None], tuple[int, int]]:
        """The frames at ``config.frame_offsets`` (None where a neighbour is missing)."""
        centre = self._read(key)
        frames: list[UInt8Array | None] = []
        for offset in self.config.frame_offsets:
            if offset == 0:
                frames.append(centre)
                continue
            index = key.frame + offset
            if not 0 <= index <= 9999:
                frames.append(None)
                continue
            neighbour_key = ImageKey(key.dataset_class, key.hex, index)
            if neighbour_key not in self.store:
                frames.append(None)
                continue
            frame = self._read(neighbour_key)
            if frame.shape != centre.shape:
                raise CacheError(
                    f"neighbour frame {neighbour_key.name} is {frame.shape[:2]}, "
                    f"the labelled frame {centre.shape[:2]}",
                    key=key.name,
                )
            frames.append(frame)
        return frames, (centre.shape[0], centre.shape[1])

    # --- items ----------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (seen by persistent workers too)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        """The current epoch."""
        return int(self._epoch.item())

    def __len__(self) -> int:
        return len(self.keys)

    def labels_of(self, index: int) -> ImageLabels:
        """The source-pixel labels of item ``index``."""
        return self.label_file.images[self.keys[index]]

    def __getitem__(self, index: int | tuple[int, int]) -> Sample:
        """Item ``index``; a tuple ``(epoch, index)`` overrides the stored epoch."""
        if isinstance(index, tuple):
            epoch, index = int(index[0]), int(index[1])
        else:
            epoch = self.epoch
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        key = self._image_keys[index]
        cfg = self.config
        frames, src_hw = self._frames(key)
        matrix = tr.fit_matrix(src_hw, cfg.input_hw, cfg.resize)
        rng = np.random.default_rng([cfg.seed, epoch, index]) if self.train else None
        aug = cfg.augment
        if rng is not None:
            matrix = tr.random_affine(rng, cfg.input_hw, aug) @ matrix
            lut = tr.random_intensity_lut(rng, aug)
            if lut is not None:
                frames = [None if f is None else _apply_lut(f, lut) for f in frames]
            if len(frames) > 1:
                if rng.random() < aug.drop_neighbours_p:
                    frames = [
                        f if o == 0 else None
                        for f, o in zip(frames, cfg.frame_offsets, strict=True)
                    ]
                elif rng.random() < aug.drop_centre_p:
                    frames = [
                        None if o == 0 else f
                        for f, o in zip(frames, cfg.frame_offsets, strict=True)
                    ]
        image = tr.warp_frames(frames, matrix, cfg.input_hw, cfg.in_channels)
        labels = self.labels_of(index)
        target_matrix = matrix
        field = tr.random_elastic_field(rng, cfg.input_hw, aug) if rng is not None else None
        if field is not None:
            # The warp is not affine, so the targets are rendered from labels already in
            # input pixels (curves as dense nodes, so they stay the warped curves).
            image = tr.elastic_warp_image(image, field)
            dense = tr.dense_input_labels(labels, matrix, _ELASTIC_NODE_SPACING)
            labels = tr.elastic_warp_labels(dense, field)
            target_matrix = tr.identity()
        if rng is not None:
            image = tr.random_conv(image, rng, aug)
            image = tr.random_blur(image, rng, aug)
            box = tr.random_erase_box(rng, cfg.input_hw, aug)
            if box is not None:
                y0, y1, x0, x1 = box
                image[y0:y1, x0:x1] = 0
        chw = tr.to_input(image)
        if rng is not None and rng.random() < aug.noise_p:
            self._add_noise(chw, rng, rng.uniform(0.0, aug.noise_std))
        encoded = encode(
            labels,
            self.channels,
            self.kinds,
            target_matrix,
            cfg.input_hw,
            cfg.codec,
        )
        return {
            "image": torch.from_numpy(chw),
            "heatmaps": [
                torch.from_numpy(np.ascontiguousarray(e.heatmaps, np.float32)) for e in encoded
            ],
            "weights": [
                torch.from_numpy(np.ascontiguousarray(e.weights, np.float32)) for e in encoded
            ],
            "matrix": torch.from_numpy(matrix),
            "key": self.keys[index],
        }

    def _add_noise(
        self, chw: npt.NDArray[np.float32], rng: np.random.Generator, std: float
    ) -> None:
        """Add Gaussian noise of ``std`` to every channel of ``chw`` in place.

        Drawing fresh normal variates costs ~3 ms per 608 x 608 channel, a fifth of the
        loader's budget; instead each channel takes a randomly placed window of a fixed
        noise field (one per process, seeded by ``config.seed``), which is as reproducible
        and costs one multiply-add.
        """
        c, h, w = chw.shape
        if (
            self._noise is None
            or self._noise.shape[0] < h + _NOISE_MARGIN
            or self._noise.shape[1] < w + _NOISE_MARGIN
        ):
            noise_rng = np.random.default_rng([self.config.seed, _NOISE_STREAM])
            self._noise = noise_rng.standard_normal(
                (h + _NOISE_MARGIN, w + _NOISE_MARGIN), dtype=np.float32
            )
        bank = self._noise
        for i in range(c):
            y0 = int(rng.integers(0, bank.shape[0] - h + 1))
            x0 = int(rng.integers(0, bank.shape[1] - w + 1))
            chw[i] += bank[y0 : y0 + h, x0 : x0 + w] * np.float32(std)


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack CPU tensors into a numpy-allocated buffer.

    numpy asks the kernel for transparent huge pages on large blocks and torch's CPU
    allocator does not (unless ``THP_MEM_ALLOC_ENABLE=1``), so filling a fresh ~170 MB
    heatmap batch page-faults about 3x less this way (measured: 3 vs 9.5 ms per sample).
    """
    return torch.from_numpy(np.stack([t.numpy() for t in tensors]))


def collate(samples: Sequence[Sample]) -> Sample:
    """Batch items of :class:`EchoDataset` (the result equals ``default_collate``'s).

    In a DataLoader worker this is ``torch.utils.data.default_collate``, which allocates the
    batch straight in shared memory; in the main process (``num_workers=0``) the stacks go
    into huge-page-backed numpy buffers, which is several times cheaper for the large
    heatmap targets (K x (152^2 + 304^2) float32 per sample at 608).

    Returns:
        ``image`` [B, C, H, W], per-stride ``heatmaps`` [B, K, h, w] and ``weights``
        [B, K], ``matrix`` [B, 3, 3] float64, ``key`` list of B strings.

    Raises:
        ValueError: for an empty batch.
    """
    if not samples:
        raise ValueError("cannot collate an empty batch")
    if get_worker_info() is not None:
        batch: Sample = default_collate(list(samples))
        return batch
    n_strides = len(samples[0]["heatmaps"])
    return {
        "image": _stack([s["image"] for s in samples]),
        "heatmaps": [_stack([s["heatmaps"][i] for s in samples]) for i in range(n_strides)],
        "weights": [_stack([s["weights"][i] for s in samples]) for i in range(n_strides)],
        "matrix": _stack([s["matrix"] for s in samples]),
        "key": [s["key"] for s in samples],
    }
