"""The campaign's curves as one PNG: training losses of the teacher and the student (from
their ``log.jsonl``) and the student's held-out scores (``selection.jsonl``).

    python training/plot_curves.py --work path/to/campaign --out models/default/curves.png

Drawn with Pillow alone (no plotting library is needed): one panel per series, x = step,
with the first and last values written on each panel.
"""

import argparse
import json
import os
from typing import List, Tuple

from PIL import Image, ImageDraw

PANEL_W, PANEL_H, MARGIN = 460, 220, 40


def _read(path: str, key: str, x_key: str = "step") -> List[Tuple[float, float]]:
    if not os.path.isfile(path):
        return []
    points = []
    for line in open(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if key in record and record[key] is not None and x_key in record:
            x = float(record[x_key])
            # A run restarted from an earlier step replaces what the log holds from there on:
            # the curve follows the run that continued, not the one that was discarded.
            while points and points[-1][0] >= x:
                points.pop()
            points.append((x, float(record[key])))
    return points


def _smooth(points, k=5):
    out = []
    for i in range(len(points)):
        window = points[max(0, i - k + 1) : i + 1]
        out.append((points[i][0], sum(v for _, v in window) / len(window)))
    return out


def _panel(draw: ImageDraw.ImageDraw, x0: int, y0: int, title: str, series) -> None:
    draw.rectangle([x0, y0, x0 + PANEL_W - 1, y0 + PANEL_H - 1], outline=(180, 180, 180))
    draw.text((x0 + 6, y0 + 4), title, fill=(0, 0, 0))
    pts = [p for _, s in series for p in s]
    if not pts:
        draw.text((x0 + 6, y0 + 24), "no data yet", fill=(120, 120, 120))
        return
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    xmin, xmax = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    ymin, ymax = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1e-6
    left, top, w, h = x0 + MARGIN, y0 + 22, PANEL_W - MARGIN - 10, PANEL_H - 44

    def at(p):
        return left + (p[0] - xmin) / (xmax - xmin) * w, top + h - (p[1] - ymin) / (ymax - ymin) * h

    draw.text((x0 + 4, top - 2), f"{ymax:.3g}", fill=(90, 90, 90))
    draw.text((x0 + 4, top + h - 10), f"{ymin:.3g}", fill=(90, 90, 90))
    draw.text((left, top + h + 4), f"step {xmin:.0f}", fill=(90, 90, 90))
    draw.text((left + w - 70, top + h + 4), f"step {xmax:.0f}", fill=(90, 90, 90))
    for j, (colour, s) in enumerate(series):
        if len(s) > 1:
            draw.line([at(p) for p in s], fill=colour, width=2)
        elif s:
            cx, cy = at(s[0])
            draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=colour)
        if s:
            # Beside the title, one line per series.
            at_x = x0 + 20 + draw.textlength(title)
            draw.text((at_x, y0 + 4 + 12 * j), f"{s[0][1]:.3f} -> {s[-1][1]:.3f}", fill=colour)


def plot(work: str, out: str) -> None:
    panels = [
        ("teacher: total loss (smoothed)", [((200, 40, 40), _smooth(_read(os.path.join(work, "teacher", "log.jsonl"), "loss")))]),
        ("teacher: warp SSIM", [((200, 40, 40), _smooth(_read(os.path.join(work, "teacher", "log.jsonl"), "warp_ssim")))]),
        ("student: total loss (smoothed)", [((40, 40, 200), _smooth(_read(os.path.join(work, "student", "log.jsonl"), "loss")))]),
        (
            "student, held-out slice: score (blue), shipped (grey)",
            [
                ((40, 40, 200), _read(os.path.join(work, "selection.jsonl"), "score", "student_step")),
                ((150, 150, 150), _read(os.path.join(work, "selection.jsonl"), "shipped_score", "student_step")),
            ],
        ),
    ]
    image = Image.new("RGB", (2 * PANEL_W, 2 * PANEL_H), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, (title, series) in enumerate(panels):
        _panel(draw, (i % 2) * PANEL_W, (i // 2) * PANEL_H, title, series)
    image.save(out, optimize=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="the campaign's work folder (teacher/, student/, selection.jsonl)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    plot(args.work, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
