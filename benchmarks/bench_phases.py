"""Where does measure put ED/ES? Size series vs cavity brightness, against the truth.

Makes synthetic A4C cines with exact ED/ES (the B-mode look, varied anatomy, several beats
each), predicts every frame with a model, and measures each cine three times, with
``phases_from`` = ``size``, ``cavity`` and ``auto`` (the default). The truth is the ED/ES of the
cine's true LV volume series, and the model's own quality gate decides what ``auto`` picks,
as in ``echomark measure --model``. It prints, per mode, the share of true ED and ES frames that a
found one lies within 1 and within 3 frames of, and how many found frames match no true one.
The last line is the cavity mode's share within 3 frames. The real-cine counterpart is
``bench_real_cine.py``: there the readers' ED/ES frames are the truth.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/bench_phases.py [--model synthetic-v1] \
    [--cines 12] [--frames 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from echomark import Predictor, make_cine
from echomark.calibration import Calibration
from echomark.labels.schema import LabelFile
from echomark.measure.cavity import PhaseSource
from echomark.measure.pipeline import measure_labels
from echomark.measure.series import find_phases
from echomark.models.zoo import resolve_model
from echomark.workflows.measure import find_qc_config

#: A found frame this close to a true one counts as that phase found.
NEAR, CLOSE = 1, 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="synthetic-v1", help="model name, folder or checkpoint")
    ap.add_argument("--cines", type=int, default=12)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = Predictor(args.model)
    # the model's own quality gate, as `echomark measure --model` uses it: auto reads it
    qc = find_qc_config(None, resolve_model(args.model))
    modes = (PhaseSource.SIZE, PhaseSource.CAVITY, PhaseSource.AUTO)
    dev: dict[PhaseSource, list[int]] = {m: [] for m in modes}
    extra = dict.fromkeys(modes, 0)
    chose_cavity = 0
    for i in range(args.cines):
        cine = make_cine(
            "A4C", args.seed + i, n_frames=args.frames, size=(240, 320), look="bmode", varied=True
        )
        ft = cine.spec.frame_time_ms / 1000.0
        truth = find_phases(
            {f: t["LV_volume_mod"][0] for f, t in enumerate(cine.truth)}, frame_time_s=ft
        )
        video = f"01-{i:064x}"
        keys = [f"{video}-{f:04d}.png" for f in range(len(cine.frames))]
        pixels = dict(zip(keys, cine.frames, strict=True))
        pred = LabelFile(images={k: model.predict_frame(a) for k, a in pixels.items()})
        cal = Calibration.from_cm_per_px(*cine.spacing_cm_per_px)
        line = [f"cine {i}: true ED {list(truth.ed)} ES {list(truth.es)}"]
        for mode in modes:
            res = measure_labels(
                pred, cal, views={video: "A4C"}, frame_time_s=ft, qc=qc, pixels=pixels.get,
                phases_from=mode,
            )  # fmt: skip
            vs = res.series[video]
            ph = vs.phases
            found_ed = list(ph.ed) if ph else []
            found_es = list(ph.es) if ph else []
            for true, found in ((truth.ed, found_ed), (truth.es, found_es)):
                dev[mode] += [min((abs(t - f) for f in found), default=99) for t in true]
                extra[mode] += sum(min(abs(t - f) for t in true) > CLOSE for f in found)
            if mode is PhaseSource.AUTO and vs.phase_signal:
                chose_cavity += 1
            line.append(f"{mode.value} ED {found_ed} ES {found_es}")
        print(" | ".join(line), flush=True)
    summary = {}
    for mode in modes:
        d = np.asarray(dev[mode])
        summary[mode.value] = {
            f"within_{NEAR}_pct": round(100.0 * float(np.mean(d <= NEAR)), 1),
            f"within_{CLOSE}_pct": round(100.0 * float(np.mean(d <= CLOSE)), 1),
            "unmatched_found": extra[mode],
        }
    print(json.dumps(summary, indent=1))
    print(f"auto chose the cavity brightness in {chose_cavity} of {args.cines} cines")
    value = summary[PhaseSource.CAVITY.value][f"within_{CLOSE}_pct"]
    print("BENCH " + json.dumps({"name": "phases_cavity_within_3_frames", "value": value,
                                 "unit": "% true ED/ES"}))  # fmt: skip


if __name__ == "__main__":
    main()
