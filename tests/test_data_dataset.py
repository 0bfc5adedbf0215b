"""EchoDataset on a tiny hand-made release: items, augmentation, workers, neighbours, errors."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from echomark.cache.keys import VideoCode
from echomark.cache.writer import CacheWriter, zip_folder
from echomark.data import transforms as tr
from echomark.data.config import AugmentConfig, DataConfig, ResizeMode
from echomark.data.dataset import EchoDataset, collate
from echomark.errors import CacheError, ConfigError
from echomark.heatmaps.config import CodecConfig
from echomark.labels.registry import LabelKind
from echomark.labels.schema import Label, LabelFile

VIDEO_A = VideoCode("01", "a1" * 32)
VIDEO_B = VideoCode("01", "b2" * 32)
SRC_HW = (60, 90)  # wider than the input: crop/pad crops columns, pads rows
INPUT_HW = (64, 64)
POINT_XY = (40.3, 27.6)
CHANNELS = ["lv-apex-endo", "curve-lv-endo"]
CODEC = CodecConfig(strides=(4, 2), sigma_point=1.0, sigma_curve=1.0)
NO_AUG = AugmentConfig.none()


def frame_value(frame: int) -> int:
    """Grey level of a fixture frame: identifies the frame number."""
    return 20 + 10 * frame


def make_frame(frame: int) -> np.ndarray:
    """A constant frame with a Gaussian blob at POINT_XY (content moves with the labels)."""
    yy, xx = np.mgrid[0 : SRC_HW[0], 0 : SRC_HW[1]]
    blob = np.exp(-0.5 * ((xx - POINT_XY[0]) ** 2 + (yy - POINT_XY[1]) ** 2) / 1.5**2)
    return np.clip(frame_value(frame) + 100 * blob, 0, 255).round().astype(np.uint8)


def labels_for(frame: int) -> dict[str, Label]:
    curve = [[20.0, 10.0], [30.0, 30.0], [25.0 + frame, 50.0]]
    return {"lv-apex-endo": Label.point(*POINT_XY), "curve-lv-endo": Label.curve(curve)}


#: Labelled frames: A has frames 0..12 (so 0 lacks t-5, 10 lacks t+5), B only frame 3.
LABELLED = [VIDEO_A.frame(0), VIDEO_A.frame(5), VIDEO_A.frame(10), VIDEO_B.frame(3)]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    writer = CacheWriter(root)
    for f in range(13):
        writer.write(VIDEO_A.frame(f), make_frame(f))
    writer.write(VIDEO_B.frame(3), make_frame(3))
    zip_folder(root, root / "png-cache.zip")
    return root


def label_file(extra: dict[str, dict[str, Label]] | None = None) -> LabelFile:
    images = {k.name: labels_for(k.frame) for k in LABELLED}
    images.update(extra or {})
    return LabelFile(images=images, source="fixture")


def config(**kw: object) -> DataConfig:
    base = DataConfig(input_hw=INPUT_HW, codec=CODEC, augment=NO_AUG)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_validation_item_shapes_values_and_matrix(release: Path) -> None:
    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=config(), train=False)
    assert len(ds) == 4 and ds.kinds == [LabelKind.POINT, LabelKind.CURVE]
    item = ds[1]
    assert item["key"] == VIDEO_A.frame(5).name
    assert item["image"].dtype == torch.float32 and item["image"].shape == (1, 64, 64)
    m = tr.crop_pad_matrix(SRC_HW, INPUT_HW)
    np.testing.assert_array_equal(item["matrix"].numpy(), m)
    assert item["matrix"].dtype == torch.float64
    img = item["image"][0].numpy()
    # rows padded by 2 above and below, columns cropped from 13
    assert np.all(img[:2] == -0.5) and np.all(img[-2:] == -0.5)
    expected = make_frame(5)[:, 13:77].astype(np.float32) / 255 - 0.5
    np.testing.assert_allclose(img[2:62], expected, atol=1e-6)
    assert [tuple(h.shape) for h in item["heatmaps"]] == [(2, 16, 16), (2, 32, 32)]
    assert [tuple(w.shape) for w in item["weights"]] == [(2,), (2,)]
    assert all(h.dtype == torch.float32 for h in item["heatmaps"])
    # the point target peaks where the matrix puts the label
    px, py = tr.apply_to_points(m, [POINT_XY])[0]
    heat = item["heatmaps"][1][0].numpy()
    r, c = np.unravel_index(heat.argmax(), heat.shape)
    assert abs(c - px / 2) <= 0.5 and abs(r - py / 2) <= 0.5


def test_augmented_image_content_follows_matrix(release: Path) -> None:
    cfg = config(augment=AugmentConfig(gamma_p=0, contrast_p=0, noise_p=0, erase_p=0))
    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=cfg, train=True)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            m = item["matrix"].numpy()
            assert np.linalg.det(m[:2, :2]) > 0  # never a flip
            assert not np.array_equal(m, tr.crop_pad_matrix(SRC_HW, INPUT_HW))
            qx, qy = tr.apply_to_points(m, [POINT_XY])[0]
            if not (6 <= qx <= 57 and 6 <= qy <= 57):
                continue
            img = item["image"][0].numpy() + 0.5
            y0, x0 = round(qy), round(qx)
            win = img[y0 - 5 : y0 + 6, x0 - 5 : x0 + 6]
            win = win - np.median(win)
            yy, xx = np.mgrid[y0 - 5 : y0 + 6, x0 - 5 : x0 + 6]
            w = np.clip(win, 0, None)
            cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
            assert abs(cx - qx) < 0.6 and abs(cy - qy) < 0.6


def test_labels_path_and_zip_store(release: Path, tmp_path: Path) -> None:
    from echomark.labels.io import write_labels

    write_labels(label_file(), tmp_path / "labels-all.json")
    ds = EchoDataset(release / "png-cache.zip", tmp_path / "labels-all.json", config=config())
    assert ds.channels == CHANNELS  # registry order, names present in the file
    ref = EchoDataset(release, label_file(), channels=CHANNELS, config=config())
    assert torch.equal(ds[2]["image"], ref[2]["image"])


@pytest.mark.parametrize("in_channels", [1, 3])
def test_neighbour_frames_and_clip_ends(release: Path, in_channels: int) -> None:
    cfg = config(frame_offsets=(-5, 0, 5), in_channels=in_channels)
    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=cfg)
    assert cfg.num_input_channels == 3 * in_channels
    centre_px = (32, 20)  # (row, col) inside the frame, away from the blob
    expected = {  # frame -> values of frames t-5, t, t+5 (None = missing -> zeros)
        0: (None, 0, 5),
        5: (0, 5, 10),
        10: (5, 10, None),
    }
    for i, key in enumerate(LABELLED[:3]):
        item = ds[i]
        assert item["image"].shape == (3 * in_channels, 64, 64)
        assert item["image"].is_contiguous()
        for j, frame in enumerate(expected[key.frame]):
            chans = item["image"][j * in_channels : (j + 1) * in_channels]
            want = -0.5 if frame is None else frame_value(frame) / 255 - 0.5
            np.testing.assert_allclose(
                chans[:, centre_px[0], centre_px[1]].numpy(), want, atol=1e-6
            )
            if frame is None:
                assert torch.all(chans == -0.5)
    solo = ds[3]["image"]  # video B has no neighbours at all
    assert torch.all(solo[:in_channels] == -0.5) and torch.all(solo[2 * in_channels :] == -0.5)


def test_seeded_augmentation_reproducible_and_epoch_dependent(release: Path) -> None:
    ds = EchoDataset(
        release, label_file(), channels=CHANNELS, config=config(augment=AugmentConfig()), train=True
    )
    a, b = ds[1], ds[1]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["matrix"], b["matrix"])
    ds.set_epoch(1)
    c = ds[1]
    assert not torch.equal(a["matrix"], c["matrix"])
    assert torch.equal(ds[(0, 1)]["image"], a["image"])  # explicit (epoch, index)
    other = EchoDataset(
        release,
        label_file(),
        channels=CHANNELS,
        config=config(augment=AugmentConfig(), seed=1),
        train=True,
    )
    assert not torch.equal(other[1]["matrix"], a["matrix"])


def _epochs(ds: EchoDataset, loader: DataLoader, epochs: int) -> dict[tuple[int, str], dict]:
    out = {}
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for batch in loader:
            for j, key in enumerate(batch["key"]):
                out[(epoch, key)] = {
                    "image": batch["image"][j],
                    "matrix": batch["matrix"][j],
                    "heat": batch["heatmaps"][0][j],
                }
    return out


def test_workers_persistent_match_single_process(release: Path) -> None:
    cfg = config(augment=AugmentConfig(), frame_offsets=(-5, 0, 5))
    ds = EchoDataset(
        release / "png-cache.zip", label_file(), channels=CHANNELS, config=cfg, train=True
    )
    single = _epochs(ds, DataLoader(ds, batch_size=2, shuffle=True, collate_fn=collate), 2)
    ds2 = EchoDataset(
        release / "png-cache.zip", label_file(), channels=CHANNELS, config=cfg, train=True
    )
    loader = DataLoader(
        ds2, batch_size=2, shuffle=False, num_workers=2, persistent_workers=True, collate_fn=collate
    )
    multi = _epochs(ds2, loader, 2)
    assert single.keys() == multi.keys() and len(single) == 8
    for k in single:
        for field in ("image", "matrix", "heat"):
            assert torch.equal(single[k][field], multi[k][field]), (k, field)
    assert not torch.equal(
        single[(0, LABELLED[1].name)]["matrix"], single[(1, LABELLED[1].name)]["matrix"]
    )


def test_default_collate_also_works(release: Path) -> None:
    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=config())
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["image"].shape == (3, 1, 64, 64)
    assert [tuple(h.shape) for h in batch["heatmaps"]] == [(3, 2, 16, 16), (3, 2, 32, 32)]
    assert batch["matrix"].shape == (3, 3, 3) and len(batch["key"]) == 3


def test_missing_and_corrupt_images(release: Path, tmp_path: Path) -> None:
    missing = VIDEO_B.frame(7)
    lf = label_file({missing.name: labels_for(7)})
    ds = EchoDataset(release, lf, channels=CHANNELS, config=config())
    idx = ds.keys.index(missing.name)
    with pytest.raises(CacheError, match=missing.name):
        ds[idx]
    with pytest.warns(UserWarning, match="left out 1 image"):
        ds = EchoDataset(release, lf, channels=CHANNELS, config=config(), skip_missing=True)
    assert len(ds) == 4 and [s.key for s in ds.skipped] == [missing.name]

    bad_root = tmp_path / "bad"
    writer = CacheWriter(bad_root)
    for k in LABELLED:
        writer.write(k, make_frame(k.frame))
    writer.path(LABELLED[2]).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = EchoDataset(bad_root, label_file(), channels=CHANNELS, config=config())
    with pytest.raises(CacheError, match=LABELLED[2].name):
        ds[2]
    with pytest.raises(CacheError, match=LABELLED[2].name):
        EchoDataset(bad_root, label_file(), channels=CHANNELS, config=config(), check_images=True)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ds = EchoDataset(
            bad_root,
            label_file(),
            channels=CHANNELS,
            config=config(),
            check_images=True,
            skip_missing=True,
        )
    assert [s.key for s in ds.skipped] == [LABELLED[2].name] and len(ds) == 3


def test_channel_and_kind_checks(release: Path) -> None:
    with pytest.raises(ConfigError, match="not-a-label"):
        EchoDataset(release, label_file(), channels=["not-a-label"], config=config())
    ds = EchoDataset(
        release, label_file(), channels=["not-a-label"], kinds=[LabelKind.POINT], config=config()
    )
    assert ds.kinds == [LabelKind.POINT]
    with pytest.raises(ConfigError):
        EchoDataset(release, label_file(), split="train", config=config())


def test_ram_cache_avoids_rereading(release: Path) -> None:
    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=config(cache_bytes=10**6))
    calls = []
    store = ds.store
    original = store.read

    def counting(key: object) -> np.ndarray:
        calls.append(key)
        return original(key)  # type: ignore[arg-type]

    store.read = counting  # type: ignore[method-assign]
    first = ds[0]["image"]
    assert torch.equal(ds[0]["image"], first)
    assert len(calls) == 1
    tiny = EchoDataset(release, label_file(), channels=CHANNELS, config=config(cache_bytes=100))
    tiny[0]
    assert len(tiny._cache) == 0


def test_letterbox_mode_fits_whole_frame(release: Path) -> None:
    ds = EchoDataset(
        release, label_file(), channels=CHANNELS, config=config(resize=ResizeMode.LETTERBOX)
    )
    item = ds[1]
    m = item["matrix"].numpy()
    np.testing.assert_allclose(m, tr.letterbox_matrix(SRC_HW, INPUT_HW))
    px, py = tr.apply_to_points(m, [POINT_XY])[0]
    img = item["image"][0].numpy()
    r, c = np.unravel_index(img.argmax(), img.shape)
    assert abs(c - px) <= 1 and abs(r - py) <= 1


def test_missing_cache_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(CacheError):
        EchoDataset(tmp_path / "nowhere.zip", label_file(), channels=CHANNELS, config=config())


def test_transforms_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from echomark.data import DataConfig, fit_matrix, invert, transform_labels\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_config_gives_608_inputs_and_reference_strides(release: Path) -> None:
    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=DataConfig(), train=True)
    item = ds[0]
    assert item["image"].shape == (1, 608, 608)
    assert [tuple(h.shape) for h in item["heatmaps"]] == [(2, 152, 152), (2, 304, 304)]
    assert float(item["image"].min()) >= -0.5 - 0.2 and float(item["image"].max()) <= 0.5 + 0.2


def test_collate_equals_default_collate(release: Path) -> None:
    from torch.utils.data import default_collate

    ds = EchoDataset(release, label_file(), channels=CHANNELS, config=config(), train=False)
    items = [ds[i] for i in range(3)]
    ours, ref = collate(items), default_collate(items)
    assert ours["key"] == ref["key"]
    for name in ("image", "matrix"):
        assert ours[name].dtype == ref[name].dtype and torch.equal(ours[name], ref[name])
    for name in ("heatmaps", "weights"):
        for a, b in zip(ours[name], ref[name], strict=True):
            assert a.is_contiguous() and torch.equal(a, b)
    with pytest.raises(ValueError):
        collate([])
