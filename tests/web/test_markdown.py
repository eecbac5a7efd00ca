"""The small Markdown renderer behind /docs/embed."""

from __future__ import annotations

from pathlib import Path

from salon.web.markdown import render

DOCS = Path(__file__).parents[2] / "docs"


def test_blocks() -> None:
    html = render(
        "# Title\n\nSome *text* and `code <b>`.\nSame paragraph.\n\n"
        "- one\n  continued\n- two\n\n1. first\n2. second\n\n"
        "| a | b |\n|---|---|\n| `x` | y |\n\n```html\n<salon-embed room=x>\n```\n"
    )
    assert '<h1 id="title">Title</h1>' in html
    assert "<p>Some *text* and <code>code &lt;b&gt;</code>. Same paragraph.</p>" in html
    assert "<ul><li>one continued</li><li>two</li></ul>" in html
    assert "<ol><li>first</li><li>second</li></ol>" in html
    assert "<th>a</th><th>b</th>" in html and "<td><code>x</code></td><td>y</td>" in html
    assert '<pre><code class="language-html">&lt;salon-embed room=x&gt;</code></pre>' in html


def test_odd_lines_end_up_in_paragraphs() -> None:
    assert render("#hashtag\n\n|---|\n") == "<p>#hashtag</p>\n"


def test_nothing_in_a_document_becomes_markup_or_script() -> None:
    html = render(
        '<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://a.example/?q="1")'
        " [z](signaling.md) **<i>b</i>**"
    )
    assert "<script>" not in html and "<i>" not in html
    assert "javascript:" not in html
    assert '<a href="https://a.example/?q=&quot;1&quot;">y</a>' in html
    assert "z" in html and "signaling.md" not in html
    assert "<strong>&lt;i&gt;b&lt;/i&gt;</strong>" in html


def test_the_embedding_guide_renders() -> None:
    html = render((DOCS / "embed.md").read_text(encoding="utf-8"))
    assert html.startswith('<h1 id="embedding-salon-rooms">')
    assert "&lt;salon-embed" in html
    assert html.count("<table>") >= 4
