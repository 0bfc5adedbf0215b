"""Bad and flaky DICOMweb servers: one-line errors, retries, resume, never a partial PNG.

A tiny stub DICOMweb server on loopback plays each failure; the CLI runs in-process.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from echomark.cli.main import main
from echomark.dicom.curate import CurateOptions, curate
from echomark.sources.base import RetryPolicy, parse_server_spec
from echomark.synth.dicom import write_us_dicom

STUDY = "1.2.3.4"


class Stub:
    """State shared with the handler: instances, failure mode, request counts."""

    def __init__(self, files: list[Path]) -> None:
        import pydicom

        self.files = {str(pydicom.dcmread(p).SOPInstanceUID): p.read_bytes() for p in files}
        self.good_sop, self.bad_sop = list(self.files)
        self.mode = "ok"
        self.wado: dict[str, int] = {}


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, items: list[dict]) -> None:
            body = json.dumps(items).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            offset = int(parse_qs(url.query).get("offset", ["0"])[0])
            parts = url.path.strip("/").split("/")[1:]  # after "dicom-web"
            if stub.mode == "forbidden":
                self.send_error(403)
                return
            if parts == ["studies"]:
                self._json([] if offset else [{"0020000D": {"vr": "UI", "Value": [STUDY]}}])
                return
            if len(parts) == 3 and parts[2] == "instances":
                uid = {"0020000D": {"vr": "UI", "Value": [STUDY]},
                       "0020000E": {"vr": "UI", "Value": ["1.2.3.4.0"]}}  # fmt: skip
                items = [{**uid, "00080018": {"vr": "UI", "Value": [sop]}} for sop in stub.files]
                self._json([] if offset else items)
                return
            sop = parts[-1]
            stub.wado[sop] = stub.wado.get(sop, 0) + 1
            data = stub.files[sop]
            if stub.mode == "flaky" and stub.wado[sop] == 1:
                self.send_error(503)
                return
            if stub.mode == "corrupt" and sop == stub.bad_sop:
                data = b"\0" * 128 + b"DICM" + b"\xff" * 64
            body = b"--xx\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--xx--\r\n"
            self.send_response(200)
            self.send_header(
                "Content-Type", 'multipart/related; type="application/dicom"; boundary=xx'
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if stub.mode == "stall" and sop == stub.bad_sop:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(2.5)
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def stub(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc of the machine
    files = [
        write_us_dicom(tmp_path / "in" / "a.dcm", seed=21, frames=3),
        write_us_dicom(tmp_path / "in" / "b.dcm", seed=22, frames=4),
    ]
    state = Stub(files)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"dicomweb+http://127.0.0.1:{server.server_address[1]}/dicom-web"  # type: ignore[attr-defined]
    state.files_on_disk = files  # type: ignore[attr-defined]
    yield state
    server.shutdown()
    server.server_close()


def _run(capsys, url, out, *extra):
    code = main(["curate", url, "--no-ocr", "--timeout", "1", "--retries", "1",
                 "--out", str(out), *extra])  # fmt: skip
    cap = capsys.readouterr()
    return code, cap.err.strip().splitlines()


def _tree(root: Path) -> dict[str, bytes]:
    skip = {"curate/fetched.log"}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) not in skip
    }


def test_unreachable_host_is_one_line_exit_2(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = _run(capsys, f"dicomweb+http://127.0.0.1:{port}/dicom-web", tmp_path / "o")
    assert code == 2
    assert err == [
        f"echomark curate: error: dicomweb http://127.0.0.1:{port}/dicom-web: QIDO-RS study "
        "search failed after 2 attempts: cannot connect (host unreachable, refused or reset)"
    ]


def test_forbidden_is_one_line_exit_2(stub, tmp_path, capsys):
    stub.mode = "forbidden"
    code, err = _run(capsys, stub.url, tmp_path / "o")
    assert code == 2 and len(err) == 1
    assert err[0].endswith(
        "/dicom-web: QIDO-RS study search failed: HTTP 403 Forbidden: these credentials may "
        "not read this server"
    )


def test_credentials_never_on_the_command_line(stub, tmp_path, capsys):
    url = stub.url.replace("//127", "//user:pw@127")
    code, err = _run(capsys, url, tmp_path / "o")
    assert code == 2 and "credentials do not belong on the command line" in err[0]
    assert "pw" not in err[0].replace("password", "")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("stall", "WADO-RS retrieve failed after 2 attempts: transfer stalled for 1 s (read timeout)"),
        ("corrupt", "server sent a corrupt instance"),
    ],
)  # fmt: skip
def test_bad_instance_fails_alone_then_resume_fetches_only_it(
    stub, tmp_path, capsys, mode, message
):
    stub.mode = mode
    out = tmp_path / "o"
    code, err = _run(capsys, stub.url, out)
    assert code == 1
    failed = [line for line in err if line.startswith("FAILED")]
    assert len(failed) == 1 and message in failed[0], err
    assert stub.bad_sop not in "\n".join(err)  # no UIDs in any output
    pngs = sorted(p.name for p in out.rglob("*.png"))
    assert len(pngs) == 3  # the good instance only; nothing partial of the bad one
    assert not [p for p in out.rglob("*") if p.is_file() and ".tmp" in p.name]
    stub.mode = "ok"
    before = dict(stub.wado)
    code, err = _run(capsys, stub.url, out)
    assert code == 0, err
    assert stub.wado[stub.good_sop] == before[stub.good_sop]  # curated: not fetched again
    assert stub.wado[stub.bad_sop] == before[stub.bad_sop] + 1
    disk = tmp_path / "disk"
    curate([str(p) for p in stub.files_on_disk], CurateOptions("01", disk, ocr=False))
    assert _tree(out) == _tree(disk)


def test_transient_503_is_retried(stub, tmp_path, capsys):
    stub.mode = "flaky"
    code, err = _run(capsys, stub.url, tmp_path / "o")
    assert code == 0, err
    assert stub.wado == {stub.good_sop: 2, stub.bad_sop: 2}


def test_retry_policy_backs_off_doubling_and_stops():
    waits: list[float] = []
    calls = []

    def attempt():
        calls.append(1)
        raise TimeoutError("slow")

    with pytest.raises(TimeoutError):
        RetryPolicy(retries=3, backoff_s=0.5).run(attempt, lambda e: True, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0] and len(calls) == 4
    with pytest.raises(ValueError):
        RetryPolicy(retries=3).run(lambda: int("x"), lambda e: False, sleep=waits.append)
    assert len(waits) == 3


def test_server_spec_parsing():
    spec = parse_server_spec("dimse://PACS@pacs.example:11112")
    assert (spec.host, spec.port, spec.called_aet) == ("pacs.example", 11112, "PACS")
    assert parse_server_spec("dicomweb+https://h/dw/").url == "https://h/dw"
    from echomark.errors import ConfigError

    for bad in ["dimse://h:1", "ftp://h", "dicomweb+http://u:p@h/x", "dimse://" + "A" * 17 + "@h"]:
        with pytest.raises(ConfigError):
            parse_server_spec(bad)


def test_killed_pull_resumes_without_fetching_finished_passes(stub, tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "o"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "NO_PROXY": "127.0.0.1", "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "echomark", "curate", stub.url, "--no-ocr", "--quiet",
           "--pull-batch", "1", "--out", str(out)]  # fmt: skip
    # Killed (as by the OOM killer) after 4 frames: the first instance's 3 frames are done,
    # the second has 1 of its 4.
    killed = subprocess.run(cmd, env={**env, "ECHOMARK_CURATE_ABORT_AFTER": "4"},
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert killed.returncode == 75, killed.stderr
    assert len(list(out.rglob("*.png"))) == 4
    assert stub.wado == {stub.good_sop: 1, stub.bad_sop: 1}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert stub.wado == {stub.good_sop: 1, stub.bad_sop: 2}  # the finished pass is not fetched
    disk = tmp_path / "disk"
    curate([str(p) for p in stub.files_on_disk], CurateOptions("01", disk, ocr=False))
    assert _tree(out) == _tree(disk)
