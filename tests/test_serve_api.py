"""The annotator's HTTP API: every endpoint, bad keys, traversal, malformed bodies, tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    # starlette 1.x prefers httpx2 for its TestClient; httpx still works
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from echomark.errors import InputError
from echomark.labels.io import read_labels
from echomark.serve.app import check_bind, create_app
from echomark.serve.workspace import open_workspace
from echomark.synth import DatasetConfig, write_dataset
from serve_helpers import assert_cli_validates_strict

CFG = DatasetConfig(
    n_videos=2, n_external=1, frames_per_video=5, labelled_per_video=2, size=(120, 160)
)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, CFG)
    return out


def _client(synth: Path, tmp_path: Path, **kw: object) -> tuple[TestClient, Path]:
    labels = tmp_path / "mine.json"
    ws = open_workspace(
        synth / "png-cache.zip",
        labels,
        user="alice",
        layers={"release": synth / "labels.zip"},
        predictions=kw.pop("predictions", None),  # type: ignore[arg-type]
        splits=synth / "labels.zip",
    )
    return TestClient(create_app(ws, **kw)), labels  # type: ignore[arg-type]


@pytest.fixture
def api(synth: Path, tmp_path: Path) -> tuple[TestClient, Path]:
    return _client(synth, tmp_path)


def _first_key(client: TestClient) -> str:
    return client.get("/api/frames?limit=1").json()["items"][0]["key"]


POINT = [{"type": "point", "x": [40.5], "y": [30.25], "straight_segment": [0]}]
CURVE = [{"type": "curve", "x": [10, 50, 90], "y": [60, 40, 60], "straight_segment": [1, 0, 0]}]


def test_info_and_index(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    info = client.get("/api/info").json()
    assert info["user"] == "alice"
    assert info["frames"] == 15
    assert info["classes"] == ["01", "02"]
    assert "train" in info["splits"]
    assert info["layers"] == ["release"]
    assert {"PLAX", "A4C"} <= set(info["views"])
    assert any(r["name"] == "lv-ivs-top" and r["colour"].startswith("#") for r in info["registry"])
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_videos_and_frames_paging_and_filters(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    vids = client.get("/api/videos").json()
    assert vids["total"] == 3 and all(v["frames"] == [0, 1, 2, 3, 4] for v in vids["items"])
    page = client.get("/api/frames?offset=3&limit=4").json()
    assert page["total"] == 15 and len(page["items"]) == 4 and page["offset"] == 3
    assert len(client.get("/api/frames?class=02").json()["items"]) == 5
    video = vids["items"][0]["video"]
    assert client.get(f"/api/frames?video={video}").json()["total"] == 5
    assert client.get("/api/frames?split=train").json()["total"] >= 1
    assert client.get("/api/frames?state=unlabelled").json()["total"] == 15
    assert client.get("/api/frames?state=labelled").json()["total"] == 0
    assert client.get("/api/frames?rater=release").json()["total"] == 4
    views = client.get("/api/info").json()["views"]
    total = sum(client.get(f"/api/frames?view={v}&class=01").json()["total"] for v in views)
    assert total >= 10


def test_frame_image_thumb(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    key = _first_key(client)
    r = client.get(f"/api/frames/{key}/image")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    t = client.get(f"/api/frames/{key}/thumb?size=48")
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg"
    f = client.get(f"/api/frames/{key}").json()
    assert f["labels"] == {} and f["key"] == key and f["frame"] == 0
    assert isinstance(f["version"], str)


def test_put_labels_saves_v2_with_user_and_time(
    api: tuple[TestClient, Path], tmp_path: Path
) -> None:
    client, labels = api
    key = _first_key(client)
    version = client.get(f"/api/frames/{key}").json()["version"]
    body = {
        "version": version,
        "labels": {
            "lv-ivs-top": POINT,
            "curve-lv-endo": CURVE,
            "lv-pw-top": [{"type": "off", "x": [], "y": [], "straight_segment": []}],
        },
    }
    r = client.put(f"/api/frames/{key}/labels", json=body)
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["version"] != version
    assert saved["labels"]["lv-ivs-top"][0]["x"] == [40.5]
    assert saved["stamps"]["lv-ivs-top"]["user"] == "alice"
    dense = saved["dense"]["curve-lv-endo"][0]
    assert dense[0] == [10.0, 60.0] and dense[-1] == [90.0, 60.0]
    # straight first segment: the dense points between node 0 and node 1 lie on the chord
    assert all(abs((y - 60) + (x - 10) * 0.5) < 0.02 for x, y in dense if x <= 50)
    raw = json.loads(labels.read_text())
    inst = raw[key]["lv-ivs-top"][0]
    assert inst["user"] == "alice" and inst["time"].endswith("Z")
    lf = read_labels(labels, strict=True)
    assert set(lf.images[key]) == {"lv-ivs-top", "curve-lv-endo", "lv-pw-top"}
    assert lf.images[key]["curve-lv-endo"].instances[0].straight == (True, False, False)
    assert_cli_validates_strict(labels)
    assert client.get("/api/frames?state=labelled").json()["total"] == 1
    assert client.get("/api/frames?state=off").json()["total"] == 1
    assert client.get("/api/frames?rater=alice").json()["total"] == 1
    # unchanged labels keep their stamp; removing all labels removes the frame
    again = client.put(
        f"/api/frames/{key}/labels", json={"version": saved["version"], "labels": {}}
    )
    assert again.status_code == 200 and again.json()["labels"] == {}
    assert json.loads(labels.read_text()) == {}


def test_conflict_409_returns_current(api: tuple[TestClient, Path]) -> None:
    client, labels = api
    key = _first_key(client)
    v0 = client.get(f"/api/frames/{key}").json()["version"]
    ok = client.put(
        f"/api/frames/{key}/labels", json={"version": v0, "labels": {"lv-ivs-top": POINT}}
    )
    assert ok.status_code == 200
    before = labels.read_bytes()
    stale = client.put(f"/api/frames/{key}/labels", json={"version": v0, "labels": {}})
    assert stale.status_code == 409
    j = stale.json()
    assert "changed since" in j["error"] and j["current"]["labels"]["lv-ivs-top"][0]["x"] == [40.5]
    assert labels.read_bytes() == before


def test_reopen_keeps_stamps_and_versions(synth: Path, tmp_path: Path) -> None:
    client, _ = _client(synth, tmp_path)
    key = _first_key(client)
    v0 = client.get(f"/api/frames/{key}").json()["version"]
    saved = client.put(
        f"/api/frames/{key}/labels", json={"version": v0, "labels": {"lv-ivs-top": POINT}}
    ).json()
    client2, _ = _client(synth, tmp_path)  # a restarted server on the same file
    again = client2.get(f"/api/frames/{key}").json()
    assert again["version"] == saved["version"] and again["stamps"] == saved["stamps"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/frames/..%2F..%2Fetc%2Fpasswd",
        "/api/frames/../../etc/passwd/image",
        "/api/frames/01-abc-0000.png/image",
        "/api/frames/" + "01-" + "A" * 64 + "-0000.png",
        "/api/frames/" + "a" * 64 + "-0000.png",
        "/api/frames/01-" + "a" * 64 + "-0000.png_(1)",
        "/static/../layer.py",
        "/static/..%2Flayer.py",
    ],
)
def test_bad_keys_and_traversal(api: tuple[TestClient, Path], path: str) -> None:
    client, _ = api
    r = client.get(path)
    assert 400 <= r.status_code < 500
    assert b"LabelLayer" not in r.content and b"root:" not in r.content


def test_unknown_frame_404_with_message(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    key = "01-" + "e" * 64 + "-0000.png"
    r = client.get(f"/api/frames/{key}/image")
    assert r.status_code == 404 and "not in the png-cache" in r.json()["error"]
    assert client.get(f"/api/frames/{key}").status_code == 404
    bad = client.get("/api/frames/not-a-key.png")
    assert bad.status_code == 400 and "not an image key" in bad.json()["error"]
    assert client.get("/api/nothing").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "body must be"),
        (b'{"version": "x"}', "body must be"),
        (b'{"version": 3, "labels": {}}', "version must be a string"),
        (b'{"version": "x", "labels": []}', "labels must be an object"),
        (b'{"version": "x", "labels": {"no-such-label": []}}', "not in the registry"),
        (
            b'{"version": "x", "labels": {"lv-ivs-top": [{"type": "point", "x": [1, 2], "y": [1]}]}}',
            "x has 2",
        ),
        (b'{"version": "x", "labels": {"lv-ivs-top": [{"type": "wobble"}]}}', "unknown type"),
        (
            b'{"version": "x", "labels": {"lv-ivs-top": [{"type": "point", "x": ["nan"], "y": [1]}]}}',
            "x",
        ),
        (
            b'{"version": "x", "labels": {"curve-lv-endo": [{"type": "curve", "x": [1], "y": [1]}]}}',
            "at least 2",
        ),
    ],
)
def test_malformed_bodies_400(api: tuple[TestClient, Path], body: bytes, message: str) -> None:
    client, labels = api
    key = _first_key(client)
    r = client.put(f"/api/frames/{key}/labels", content=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    assert not labels.exists()


def test_bad_query_params(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    for q, msg in [
        ("limit=0", "limit"),
        ("offset=x", "integer"),
        ("state=maybe", "not one of"),
        ("sort=error", "needs --predictions"),
        ("split=nope", "unknown split"),
        ("video=zz", "video code"),
    ]:
        r = client.get(f"/api/frames?{q}")
        assert r.status_code == 400 and msg in r.json()["error"], (q, r.text)
    assert client.get("/api/export?format=v3").status_code == 400


def test_huge_body_413(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    key = _first_key(client)
    r = client.put(f"/api/frames/{key}/labels", content=b"x" * (2 << 20))
    assert r.status_code == 413


def test_spline_endpoint_and_export(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    r = client.post("/api/spline", json={"x": [0, 2], "y": [0, 0]})
    assert r.json()["dense"] == [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    assert client.post("/api/spline", json={"x": [0], "y": [0]}).status_code == 400
    assert client.post("/api/spline", content=b"[").status_code == 400
    key = _first_key(client)
    v0 = client.get(f"/api/frames/{key}").json()["version"]
    client.put(f"/api/frames/{key}/labels", json={"version": v0, "labels": {"lv-ivs-top": POINT}})
    v1 = client.get("/api/export?format=v1").json()
    assert v1[key]["labels"]["lv-ivs-top"] == {"type": "point", "x": "40.5", "y": "30.2"}
    v2 = client.get("/api/export").json()
    assert v2[key]["lv-ivs-top"][0]["user"] == "alice"


def test_predict_without_model_404(api: tuple[TestClient, Path]) -> None:
    client, _ = api
    r = client.post(f"/api/frames/{_first_key(client)}/predict")
    assert r.status_code == 404 and "--checkpoint" in r.json()["error"]


def test_predictions_error_sort(synth: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred.json"
    client0, _ = _client(synth, tmp_path)
    keys = [i["key"] for i in client0.get("/api/frames?limit=3").json()["items"]]
    near = {"lv-ivs-top": [{"type": "point", "x": [41.5], "y": [30.25], "conf": 0.9}]}
    far = {"lv-ivs-top": [{"type": "point", "x": [50.5], "y": [30.25], "conf": 0.4}]}
    pred.write_text(json.dumps({keys[0]: near, keys[1]: far}))
    client, _ = _client(synth, tmp_path, predictions=pred)
    for k in keys[:2]:
        v = client.get(f"/api/frames/{k}").json()["version"]
        client.put(f"/api/frames/{k}/labels", json={"version": v, "labels": {"lv-ivs-top": POINT}})
    items = client.get("/api/frames?sort=error&limit=3").json()["items"]
    assert [i["key"] for i in items[:2]] == [keys[1], keys[0]]
    assert items[0]["error_px"] == pytest.approx(10.0) and items[1]["error_px"] == pytest.approx(
        1.0
    )
    f = client.get(f"/api/frames/{keys[1]}").json()
    assert f["predictions"]["lv-ivs-top"][0]["conf"] == 0.4


def test_token_rule(synth: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(InputError, match="16 characters"):
        check_bind("0.0.0.0", "short")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "s" * 20)
    token = "t0ken-" + "x" * 20
    client, _ = _client(synth, tmp_path, token=token)
    assert client.get("/api/info").status_code == 401
    assert client.get("/api/info", headers={"X-Echomark-Token": "wrong"}).status_code == 401
    assert client.get("/api/info", headers={"X-Echomark-Token": token}).status_code == 200
    r = client.get(f"/?token={token}")
    assert r.status_code == 200 and "echomark_token" in r.headers["set-cookie"]
    assert client.get("/api/info").status_code == 200  # the cookie now carries it


def test_cli_refuses_open_bind_without_token(synth: Path, tmp_path: Path) -> None:
    from echomark.cli.main import main

    rc = main(
        [
            "serve",
            "--images",
            str(synth / "png-cache.zip"),
            "--labels",
            str(tmp_path / "l.json"),
            "--host",
            "0.0.0.0",
        ]
    )
    assert rc == 2


def test_host_check_blocks_rebinding(synth: Path, tmp_path: Path) -> None:
    client, _ = _client(synth, tmp_path, allowed_hosts=["127.0.0.1", "localhost"])
    assert client.get("/api/info").status_code == 403  # TestClient's host is "testserver"
    assert client.get("/api/info", headers={"host": "127.0.0.1:8765"}).status_code == 200


def test_v1_file_refused_as_edited_layer(synth: Path, tmp_path: Path) -> None:
    v1 = tmp_path / "v1.json"
    import zipfile

    with zipfile.ZipFile(synth / "labels.zip") as z:
        v1.write_bytes(z.read("labels-all.json"))
    with pytest.raises(InputError, match="v1"):
        open_workspace(synth / "png-cache.zip", v1, user="bob")


def test_predict_this_frame_with_checkpoint(synth: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from echomark.serve.app import make_predictor
    from predict_helpers import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt", head_bias=2.0, head_std=0.0)
    ws = open_workspace(synth / "png-cache.zip", tmp_path / "l.json", user="a", checkpoint=ckpt)
    client = TestClient(create_app(ws, predictor=make_predictor(ws)))
    assert client.get("/api/info").json()["can_predict"] is True
    key = _first_key(client)
    r = client.post(f"/api/frames/{key}/predict")
    assert r.status_code == 200, r.text
    labels = r.json()["labels"]
    assert set(labels) <= {"lv-apex-endo", "mv-ant-hinge", "curve-lv-endo"} and labels
    assert all("conf" in inst for insts in labels.values() for inst in insts if inst["x"])
    assert not (tmp_path / "l.json").exists()  # predicting saves nothing by itself


def test_static_front_end_fetches_nothing_from_the_internet() -> None:
    from echomark.serve.app import STATIC_DIR

    files = sorted(STATIC_DIR.iterdir())
    assert {f.name for f in files} >= {"index.html", "app.js", "api.js", "draw.js", "style.css"}
    for f in files:
        text = f.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name


def test_serve_imports_no_torch_and_only_lower_floors() -> None:
    code = (
        "import sys, importlib, pkgutil, echomark.serve as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'echomark.serve.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(("
        "'echomark.cli', 'echomark.workflows'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unchanged_save_does_not_rewrite_and_views_follow_edits(
    synth: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "mine.json"
    ws = open_workspace(synth / "png-cache.zip", labels, user="carol")
    client = TestClient(create_app(ws))
    assert client.get("/api/info").json()["views"] == []  # nothing labelled, no layers
    key = _first_key(client)
    v0 = client.get(f"/api/frames/{key}").json()["version"]
    v1 = client.put(
        f"/api/frames/{key}/labels", json={"version": v0, "labels": {"lv-ivs-top": POINT}}
    ).json()["version"]
    assert client.get("/api/info").json()["views"] == ["PLAX"]
    stat = labels.stat().st_mtime_ns
    same = client.put(
        f"/api/frames/{key}/labels", json={"version": v1, "labels": {"lv-ivs-top": POINT}}
    )
    assert same.json()["version"] == v1 and labels.stat().st_mtime_ns == stat


def test_two_servers_on_one_file_never_overwrite_each_other(tmp_path: Path) -> None:
    from echomark.errors import LabelConflictError
    from echomark.labels.schema import Label
    from echomark.serve.layer import LabelLayer

    path = tmp_path / "shared.json"
    k1, k2 = ("01-" + "a" * 64 + "-0001.png", "01-" + "a" * 64 + "-0002.png")
    a, b = LabelLayer(path, "ann"), LabelLayer(path, "ben")
    v1 = b.version(k1)
    a.put(k1, a.version(k1), {"lv-ivs-top": Label.point(1, 2)})
    b.put(k2, b.version(k2), {"lv-ivs-top": Label.point(3, 4)})  # b re-reads before saving
    raw = json.loads(path.read_text())
    assert raw[k1]["lv-ivs-top"][0]["user"] == "ann" and raw[k2]["lv-ivs-top"][0]["user"] == "ben"
    with pytest.raises(LabelConflictError):
        b.put(k1, v1, {})  # b's view of k1 predates ann's save
    assert a.refresh() and set(a.keys()) == {k1, k2}
    assert not a.refresh()  # nothing new since


def test_unregistered_names_already_saved_may_stay(synth: Path, tmp_path: Path) -> None:
    client, labels = _client(synth, tmp_path)
    key = _first_key(client)
    labels.write_text(json.dumps({key: {"house-label": POINT}}))
    frame = client.get(f"/api/frames/{key}").json()  # the server re-reads the replaced file
    assert set(frame["labels"]) == {"house-label"}
    body = {"version": frame["version"], "labels": {**frame["labels"], "lv-ivs-top": POINT}}
    r = client.put(f"/api/frames/{key}/labels", json=body)
    assert r.status_code == 200 and set(r.json()["labels"]) == {"house-label", "lv-ivs-top"}
    new = {"version": r.json()["version"], "labels": {"other-house-label": POINT}}
    assert client.put(f"/api/frames/{key}/labels", json=new).status_code == 400
