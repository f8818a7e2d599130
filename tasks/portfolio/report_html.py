"""The HTML report: one self-contained file (inline CSS, charts as data: URIs, no scripts).

Everything that comes from data goes through Jinja2's autoescape, so a portfolio named
``<script>...`` prints as text. Figures carry ``data-metric`` (their path in the analysis)
and ``data-value`` (the raw value, full precision) so tools and tests can read them back.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from functools import cache

import jinja2

from tasks.portfolio.charts import CHART_TITLES
from tasks.portfolio.report_cells import Section

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:0;
background:#f6f7f9;line-height:1.45}
main{max-width:1000px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px;
border-bottom:2px solid #1f5fa8;padding-bottom:4px}
.meta{color:#666;margin:0 0 16px}
nav a{margin-right:12px;color:#1f5fa8;text-decoration:none;font-size:.9em}
table{border-collapse:collapse;margin:8px 0 12px;font-size:.92em}
th,td{border:1px solid #e1e4e8;padding:4px 10px;text-align:left;vertical-align:top}
thead th{background:#f0f3f7}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{font-weight:normal;color:#444;background:#fafbfc}
table.wide td,table.wide th{padding:3px 6px;font-size:.85em}
figure{margin:12px 0}figure img{max-width:100%;height:auto}
figcaption{color:#666;font-size:.85em}
.note{color:#555;font-size:.9em}
footer{margin-top:40px;color:#777;font-size:.85em;border-top:1px solid #ddd;padding-top:8px}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{% raw %}__CSS__{% endraw %}</style>
</head>
<body>
<main>
<header>
<h1 id="report-title">{{ title }}</h1>
<p class="meta"><span data-field="portfolio_name">{{ name }}</span>
(<span data-field="portfolio_id">{{ portfolio_id }}</span>),
{{ start }} to {{ end }}. Generated
<time data-field="generated_at" datetime="{{ generated_iso }}">{{ generated }}</time>.</p>
<nav>{% for s in sections %}<a href="#section-{{ s.slug }}">{{ s.title }}</a>{% endfor %}</nav>
</header>
{% macro cell(c) -%}
{%- set tag = "th" if c.header else "td" -%}
<{{ tag }}{% if c.header %} scope="row"{% endif %}{% if c.numeric %} class="num"{% endif %}
{%- if c.metric %} data-metric="{{ c.metric }}"{% endif %}
{%- if c.value is not none %} data-value="{{ c.value }}"{% endif %}
{%- if c.style %} style="{{ c.style }}"{% endif %}>{{ c.text }}</{{ tag }}>
{%- endmacro %}
{% for s in sections %}
<section id="section-{{ s.slug }}" data-section="{{ s.slug }}">
<h2>{{ s.title }}</h2>
{% for name in s.charts %}
<figure><img data-chart="{{ name }}" alt="{{ chart_titles[name] }}" width="{{ charts[name].width }}"
 height="{{ charts[name].height }}" src="data:image/png;base64,{{ charts[name].b64 }}">
<figcaption>{{ chart_titles[name] }}</figcaption></figure>
{% endfor %}
{% for t in s.tables %}
<table data-table="{{ t.key }}" class="{{ 'kv' if t.columns|length == 2 else 'wide' }}">
<thead><tr>{% for col in t.columns %}<th scope="col">{{ col }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}<tr{% if row.symbol is not none %} data-symbol="{{ row.symbol }}"{% endif %}>
{%- for c in row.cells %}{{ cell(c) }}{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% endfor %}
{% for note in s.notes %}<p class="note">{{ note }}</p>
{% endfor %}
{% if s.bullets %}<ul data-list="{{ s.slug }}">
{% for item in s.bullets %}<li>{{ item }}</li>
{% endfor %}</ul>{% endif %}
</section>
{% endfor %}
<footer>
<p>Generated {{ generated }}{% if source %} from <span data-field="source">{{ source }}</span>
{%- endif %}.</p>
</footer>
</main>
</body>
</html>
"""


# The CSS is our own constant, not data: spliced in raw so autoescape leaves its quotes.
_TEMPLATE = _TEMPLATE.replace("__CSS__", _CSS.strip())


class _Chart:
    """A PNG ready for a data: URI, with its pixel size from the IHDR chunk."""

    def __init__(self, png: bytes) -> None:
        # PNG layout: 8-byte signature, then IHDR (length, type, width, height, ...).
        self.width, self.height = struct.unpack(">II", png[16:24])
        self.b64 = base64.b64encode(png).decode("ascii")


@cache
def _template() -> jinja2.Template:
    # Compiled once per process; a compiled Template renders safely from many threads.
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.from_string(_TEMPLATE)


def render_html(
    *,
    title: str,
    name: str,
    portfolio_id: str,
    start: str,
    end: str,
    generated: str,
    generated_iso: str,
    source: str,
    sections: Sequence[Section],
    charts: Mapping[str, bytes],
) -> str:
    """The whole HTML document as a string (every data-derived string autoescaped)."""
    return _template().render(
        title=title,
        name=name,
        portfolio_id=portfolio_id,
        start=start,
        end=end,
        generated=generated,
        generated_iso=generated_iso,
        source=source,
        sections=sections,
        charts={key: _Chart(png) for key, png in charts.items()},
        chart_titles=CHART_TITLES,
    )
