"""A small Markdown renderer for Salon's own documents (``/docs/embed``).

It knows the subset those documents use: ``#`` headings, paragraphs, ``-`` and ``1.`` lists
(with indented continuation lines), pipe tables, fenced code blocks, and inline code,
``**bold**`` and links. Everything is HTML-escaped first: a document cannot inject markup.
Links go only to ``https://``, ``http://``, ``#anchors`` and Salon's own paths; a link to
another Markdown file of the repository shows its text only.
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["render"]

_HEADING = re.compile(r"^(#{1,4}) +(.*)$")
_ITEM = re.compile(r"^(?:- |\d+\. )(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_SAFE_HREF = re.compile(r"^(?:https?://|#|/(?!/))")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"<[^>]+>", "", text).lower()).strip("-")


def _inline(text: str) -> str:
    """Escapes ``text`` and renders its code spans, bold and links."""
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(f"<code>{escape(match[1], quote=False)}</code>")
        return f"\x00{len(spans) - 1}\x00"

    out = escape(_CODE.sub(keep, text), quote=False)
    out = _BOLD.sub(r"<strong>\1</strong>", out)

    def link(match: re.Match[str]) -> str:
        label, href = match[1], match[2]
        if not _SAFE_HREF.match(href):
            return label
        return f'<a href="{escape(href, quote=True)}">{label}</a>'

    out = _LINK.sub(link, out)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m[1])], out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _code_block(lines: list[str], i: int) -> tuple[str, int]:
    lang = lines[i][3:].strip()
    body: list[str] = []
    i += 1
    while i < len(lines) and not lines[i].startswith("```"):
        body.append(lines[i])
        i += 1
    attr = f' class="language-{escape(lang, quote=True)}"' if lang else ""
    return f"<pre><code{attr}>{escape(chr(10).join(body), quote=False)}</code></pre>", i + 1


def _table(lines: list[str], i: int) -> tuple[str, int]:
    rows: list[list[str]] = []
    while i < len(lines) and lines[i].startswith("|"):
        if not re.fullmatch(r"[|\s:-]+", lines[i]):
            rows.append(_cells(lines[i]))
        i += 1
    if not rows:  # only separator lines
        return "", i
    head, *rest = rows
    out = ["<table><thead><tr>", *(f"<th>{_inline(c)}</th>" for c in head), "</tr></thead><tbody>"]
    for row in rest:
        out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out), i


def _list(lines: list[str], i: int) -> tuple[str, int]:
    tag = "ul" if lines[i].startswith("- ") else "ol"
    items: list[str] = []
    while i < len(lines) and (item := _ITEM.match(lines[i])):
        text = [item[1]]
        i += 1
        while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
            text.append(lines[i].strip())
            i += 1
        items.append(f"<li>{_inline(' '.join(text))}</li>")
    return f"<{tag}>{''.join(items)}</{tag}>", i


def _paragraph(lines: list[str], i: int) -> tuple[str, int]:
    text = [lines[i].strip()]  # the first line is this paragraph's, whatever it starts with
    i += 1
    while (
        i < len(lines)
        and lines[i].strip()
        and not lines[i].startswith(("```", "|"))
        and not _HEADING.match(lines[i])
        and not _ITEM.match(lines[i])
    ):
        text.append(lines[i].strip())
        i += 1
    return f"<p>{_inline(' '.join(text))}</p>", i


def render(source: str) -> str:
    """The HTML body of the Markdown ``source``."""
    lines = source.splitlines()
    html: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if heading := _HEADING.match(line):
            level = len(heading[1])
            text = _inline(heading[2])
            html.append(f'<h{level} id="{_slug(text)}">{text}</h{level}>')
            i += 1
            continue
        if line.startswith("```"):
            block, i = _code_block(lines, i)
        elif line.startswith("|"):
            block, i = _table(lines, i)
        elif _ITEM.match(line):
            block, i = _list(lines, i)
        else:
            block, i = _paragraph(lines, i)
        html.append(block)
    return "\n".join(html)
