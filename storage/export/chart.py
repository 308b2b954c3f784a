"""The board report's chart: RAG counts by theme, this period beside last period, as a PNG.

Drawn with matplotlib's object API on the Agg canvas (no display, no pyplot global state), so it
runs in a server or a test without a screen. Each segment carries its count and a letter (R, A,
G, B, N) as well as its colour, so the chart reads in black and white and for colour-blind readers.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from io import BytesIO

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from storage.export.style import RAG_LOOK

# (key, label, fill, text colour, hatch) in severity order; "none" = not rated, hatched.
SERIES = tuple((key, word, f"#{fill}", f"#{ink}", "//" if key == "none" else "")
               for key, (word, fill, ink) in RAG_LOOK.items())
FONTS = ("Arial", "Liberation Sans", "Helvetica", "DejaVu Sans")


@dataclass
class ThemeBars:
    """One theme's RAG counts at the end of last period (None: no history then) and now."""

    theme: str
    last: dict[str, int] | None  # rag key (red / amber / green / blue / none) -> count
    now: dict[str, int]


def _font() -> str:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in FONTS if name in installed), "sans-serif")


def chart_height_in(themes: list[ThemeBars]) -> float:
    """The drawn height in inches (the width is fixed by the caller)."""
    bars = sum(2 if theme.last is not None else 1 for theme in themes)
    return 0.85 + 0.29 * bars + 0.36 * len(themes)


def rag_chart(themes: list[ThemeBars], *, last_label: str, now_label: str,
              width_cm: float = 17.0) -> bytes:
    """Per theme, a title and a stacked bar for last period above one for this period, as PNG."""
    if not themes:
        raise ValueError("no themes to chart")
    rows: list[tuple[float, str, dict[str, int]]] = []  # (y, tick label, counts), top down
    titles: list[tuple[float, str]] = []
    y = 0.0
    for theme in themes:
        titles.append((y, theme.theme))
        y += 0.8
        if theme.last is not None:
            rows.append((y, last_label, theme.last))
            y += 1
        rows.append((y, now_label, theme.now))
        y += 1.35
    height_in = chart_height_in(themes)
    figure = Figure(figsize=(width_cm / 2.54, height_in), dpi=200)
    FigureCanvasAgg(figure)
    font = _font()
    axes = figure.add_axes((0.22, 0.5 / height_in, 0.76, 1 - 0.82 / height_in))
    positions = [pos for pos, _, _ in rows]
    total = max(sum(counts.get(key, 0) for key, *_ in SERIES) for _, _, counts in rows) or 1
    keys = [key for key, *_ in SERIES]
    for index, (key, label, fill, ink, hatch) in enumerate(SERIES):
        lefts = [sum(counts.get(k, 0) for k in keys[:index]) for _, _, counts in rows]
        widths = [counts.get(key, 0) for _, _, counts in rows]
        edge = "#808080" if hatch else "white"
        axes.barh(positions, widths, left=lefts, height=0.8, color=fill, hatch=hatch,
                  edgecolor=[edge if width else "none" for width in widths], linewidth=0.6,
                  label=label)
        for pos, left, value in zip(positions, lefts, widths, strict=True):
            if value == 0:
                continue
            text = f"{label[0]} {value}" if value / total >= 0.06 else str(value)
            axes.text(left + value / 2, pos, text, ha="center", va="center", color=ink,
                      fontsize=6.5, fontfamily=font, fontweight="bold")
    axes.set_yticks(positions, [label for _, label, _ in rows], fontsize=7, fontfamily=font)
    axes.set_ylim(y - 1.35 + 0.6, -0.6)  # top down
    axes.set_xlim(0, total * 1.02)
    axes.set_xlabel("Number of actions", fontsize=7.5, fontfamily=font)
    axes.tick_params(axis="x", labelsize=7)
    axes.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.xaxis.grid(True, color="#E0E0E0", linewidth=0.6)
    axes.set_axisbelow(True)
    for pos, name in titles:  # the theme's name above its bars, from the figure's left edge
        axes.annotate(textwrap.shorten(name, 120, placeholder="…") or "(no theme)",
                      xy=(0.012, pos), xycoords=("figure fraction", "data"), ha="left",
                      va="center", fontsize=7.5, fontfamily=font, fontweight="bold",
                      color="#1F3864", annotation_clip=False)
    legend = axes.legend(loc="lower center", bbox_to_anchor=(0.4, 1.0), ncol=len(SERIES),
                         frameon=False, prop={"family": font, "size": 7}, handlelength=1.4,
                         columnspacing=1.2)
    legend.set_in_layout(False)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=200, facecolor="white")
    return buffer.getvalue()
