"""Tiny inline SVG bar charts: no JavaScript, no network, readable when the page is saved."""
from __future__ import annotations

import html


def bar_chart(items: list[tuple[str, float]], title: str, width: int = 640, bar_height: int = 18) -> str:
    """Horizontal bars, one per (label, value); labels on the left, values on the right."""
    if not items:
        return f"<p class='empty'>{html.escape(title)}: no data</p>"
    labels = [str(label) for label, _ in items]
    # Room for the longest label (about 7 px a character at 11 px), within reason; longer ones are
    # cut (before escaping, so no entity is split) and shown whole on hover.
    label_w, value_w = min(max(120, 12 + int(7 * max(len(t) for t in labels))), 380), 90
    max_chars = int((label_w - 12) / 7)
    plot_w = width - label_w - value_w
    top = max(v for _, v in items) or 1
    height = bar_height * len(items) + 30
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             f"aria-label='{html.escape(title)}'>",
             f"<text x='0' y='14' font-size='13' font-weight='bold'>{html.escape(title)}</text>"]
    for i, (label, value) in enumerate(items):
        y = 24 + i * bar_height
        w = max(1.0, plot_w * value / top) if value else 0
        text = str(label) if len(str(label)) <= max_chars else str(label)[:max_chars - 1] + "…"
        parts.append(f"<text x='{label_w - 6}' y='{y + 12}' font-size='11' text-anchor='end'>"
                     f"<title>{html.escape(str(label))}</title>{html.escape(text)}</text>"
                     f"<rect class='bar' x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_height - 4}' fill='#4a78b5'/>"
                     f"<text x='{label_w + w + 4:.1f}' y='{y + 12}' font-size='11'>{value:,}</text>")
    parts.append("</svg>")
    return "".join(parts)
