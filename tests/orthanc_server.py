"""A real Orthanc for tests, alone in a loopback-only network namespace.

Orthanc 1.10 binds every address and has no bind option, so it runs inside a private network
namespace (``unshare --net``, then ``ip link set lo up``) where only loopback exists.
Clients must run in the same namespace: :meth:`Orthanc.run` starts a command there through
``nsenter --net=/proc/PID/ns/net``. The server is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PLUGIN = "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7"
BINARY = "/usr/sbin/Orthanc"
INSTALL = Path(__file__).resolve().parents[1] / "scripts" / "install-orthanc.sh"
HTTP_PORT = 8042
DICOM_PORT = 4242
AET = "ORTHANC"
CLIENT_AET = "ECHOMARK"
USER, PASSWORD = "reader", "not-a-real-secret-0"
BASE = f"http://127.0.0.1:{HTTP_PORT}"


def unavailable_reason() -> str:
    """Why a namespaced Orthanc cannot run here ('' when it can); installs it if missing."""
    if not sys.platform.startswith("linux"):
        return "needs Linux network namespaces"
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "needs unshare and nsenter (util-linux)"
    probe = subprocess.run(
        ["unshare", "--net", "sh", "-c", "ip link set lo up"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()[:120]}"
    if not (Path(BINARY).exists() and Path(PLUGIN).exists()):
        done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/install-orthanc.sh failed: {done.stderr[-500:]}")
    return ""


def client_env() -> dict[str, str]:
    """Environment for echomark clients of this server (credentials, no proxy, our tree)."""
    env = dict(os.environ)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["ECHOMARK_DICOMWEB_USER"] = USER
    env["ECHOMARK_DICOMWEB_PASSWORD"] = PASSWORD
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Orthanc:
    """One Orthanc with DICOMweb and DIMSE, credentials required for HTTP."""

    def __init__(self, state: Path) -> None:
        self.state = state
        state.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "Name": "echomark-test",
            "StorageDirectory": str(state / "db"),
            "IndexDirectory": str(state / "db"),
            "HttpPort": HTTP_PORT,
            "DicomPort": DICOM_PORT,
            "DicomAet": AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            # Only declared peers may associate: an unknown calling AE title is refused.
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False,
            "DicomModalities": {"echomark": [CLIENT_AET, "127.0.0.1", 11112]},
            "Plugins": [PLUGIN],
            # No "Host" here: setting it drops the port from the links Orthanc returns.
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "StableAge": 1,
            "HttpThreadsCount": 4,
            "ConcurrentJobs": 1,
        }
        cfg = state / "orthanc.json"
        cfg.write_text(json.dumps(config, indent=1))
        self.log = open(state / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        # unshare execs sh, which execs Orthanc: one PID from start to stop.
        self.proc = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", f'ip link set lo up && exec {BINARY} "$0"', str(cfg)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    @property
    def ns(self) -> list[str]:
        """Command prefix that runs a program in the server's network namespace."""
        return ["nsenter", f"--net=/proc/{self.proc.pid}/ns/net", "--"]

    def run(
        self, argv: list[str], timeout: float = 120, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the namespace with :func:`client_env` (text output captured)."""
        env = client_env()
        env.update(kw.pop("env", {}))
        return subprocess.run(
            self.ns + argv, capture_output=True, text=True, timeout=timeout, env=env,
            check=False, **kw,
        )  # fmt: skip

    def python(self, code: str, *args: str, timeout: float = 120) -> str:
        """Run Python ``code`` in the namespace; its stdout (raises on failure)."""
        done = self.run([sys.executable, "-c", code, *args], timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"namespace python failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until ``/system`` answers (401 counts: the server is up)."""
        code = (
            "import urllib.request,urllib.error,sys\n"
            "try: urllib.request.urlopen(sys.argv[1], timeout=1)\n"
            "except urllib.error.HTTPError: pass\n"
        )
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited: {(self.state / 'orthanc.log').read_text()[-2000:]}"
                )
            done = self.run([sys.executable, "-c", code, BASE + "/system"], timeout=10)
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("Orthanc did not answer within 30 s")

    def upload(self, paths: list[Path]) -> list[str]:
        """POST files to ``/instances``; Orthanc's status per file."""
        code = (
            "import base64,json,sys,urllib.request\n"
            "auth='Basic '+base64.b64encode(sys.argv[1].encode()).decode()\n"
            "out=[]\n"
            "for p in sys.argv[3:]:\n"
            "  req=urllib.request.Request(sys.argv[2]+'/instances',data=open(p,'rb').read(),"
            "headers={'Content-Type':'application/dicom','Authorization':auth})\n"
            "  out.append(json.load(urllib.request.urlopen(req, timeout=60))['Status'])\n"
            "print(json.dumps(out))\n"
        )
        out = self.python(code, f"{USER}:{PASSWORD}", BASE, *map(str, paths))
        return list(json.loads(out))

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
