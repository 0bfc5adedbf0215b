"""Self-contained HTML evaluation report: tables, error plots and worst cases as base64 PNGs."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from echomark.evaluate.draw import draw_labels, enlarge, png_bytes, to_rgb, with_legend
from echomark.evaluate.evaluation import CURVE, POINT, LabelRecord
from echomark.labels.schema import ImageLabels

#: Truth and prediction colours in worst-case pictures.
# Okabe-Ito blue and orange: distinguishable with every common colour-vision deficiency;
# truth also differs by shape (ring, solid curve) from predictions (cross, dashed curve).
TRUTH_COLOUR = "#56b4e9"
PRED_COLOUR = "#e69f00"

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:6px;vertical-align:top}
figcaption{font-size:12px;max-width:420px;word-break:break-all}
img.case{max-width:400px} .note{color:#666;font-size:13px}
"""


@dataclass(frozen=True)
class Section:
    """An extra report section of ready HTML (e.g. the demo's measurement agreement).

    Attributes:
        title: Heading text (escaped when rendered).
        html: Trusted HTML body produced by echomark itself.
    """

    title: str
    html: str


def img_tag(png: bytes, alt: str = "", css_class: str = "") -> str:
    """An ``<img>`` tag embedding PNG bytes as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    cls = f' class="{css_class}"' if css_class else ""
    return f'<img{cls} alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def figure_tag(png: bytes, caption: str, css_class: str = "") -> str:
    """A ``<figure>`` of embedded PNG bytes with an escaped caption."""
    img = img_tag(png, caption, css_class)
    return f"<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; floats to 2 decimals, None/NaN as a dash."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure_png(plot: Callable[[Any], None], size: tuple[float, float] = (7, 3.5)) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=90)
    try:
        plot(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def error_plots(records: Sequence[LabelRecord]) -> list[tuple[str, bytes]]:
    """Matplotlib figures: point-error CDF (PCK curve) and per-label error box plots."""
    figs: list[tuple[str, bytes]] = []
    pts = [r for r in records if r.kind == POINT and r.error_px is not None]
    crv = [r for r in records if r.kind == CURVE and r.error_px is not None]
    if pts:
        e = np.sort(np.asarray([r.error_px for r in pts], float))

        def cdf(ax: Any) -> None:
            ax.step(e, np.arange(1, len(e) + 1) / len(e), where="post")
            for t in (2, 4, 8):
                ax.axvline(t, color="#bbb", lw=0.8, ls="--")
            ax.set_xlabel("point error (px)")
            ax.set_ylabel("fraction ≤ error (PCK)")
            ax.set_xlim(0, max(10.0, float(np.percentile(e, 98))))
            ax.set_title("Point error, cumulative")

        figs.append(("Point error CDF", _figure_png(cdf)))
    for kind, recs, unit_name in (
        (POINT, pts, "point error (px)"),
        (CURVE, crv, "curve mean distance (px)"),
    ):
        if not recs:
            continue
        names = sorted({r.label for r in recs})
        data = [[r.error_px for r in recs if r.label == n] for n in names]

        def box(
            ax: Any, names: list[str] = names, data: list[Any] = data, lab: str = unit_name
        ) -> None:
            ax.boxplot(data, orientation="horizontal", showfliers=True)
            ax.set_yticks(range(1, len(names) + 1), names, fontsize=7)
            ax.set_xlabel(lab)

        figs.append((f"{kind} errors by label", _figure_png(box, (7, 0.8 + 0.28 * len(names)))))
    return figs


def _label_rows(per_label: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for name, m in sorted(per_label.items()):
        p = m["presence"]
        pt = m.get("point", {}).get("px", {})
        cv = m.get("curve", {}).get("px", {})
        mm = m.get("point", {}).get("mm", {}) or m.get("curve", {}).get("mm", {}).get(
            "mean_distance", {}
        )
        rows.append(
            [
                name,
                m["kind"],
                p["n"],
                p["sensitivity"],
                p["specificity"],
                pt.get("median_px", cv.get("mean_distance", {}).get("median_px")),
                pt.get("p90_px", cv.get("mean_distance", {}).get("p90_px")),
                pt.get("pck_4px"),
                cv.get("hausdorff", {}).get("median_px"),
                cv.get("length_error", {}).get("median_abs_px"),
                mm.get("median_mm"),
            ]
        )
    return rows


def render_report(
    metrics: Mapping[str, Any],
    records: Sequence[LabelRecord],
    *,
    title: str = "echomark evaluation",
    images: Callable[[str], npt.NDArray[np.uint8]] | None = None,
    truth: Mapping[str, ImageLabels] | None = None,
    pred: Mapping[str, ImageLabels] | None = None,
    n_cases: int = 8,
    sections: Sequence[Section] = (),
    notes: Sequence[str] = (),
) -> str:
    """Render the HTML report.

    Args:
        metrics: Output of :func:`echomark.evaluate.evaluation.summarise`.
        records: The per-label records behind it (for plots).
        title: Page title.
        images: Optional image loader (key -> uint8 array) for worst-case pictures.
        truth: True labels (needed with ``images``).
        pred: Predicted labels (needed with ``images``).
        n_cases: How many worst cases to draw.
        sections: Extra sections appended at the end.
        notes: Lines shown under the title (inputs, timing).

    Returns:
        One HTML document with every picture embedded.
    """
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    parts += report_body(
        metrics, records, images=images, truth=truth, pred=pred, n_cases=n_cases, sections=sections
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def report_body(
    metrics: Mapping[str, Any],
    records: Sequence[LabelRecord],
    *,
    images: Callable[[str], npt.NDArray[np.uint8]] | None = None,
    truth: Mapping[str, ImageLabels] | None = None,
    pred: Mapping[str, ImageLabels] | None = None,
    n_cases: int = 8,
    sections: Sequence[Section] = (),
) -> list[str]:
    """The report's sections (summary to extra sections) as HTML fragments, one per block.

    :func:`render_report` wraps them in a page; the demo nests them in its own report.
    Arguments as for :func:`render_report`.
    """
    s = metrics["summary"]
    parts = ["<h2>Summary</h2>"]
    keys = [
        "n_images", "n_labels_compared", "n_missing_predictions", "presence_accuracy",
        "presence_sensitivity", "presence_specificity", "n_points", "median_point_error_px",
        "mean_point_error_px", "p90_point_error_px", "pck_2px", "pck_4px", "pck_8px",
        "median_point_error_mm", "n_curves", "median_curve_distance_px",
        "median_curve_hausdorff_px", "median_curve_distance_mm",
    ]  # fmt: skip
    parts.append(table(["metric", "value"], [[k, s.get(k)] for k in keys if k in s]))
    parts.append("<h2>Per label</h2>")
    parts.append(
        "<p class='note'>Presence: sensitivity/specificity of drawn vs <code>off</code>; "
        "<code>blurred</code> truth excluded. Error: point error, or a curve's symmetric "
        "mean distance between dense splines.</p>"
    )
    parts.append(
        table(
            ["label", "kind", "n", "sens", "spec", "median px", "p90 px", "PCK@4",
             "Hausdorff px", "|length err| px", "median mm"],
            _label_rows(metrics["per_label"]),
        )
    )  # fmt: skip
    if metrics.get("per_view"):
        parts.append("<h2>Per view</h2>")
        rows = []
        for view, m in metrics["per_view"].items():
            rows.append(
                [
                    view,
                    m["presence"]["n"],
                    m["presence"]["accuracy"],
                    m.get("point", {}).get("px", {}).get("median_px"),
                    m.get("point", {}).get("px", {}).get("pck_4px"),
                    m.get("curve", {}).get("px", {}).get("mean_distance", {}).get("median_px"),
                ]
            )
        parts.append(
            table(
                ["view", "n", "presence acc", "median point px", "PCK@4", "median curve px"],
                rows,
            )
        )
    figs = error_plots(records)
    if figs:
        parts.append("<h2>Error plots</h2>")
        for cap, png in figs:
            parts.append(figure_tag(png, cap))
    worst = metrics.get("worst", [])
    if worst:
        parts.append("<h2>Worst cases</h2>")
        parts.append(
            table(
                ["image", "label", "kind", "truth present", "pred present", "conf", "error px"],
                [
                    [w["key"], w["label"], w["kind"], w["truth_present"], w["pred_present"],
                     w["conf"], w["error_px"]]
                    for w in worst
                ],
            )
        )  # fmt: skip
        if images is not None and truth is not None and pred is not None:
            parts.append(
                f"<p class='note'>Truth in <b style='color:{TRUTH_COLOUR}'>blue</b> (rings, "
                f"solid curves), prediction in <b style='color:{PRED_COLOUR}'>orange</b> "
                "(crosses, dashed curves).</p>"
            )
            for w in worst[:n_cases]:
                key, name = w["key"], w["label"]
                small = to_rgb(images(key))
                t = {name: truth[key][name]} if name in truth.get(key, {}) else {}
                p = {name: pred[key][name]} if name in pred.get(key, {}) else {}
                canvas, t = enlarge(small, t)
                _, p = enlarge(small, p)
                draw_labels(canvas, t, colour=TRUTH_COLOUR)
                draw_labels(canvas, p, colour=PRED_COLOUR, marker="cross", dashed=True)
                conf = w.get("conf")
                canvas = with_legend(
                    canvas,
                    [
                        (TRUTH_COLOUR, "ring", f"truth: {name}"),
                        (
                            PRED_COLOUR,
                            "cross",
                            "prediction" + (f" {conf:.2f}" if isinstance(conf, float) else ""),
                        ),
                    ],
                    title=f"frame {key[-8:-4]}",
                )
                cap = f"{name}: {_fmt(w['error_px'])} px — {key}"
                parts.append(figure_tag(png_bytes(canvas), cap, "case"))
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>{sec.html}")
    return parts
