"""Benchmark: curating from a PACS (Orthanc, DICOMweb and DIMSE) vs from disk, and on Dask.

One data set (synthetic cines plus the 120-frame SonoSite A4C cine, no OCR) curated:

* from disk, one process;
* from a real Orthanc over DICOMweb and over DIMSE (Orthanc in a loopback-only network
  namespace, the client entered into it; needs root, unshare and the Debian packages that
  ``scripts/install-orthanc.sh`` installs), as the ``echomark curate`` CLI;
* from disk on a Dask LocalCluster with 1 and with 2 worker processes (``--dask local:N``),
  timed without and with the cluster's start-up.

Each variant writes a fresh folder; frames/s counts frames written over the run's own
``seconds`` (listing, fetching, probing, planning, writing, manifest). Prints one BENCH line
per figure, the LocalCluster speed-up last.

Usage: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_pacs.py [--cines 6 --frames 40]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the namespaced-Orthanc helper lives with the tests


def bench(name: str, value: float, unit: str) -> None:
    """Print one BENCH line."""
    print("BENCH " + json.dumps({"name": name, "value": round(value, 2), "unit": unit}))


def main() -> None:
    """Run every variant and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cines", type=int, default=6, help="synthetic cines (default 6)")
    ap.add_argument("--frames", type=int, default=40, help="frames per synthetic cine")
    ap.add_argument("--skip-orthanc", action="store_true", help="disk and Dask only")
    args = ap.parse_args()

    from pydicom.data import get_testdata_file

    from echomark.dicom.curate import CurateOptions, curate
    from echomark.synth.dicom import write_us_dicom
    from echomark.workflows.curate import run_curation

    tmp = Path(tempfile.mkdtemp(prefix="bench-pacs-"))
    try:
        inputs = [
            write_us_dicom(tmp / "in" / f"s{i}.dcm", seed=100 + i, frames=args.frames)
            for i in range(args.cines)
        ]
        inputs.append(Path(shutil.copy(get_testdata_file("color3d_jpeg_baseline.dcm"), tmp / "in")))
        files = [str(p) for p in inputs]
        print(
            f"{len(files)} files, {sum(p.stat().st_size for p in inputs) / 1e6:.1f} MB", flush=True
        )

        res = curate(files, CurateOptions("01", tmp / "disk", ocr=False))
        frames = res.frames_written
        bench("curate_disk_1proc", frames / res.seconds, "frames/s")

        if not args.skip_orthanc:
            from orthanc_server import (
                AET,
                CLIENT_AET,
                DICOM_PORT,
                HTTP_PORT,
                Orthanc,
                unavailable_reason,
            )

            reason = unavailable_reason()
            if reason:
                print(f"Orthanc variants skipped: {reason}")
            else:
                server = Orthanc(tmp / "orthanc")
                try:
                    server.upload(inputs)
                    for name, src, extra in [
                        ("dicomweb", f"dicomweb+http://127.0.0.1:{HTTP_PORT}/dicom-web", []),
                        ("dimse", f"dimse://{AET}@127.0.0.1:{DICOM_PORT}",
                         ["--calling-aet", CLIENT_AET]),
                    ]:  # fmt: skip
                        done = server.run(
                            [sys.executable, "-m", "echomark", "curate", src, *extra,
                             "--no-ocr", "--quiet", "--json", "--out", str(tmp / name)],
                            timeout=600,
                        )  # fmt: skip
                        if done.returncode != 0:
                            raise SystemExit(f"{name} curation failed: {done.stderr[-1000:]}")
                        summary = json.loads(done.stdout)
                        bench(f"curate_orthanc_{name}", summary["frames_per_s"], "frames/s")
                finally:
                    server.stop()

        rates = {}
        for n in (1, 2):
            t0 = time.perf_counter()
            res, _ = run_curation(
                files, [], CurateOptions("01", tmp / f"dask{n}", ocr=False), dask=f"local:{n}"
            )
            wall = time.perf_counter() - t0
            rates[n] = res.frames_written / res.seconds
            bench(f"curate_dask_local{n}", rates[n], "frames/s")
            bench(f"curate_dask_local{n}_with_cluster_start", res.frames_written / wall, "frames/s")
        assert frames == res.frames_written
        bench("dask_local2_over_local1", rates[2] / rates[1], "x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
