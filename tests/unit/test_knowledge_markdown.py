"""Knowledge documents: splitting Markdown into items, rendering outputs, queries, snippets."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.knowledge.importing import KnowledgeImportError, read_text_file
from orchestrator.knowledge.markdown import (
    MAX_ITEM_CHARS,
    MAX_TITLE_CHARS,
    document_title,
    split_markdown,
)
from orchestrator.knowledge.query import fts5_match, make_snippet, pg_tsquery, query_terms
from orchestrator.knowledge.render import format_number, humanize_key, render_markdown
from orchestrator.knowledge.starter import parse_starter, starter_documents
from orchestrator.knowledge.tables import TITLE_LEN
from tasks.assistant.update_knowledge import knowledge_text

DOC = """# Risk metrics

What the figures mean.

## Volatility

The standard deviation of returns.

### Annualising
Multiply by sqrt(252).

## Sharpe ratio

Excess return per unit of risk.

```python
# not a heading: inside a code fence
```

## Empty

## Drawdown
Fall from the peak.
"""


def test_a_document_splits_into_its_sections_under_the_title() -> None:
    sections = split_markdown(DOC, "fallback")
    assert [s.title for s in sections] == ["Risk metrics", "Volatility", "Sharpe ratio", "Drawdown"]
    # The intro is its own item; deeper headings and code stay inside their section.
    assert sections[0].body == "What the figures mean."
    assert "### Annualising" in sections[1].body and "sqrt(252)" in sections[1].body
    assert "# not a heading" in sections[2].body
    assert document_title(DOC, "fallback") == "Risk metrics"


def test_setext_headings_and_plain_text() -> None:
    sections = split_markdown("Notes\n=====\n\nintro\n\nFirst\n-----\nbody one\n", "f")
    assert [(s.title, s.body) for s in sections] == [("Notes", "intro"), ("First", "body one")]
    assert [(s.title, s.body) for s in split_markdown("just a line\n", "Plain")] == [
        ("Plain", "just a line")
    ]
    assert split_markdown("  \n\n", "Empty") == []


def test_a_single_h1_document_keeps_its_text_without_the_heading() -> None:
    (only,) = split_markdown("# Title\n\nBody text.", "ignored")
    assert (only.title, only.body) == ("Title", "Body text.")


def test_a_long_section_is_cut_at_paragraphs_into_numbered_parts() -> None:
    paragraph = "word " * 1000  # about 5,000 characters
    text = "## Long\n\n" + "\n\n".join([paragraph.strip()] * 10)
    sections = split_markdown(text, "doc")
    assert len(sections) > 1
    assert all(len(s.body) <= MAX_ITEM_CHARS for s in sections)
    assert sections[0].title == f"Long (part 1 of {len(sections)})"
    assert sum(s.body.count("word") for s in sections) == 10_000


def test_outputs_render_as_readable_markdown() -> None:
    output = {
        "summary": "The portfolio rose 12 %.",
        "effect_key": "r1:t1:0",
        "returns": {"total_return": 0.1234, "observations": 251},
        "risk": {"sharpe": 1.23456, "volatility": 0.2},
        "insights": [
            {"title": "Concentration", "severity": "high", "weight": 0.4},
            {"title": "Cash drag"},
        ],
        "symbols": ["AAPL", "MSFT"],
        "benchmark": None,
    }
    text = render_markdown(output)
    assert text.startswith("The portfolio rose 12 %.")
    assert "## Returns" in text and "- **Total return:** 12.34 %" in text
    assert "- **Observations:** 251" in text and "- **Sharpe:** 1.235" in text
    assert "- **Concentration**: Severity: high; Weight: 40.00 %" in text
    assert "- AAPL" in text and "- MSFT" in text
    assert "r1:t1:0" not in text and "Benchmark" not in text
    # Headings of the rendering split it into items like any document.
    titles = [s.title for s in split_markdown(text, "Portfolio review")]
    assert titles == ["Portfolio review", "Returns", "Risk", "Insights", "Symbols"]


def test_long_lists_are_cut_and_numbers_formatted() -> None:
    text = render_markdown({"values": list(range(80))})
    assert "- 49" in text and "- 50\n" not in text and "... and 30 more" in text
    assert format_number(1234567.891) == "1,234,567.89"
    assert format_number(0.000123456) == "0.0001235"
    assert format_number(float("nan")) == "n/a"
    assert humanize_key("max_drawdown") == "Max drawdown"
    assert humanize_key("sharpeRatio") == "Sharpe ratio"


def test_knowledge_text_puts_each_upstream_output_under_its_label() -> None:
    text = knowledge_text(
        "What we learned.",
        {"t1": {"a": 1}, "t2": ["x"]},
        {"t1": "Analyze portfolio (t1)", "t2": "Research topic (t2)"},
    )
    assert text.index("What we learned.") < text.index("## Analyze portfolio (t1)")
    assert "## Research topic (t2)" in text and "- **A:** 1" in text and "- x" in text


def test_empty_outputs_are_not_knowledge() -> None:
    assert knowledge_text(None, {"t1": None}, {}) == ""
    assert knowledge_text(None, {"t1": None, "t2": [], "t3": {}, "t4": "  "}, {}) == ""
    # Beside a real output, an empty one gets no heading of its own
    text = knowledge_text(None, {"t1": None, "t2": {"a": 1}}, {"t1": "Empty (t1)"})
    assert text == "- **A:** 1\n"
    assert knowledge_text("Only text.", {"t1": None}, {}) == "Only text.\n"


def test_one_title_limit_the_database_column() -> None:
    assert MAX_TITLE_CHARS == TITLE_LEN
    assert len(document_title("# " + "t" * 400, "fallback")) == MAX_TITLE_CHARS


def test_research_fractions_render_as_percentages() -> None:
    text = render_markdown({"universe_share": 0.25, "distance_from_sma": -0.0312, "sma": 101.5})
    assert "- **Universe share:** 25.00 %" in text
    assert "- **Distance from sma:** -3.12 %" in text and "- **Sma:** 101.5" in text


def test_queries_never_carry_syntax_into_the_search() -> None:
    terms = query_terms('Sharpe "ratio" AND (volatility*) -- NEAR/3 sharpe; DROP TABLE')
    assert terms == ["sharpe", "ratio", "and", "volatility", "near", "3", "drop", "table"]
    assert fts5_match(["sharpe", "ratio"]) == '"sharpe" OR "ratio"'
    assert pg_tsquery(["sharpe", "ratio"]) == "sharpe | ratio"
    assert query_terms("!!! ... ???") == []


def test_a_snippet_shows_the_text_around_the_match() -> None:
    body = "Intro words. " * 40 + "Here **volatility** is explained at length. " + "x " * 100
    snippet = make_snippet(body, ["volatilities"])
    assert "volatility is explained" in snippet
    assert snippet.startswith("...") and snippet.endswith("...")
    assert "**" not in snippet
    assert make_snippet("short `max_drawdown` body", ["zzz"]) == "short max_drawdown body"


def test_the_starter_set_covers_the_promised_topics() -> None:
    docs = {doc.slug: doc for doc in starter_documents()}
    text = "\n".join(doc.text for doc in docs.values())
    for topic in [
        "## Volatility", "## Sharpe ratio", "## Sortino ratio", "## Beta", "## Alpha",
        "## Value at risk", "## Conditional value at risk", "## Drawdown", "## Calmar ratio",
        "## Tracking error", "## Information ratio", "## Diversification",
        "Herfindahl-Hirschman", "## Correlation", "## Rebalancing", "## Benchmark",
        "## Sectors", "## Moving-average crossover", "## Volatility targeting",
        "## Look-ahead bias", "## Data quality section",
    ]:  # fmt: skip
        assert topic in text, topic
    assert all("starter" in doc.tags for doc in docs.values())
    assert docs["risk-metrics"].title == "Risk metrics"
    assert "<!--" not in docs["risk-metrics"].text


def test_a_changed_starter_file_gets_a_new_key() -> None:
    one = parse_starter("x", "<!-- tags: a, b -->\n# X\n\n## S\nbody")
    two = parse_starter("x", "<!-- tags: a, b -->\n# X\n\n## S\nbody changed")
    assert one.tags == ["a", "b", "starter"] and one.title == "X"
    assert one.key != two.key and one.key.startswith("starter:x:")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"text\x00more", "binary file"),
        (b"caf\xe9 latin-1", "not valid UTF-8"),
        (b"   \n", "empty"),
    ],
)
def test_files_that_are_not_text_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "doc.md"
    path.write_bytes(content)
    with pytest.raises(KnowledgeImportError, match=reason):
        read_text_file(path)


def test_huge_files_are_refused_and_utf8_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_bytes(b"a" * 101)
    with pytest.raises(KnowledgeImportError, match="import limit"):
        read_text_file(path, max_bytes=100)
    path.write_bytes("\ufeff# Café\n".encode())
    assert read_text_file(path) == "# Café\n"
