#!/usr/bin/env python3
"""Renders a `tmux capture-pane -e -p` capture (text with SGR colour escapes) to a PNG.

Used by scripts/screenshots: the images in docs/ are the real binary's screen, drawn cell by cell
with DejaVu Sans Mono, never edited by hand. Needs Pillow (the script installs it in a venv).
"""
import re
import sys
import unicodedata

from PIL import Image, ImageDraw, ImageFont

# xterm's 16 colours, then the 6x6x6 cube and the grey ramp of the 256-colour palette.
BASE = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188),
    (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139),
    (245, 245, 67), (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]
CUBE = [0, 95, 135, 175, 215, 255]
PALETTE = BASE + [(CUBE[i // 36], CUBE[(i // 6) % 6], CUBE[i % 6]) for i in range(216)] + [
    (8 + 10 * i,) * 3 for i in range(24)
]
DEFAULT_FG = (220, 220, 220)
DEFAULT_BG = (24, 24, 28)
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def wide(ch):
    return unicodedata.east_asian_width(ch) in ("W", "F")


def parse(text):
    """Yields rows of cells: (char, fg, bg, bold, reverse)."""
    rows = []
    fg, bg, bold, rev = None, None, False, False
    for line in text.split("\n"):
        cells = []
        pos = 0
        for m in list(SGR.finditer(line)) + [None]:
            end = m.start() if m else len(line)
            for ch in line[pos:end]:
                if ch == "\x1b" or unicodedata.category(ch).startswith("C"):
                    continue
                cells.append((ch, fg, bg, bold, rev))
                if wide(ch):
                    cells.append(("", fg, bg, bold, rev))
            if not m:
                break
            pos = m.end()
            params = [p for p in re.split("[;:]", m.group(1))] or ["0"]
            i = 0
            while i < len(params):
                p = int(params[i] or 0)
                if p == 0:
                    fg, bg, bold, rev = None, None, False, False
                elif p == 1:
                    bold = True
                elif p == 22:
                    bold = False
                elif p == 7:
                    rev = True
                elif p == 27:
                    rev = False
                elif 30 <= p <= 37:
                    fg = PALETTE[p - 30]
                elif 90 <= p <= 97:
                    fg = PALETTE[p - 90 + 8]
                elif 40 <= p <= 47:
                    bg = PALETTE[p - 40]
                elif 100 <= p <= 107:
                    bg = PALETTE[p - 100 + 8]
                elif p == 39:
                    fg = None
                elif p == 49:
                    bg = None
                elif p in (38, 48) and i + 1 < len(params):
                    if params[i + 1] == "5" and i + 2 < len(params):
                        colour = PALETTE[int(params[i + 2]) % 256]
                        i += 2
                    elif params[i + 1] == "2" and i + 4 < len(params):
                        colour = tuple(int(x) for x in params[i + 2 : i + 5])
                        i += 4
                    else:
                        colour = None
                    if p == 38:
                        fg = colour
                    else:
                        bg = colour
                i += 1
        rows.append(cells)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def render(rows, columns, out):
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 15)
    bold_font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 15)
    cw = round(font.getlength("M"))
    # The font's own line height, so box-drawing lines join from row to row.
    ascent, descent = font.getmetrics()
    ch = ascent + descent
    pad = 10
    img = Image.new("RGB", (columns * cw + 2 * pad, len(rows) * ch + 2 * pad), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    for y, cells in enumerate(rows):
        for x, (c, fg, bg, bold, rev) in enumerate(cells):
            f, b = fg or DEFAULT_FG, bg or DEFAULT_BG
            if rev:
                f, b = b, f
            px, py = pad + x * cw, pad + y * ch
            if b != DEFAULT_BG:
                span = 2 if c and wide(c) else 1
                draw.rectangle([px, py, px + span * cw - 1, py + ch - 1], fill=b)
            if c and c != " ":
                draw.text((px, py), c, font=bold_font if bold else font, fill=f)
    img.save(out, optimize=True)


def main():
    src, out, columns = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(src, encoding="utf-8", errors="replace") as fh:
        render(parse(fh.read()), columns, out)


if __name__ == "__main__":
    main()
