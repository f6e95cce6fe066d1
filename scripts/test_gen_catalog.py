"""Tests for scripts/gen_catalog.py, on a small inline price list.

Run: python3 -m unittest discover -s scripts -p 'test_*.py'
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen_catalog as gc  # noqa: E402

FAKE = """
{
  "sample_spec": {
    "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
    "mode": "one of: chat, embedding, completion",
    "input_cost_per_token": 0.0, "output_cost_per_token": 0.0
  },
  "gpt-4o": {
    "litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-06,
    "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
    "max_input_tokens": 128000, "max_output_tokens": 16384,
    "supports_vision": true, "supports_function_calling": true, "supports_prompt_caching": true,
    "supports_reasoning": false
  },
  "gpt-5": {
    "litellm_provider": "openai", "mode": "responses",
    "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-07,
    "cache_read_input_token_cost_flex": 6.25e-08,
    "input_cost_per_token_flex": 6.25e-07, "output_cost_per_token_flex": 5e-06,
    "input_cost_per_token_priority": 2.5e-06, "output_cost_per_token_priority": 2e-05,
    "cache_read_input_token_cost_priority": 2.5e-07
  },
  "gemini/gemini-2.5-pro": {
    "litellm_provider": "gemini", "mode": "chat",
    "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    "input_cost_per_token_above_200k_tokens": 2.5e-06,
    "output_cost_per_token_above_200k_tokens": 1.5e-05,
    "cache_read_input_token_cost": 3e-07,
    "cache_read_input_token_cost_above_200k_tokens": 6.25e-07
  },
  "two-thresholds": {
    "litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
    "input_cost_per_token_above_272k_tokens": 9e-06,
    "output_cost_per_token_above_272k_tokens": 9e-06,
    "input_cost_per_token_above_200k_tokens": 3e-06,
    "output_cost_per_token_above_200k_tokens": 4e-06,
    "input_cost_per_token_above_100k_tokens_priority": 1e-06
  },
  "claude-sonnet-4-5": {
    "litellm_provider": "anthropic", "mode": "chat",
    "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
    "cache_creation_input_token_cost": 3.75e-06,
    "cache_creation_input_token_cost_above_1hr": 6e-06,
    "cache_read_input_token_cost": 3e-07
  },
  "deepseek-chat": {
    "litellm_provider": "deepseek", "mode": "chat",
    "input_cost_per_token": 9e-07, "output_cost_per_token": 9e-07
  },
  "deepseek/deepseek-chat": {
    "litellm_provider": "deepseek", "mode": "chat",
    "input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07
  },
  "Mixed/Case-Model": {
    "litellm_provider": " Mixed ", "mode": "completion",
    "output_cost_per_token": 0, "input_cost_per_request": 0.0025
  },
  "text-embedding-3-small": {
    "litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08
  },
  "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.04},
  "unpriced": {"litellm_provider": "openai", "mode": "chat"},
  "bad-field": {
    "litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
    "cache_read_input_token_cost": "0.1", "output_cost_per_reasoning_token": true
  },
  "o'brien-7b": {"litellm_provider": "o'neil", "mode": "chat", "input_cost_per_token": 3e-07}
}
"""


def load_fake():
    return json.loads(FAKE, parse_float=Decimal)


def quiet(fn, *args):
    """Calls fn, returning (result, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = fn(*args)
    return result, err.getvalue()


class ConversionTest(unittest.TestCase):
    def conv(self, s):
        return gc.fmt_decimal(gc.per_mtok(Decimal(s)))

    def test_exact_per_mtok(self):
        self.assertEqual(self.conv("2.5e-06"), "2.5")
        self.assertEqual(self.conv("6.25e-08"), "0.0625")
        self.assertEqual(self.conv("3e-07"), "0.3")
        self.assertEqual(self.conv("1e-05"), "10")
        self.assertEqual(self.conv("0"), "0")
        self.assertEqual(self.conv("0.0"), "0")
        self.assertEqual(self.conv("1.2345678901234567890123456789e-09"),
                         "0.0012345678901234567890123456789")
        self.assertEqual(gc.fmt_decimal(gc.per_mtok(Decimal(0))), "0")

    def test_no_exponent_and_no_trailing_zeros(self):
        self.assertEqual(gc.fmt_decimal(Decimal("1E+3")), "1000")
        self.assertEqual(gc.fmt_decimal(Decimal("2.500")), "2.5")
        self.assertEqual(gc.fmt_decimal(Decimal("1E-12")), "0.000000000001")
        self.assertEqual(gc.fmt_decimal(Decimal("100")), "100")

    def test_sql_quoting(self):
        self.assertEqual(gc.sql_str("o'brien"), "'o''brien'")
        self.assertEqual(gc.sql_value(None), "NULL")
        self.assertEqual(gc.sql_value(272000), "272000")


class RowsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows, cls.stderr = quiet(gc.build_rows, load_fake())
        cls.by = {(r["provider"], r["model"], r["service_tier"]): r for r in cls.rows}

    def row(self, provider, model, tier="standard"):
        return self.by[(provider, model, tier)]

    def s(self, v):
        return None if v is None else gc.fmt_decimal(v)

    def test_standard_row(self):
        r = self.row("openai", "gpt-4o")
        self.assertEqual(self.s(r["input_per_mtok"]), "2.5")
        self.assertEqual(self.s(r["output_per_mtok"]), "10")
        self.assertEqual(self.s(r["cache_read_per_mtok"]), "1.25")
        self.assertIsNone(r["cache_write_per_mtok"])
        self.assertIsNone(r["tier_threshold_tokens"])

    def test_tier_rows_and_fallback(self):
        tiers = [t for (p, m, t) in self.by if (p, m) == ("openai", "gpt-5")]
        self.assertEqual(sorted(tiers), ["flex", "priority", "standard"])
        self.assertNotIn(("openai", "gpt-4o", "flex"), self.by)
        b = self.row("openai", "gpt-4o", "batch")
        self.assertEqual(self.s(b["input_per_mtok"]), "1.25")
        self.assertEqual(self.s(b["output_per_mtok"]), "5")
        # no cache_read_input_token_cost_batches: falls back to the standard field
        self.assertEqual(self.s(b["cache_read_per_mtok"]), "1.25")
        f = self.row("openai", "gpt-5", "flex")
        self.assertEqual(self.s(f["input_per_mtok"]), "0.625")
        self.assertEqual(self.s(f["cache_read_per_mtok"]), "0.0625")
        p = self.row("openai", "gpt-5", "priority")
        self.assertEqual(self.s(p["output_per_mtok"]), "20")
        self.assertEqual(self.s(p["cache_read_per_mtok"]), "0.25")

    def test_tier_order(self):
        order = [r["service_tier"] for r in self.rows if r["model"] == "gpt-5"]
        self.assertEqual(order, ["standard", "flex", "priority"])
        keys = [(r["provider"], r["model"], gc.TIER_ORDER[r["service_tier"]]) for r in self.rows]
        self.assertEqual(keys, sorted(keys))

    def test_200k_threshold(self):
        r = self.row("gemini", "gemini-2.5-pro")
        self.assertEqual(r["tier_threshold_tokens"], 200000)
        self.assertEqual(self.s(r["input_per_mtok_above_tier"]), "2.5")
        self.assertEqual(self.s(r["output_per_mtok_above_tier"]), "15")
        self.assertEqual(self.s(r["cache_read_per_mtok"]), "0.3")
        self.assertEqual(self.s(r["cache_read_per_mtok_above_tier"]), "0.625")
        self.assertIsNone(r["cache_write_per_mtok_above_tier"])

    def test_smallest_threshold_wins(self):
        r = self.row("openai", "two-thresholds")
        # 200k and 272k present; the _priority 100k field is not a standard threshold
        self.assertEqual(r["tier_threshold_tokens"], 200000)
        self.assertEqual(self.s(r["input_per_mtok_above_tier"]), "3")
        self.assertEqual(self.s(r["output_per_mtok_above_tier"]), "4")
        self.assertEqual(gc.tier_threshold_k({"input_cost_per_token_above_272k_tokens": 1}), 272)

    def test_above_1hr_is_not_a_tier(self):
        r = self.row("anthropic", "claude-sonnet-4-5")
        self.assertIsNone(r["tier_threshold_tokens"])
        self.assertEqual(self.s(r["cache_write_per_mtok"]), "3.75")
        self.assertIsNone(r["cache_write_per_mtok_above_tier"])
        self.assertIsNone(gc.tier_threshold_k({"cache_creation_input_token_cost_above_1hr": 1,
                                               "input_cost_per_token_above_1hr": 1,
                                               "input_cost_per_token_above_k_tokens": 1}))

    def test_prefix_stripping_and_duplicates(self):
        deepseek = [r for r in self.rows if r["provider"] == "deepseek"]
        self.assertEqual(len(deepseek), 1)
        self.assertEqual(deepseek[0]["model"], "deepseek-chat")
        self.assertEqual(self.s(deepseek[0]["input_per_mtok"]), "0.28")  # the prefixed key won
        self.assertEqual(self.row("gemini", "gemini-2.5-pro")["model"], "gemini-2.5-pro")
        # provider lower-cased and stripped; prefix matched on the original string " Mixed "
        self.assertIn(("mixed", "Mixed/Case-Model", "standard"), self.by)

    def test_duplicate_rule_is_order_independent(self):
        data = load_fake()
        reordered = dict(reversed(list(data.items())))
        rows2, _ = quiet(gc.build_rows, reordered)
        self.assertEqual(rows2, self.rows)

    def test_missing_price_is_zero_and_per_request_unscaled(self):
        r = self.row("mixed", "Mixed/Case-Model")
        self.assertEqual(self.s(r["input_per_mtok"]), "0")
        self.assertEqual(self.s(r["output_per_mtok"]), "0")
        self.assertEqual(self.s(r["per_request"]), "0.0025")
        self.assertEqual(self.s(self.row("o'neil", "o'brien-7b")["output_per_mtok"]), "0")

    def test_only_chat_completion_responses(self):
        models = {r["model"] for r in self.rows}
        self.assertNotIn("text-embedding-3-small", models)
        self.assertNotIn("dall-e-3", models)
        self.assertNotIn("unpriced", models)
        self.assertNotIn("sample_spec", models)
        self.assertFalse(any("one of" in r["provider"] for r in self.rows))

    def test_non_numeric_field_skipped_with_warning(self):
        r = self.row("openai", "bad-field")
        self.assertIsNone(r["cache_read_per_mtok"])
        self.assertIsNone(r["reasoning_per_mtok"])
        self.assertIn("cache_read_input_token_cost", self.stderr)
        self.assertIn("output_cost_per_reasoning_token", self.stderr)


class OutputTest(unittest.TestCase):
    def test_sql_file(self):
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "prices.json"
            src.write_text(FAKE, encoding="utf-8")
            out1, out2 = Path(d) / "a.sql", Path(d) / "b.sql"
            quiet(gc.main, ["--input", str(src), "--output", str(out1), "--verified-at", "2025-01-02"])
            quiet(gc.main, ["--input", str(src), "--output", str(out2), "--verified-at", "2025-01-02"])
            sql = out1.read_text(encoding="utf-8")
            self.assertEqual(out1.read_bytes(), out2.read_bytes())
        self.assertTrue(sql.startswith("--"))
        self.assertEqual(sql.count("INSERT INTO llm_cost.prices ("), 1)
        self.assertTrue(sql.endswith(");\n"))
        self.assertNotIn("e-0", sql)
        self.assertNotIn("E-0", sql)
        self.assertIn(
            "('openai', 'gpt-4o', 'standard', '-infinity', 2.5, 10, 1.25, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, 'USD', 'catalog', '2025-01-02 00:00:00+00'),", sql)
        self.assertIn(
            "('gemini', 'gemini-2.5-pro', 'standard', '-infinity', 1.25, 10, 0.3, NULL, NULL, 200000, "
            "2.5, 15, 0.625, NULL, NULL, 'USD', 'catalog', '2025-01-02 00:00:00+00')", sql)
        self.assertIn("('o''neil', 'o''brien-7b', 'standard',", sql)
        # header counts: 9 models, 12 rows (gpt-4o +batch, gpt-5 +flex +priority), 6 providers
        self.assertIn("9 models, 12 rows, 6 providers", sql)
        values = sql.split(" VALUES\n", 1)[1].split(";\n", 1)[0].splitlines()
        self.assertEqual(len(values), 12)
        # capabilities: one row per priced model, after the prices
        self.assertEqual(sql.count("INSERT INTO llm_cost.models ("), 1)
        self.assertIn("('openai', 'gpt-4o', 'chat', 128000, 16384, false, true, true, true, false, 'catalog')", sql)
        self.assertIn("('deepseek', 'deepseek-chat', 'chat', NULL, NULL, false, false, false, false, false, 'catalog')", sql)
        models = sql.split("INSERT INTO llm_cost.models (", 1)[1].split(" VALUES\n", 1)[1].splitlines()
        self.assertEqual(len(models), 9)
        self.assertTrue(all(v.endswith("),") for v in values[:-1]))


if __name__ == "__main__":
    unittest.main()
