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
  "vertex_ai/gemini-2.0-flash": {
    "litellm_provider": "vertex_ai-language-models", "mode": "chat",
    "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07
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

    def test_every_priced_mode_and_nothing_unpriced(self):
        models = {r["model"] for r in self.rows}
        self.assertIn("text-embedding-3-small", models)
        self.assertIn("dall-e-3", models)
        self.assertNotIn("unpriced", models)
        self.assertNotIn("sample_spec", models)
        self.assertFalse(any("one of" in r["provider"] for r in self.rows))

    def test_non_numeric_field_skipped_with_warning(self):
        r = self.row("openai", "bad-field")
        self.assertIsNone(r["cache_read_per_mtok"])
        self.assertIsNone(r["reasoning_per_mtok"])
        self.assertIn("cache_read_input_token_cost", self.stderr)
        self.assertIn("output_cost_per_reasoning_token", self.stderr)


class OffPeakTest(unittest.TestCase):
    WINDOWS = [{"hours_utc": ["00:00-01:00", "04:00-06:00", "10:00-00:00"], "weekdays": [1, 2, 3, 4, 5]},
               {"hours_utc": "00:00-00:00", "weekdays": [6, 7]}]

    def entry(self, **extra):
        e = {"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": Decimal("1.74e-06"),
             "output_cost_per_token": Decimal("3.48e-06"), "cache_read_input_token_cost": Decimal("1.45e-07"),
             "off_peak_pricing": {"input_cost_per_token": Decimal("6.6e-07"),
                                  "output_cost_per_token": Decimal("1.98e-06"),
                                  "cache_read_input_token_cost": Decimal("2.2e-08"), "windows": self.WINDOWS}}
        e.update(extra)
        return e

    def test_litellm_off_peak_pricing(self):
        (rows, _) = quiet(gc.build_rows, {"deepseek/deepseek-v4-pro": self.entry()})
        r = rows[0]
        self.assertEqual((r["input_per_mtok"], r["off_peak_input_per_mtok"], r["off_peak_output_per_mtok"],
                          r["off_peak_cache_read_per_mtok"]),
                         (Decimal("1.74"), Decimal("0.66"), Decimal("1.98"), Decimal("0.022")))
        self.assertEqual(r["off_peak_windows"], [
            {"hours_utc": ["00:00-01:00", "04:00-06:00", "10:00-00:00"], "weekdays": [1, 2, 3, 4, 5],
             "weekday_timezone": "UTC"},
            {"hours_utc": ["00:00-00:00"], "weekdays": [6, 7], "weekday_timezone": "UTC"}])
        sql = gc.off_peak_sql(rows)
        self.assertIn("UPDATE llm_cost.prices AS p", sql)
        self.assertIn("('deepseek', 'deepseek-v4-pro', 'standard', '-infinity'::timestamptz, 0.66::numeric, "
                      "1.98::numeric, 0.022::numeric, '[{\"hours_utc\": [\"00:00-01:00\", \"04:00-06:00\", "
                      "\"10:00-00:00\"], \"weekdays\": [1, 2, 3, 4, 5], \"weekday_timezone\": \"UTC\"}, "
                      "{\"hours_utc\": [\"00:00-00:00\"], \"weekdays\": [6, 7], \"weekday_timezone\": \"UTC\"}]'::jsonb)",
                      sql)
        self.assertNotIn("off_peak", gc.row_sql(r, "2025-01-02"))
        self.assertEqual(gc.off_peak_sql([dict(r, off_peak_windows=None)]), "")

    def test_weekday_timezone_moves_into_each_window(self):
        e = self.entry()
        e["off_peak_pricing"] = dict(e["off_peak_pricing"], weekday_timezone="Asia/Shanghai")
        (rows, _) = quiet(gc.build_rows, {"tencent/deepseek-v4-pro": dict(e, litellm_provider="tencent")})
        self.assertEqual({w["weekday_timezone"] for w in rows[0]["off_peak_windows"]}, {"Asia/Shanghai"})

    def test_missing_off_peak_price_is_the_regular_one(self):
        e = self.entry()
        e["off_peak_pricing"] = {"input_cost_per_token": Decimal("5e-07"), "windows": self.WINDOWS}
        (rows, _) = quiet(gc.build_rows, {"m": e})
        self.assertEqual((rows[0]["off_peak_output_per_mtok"], rows[0]["off_peak_cache_read_per_mtok"]),
                         (Decimal("3.48"), None))

    def test_unusable_off_peak_pricing_is_dropped_with_a_warning(self):
        for bad in ({"windows": [{"hours_utc": "22:00-02:00"}]}, {"windows": []},
                    {"windows": [{"hours_utc": "00:00-00:00", "weekdays": [8]}]}, [1]):
            (rows, err) = quiet(gc.build_rows, {"m": self.entry(off_peak_pricing=bad)})
            self.assertIsNone(rows[0]["off_peak_windows"], bad)
            self.assertIn("off_peak_pricing", err)
        (rows, err) = quiet(gc.build_rows, {"m": self.entry(input_cost_per_token_above_200k_tokens=Decimal("3e-06"))})
        self.assertIsNone(rows[0]["off_peak_windows"])
        self.assertIn("long-context tier", err)
        # other tiers never carry off-peak prices
        (rows, _) = quiet(gc.build_rows, {"m": self.entry(input_cost_per_token_batches=Decimal("1e-06"))})
        self.assertEqual([r["off_peak_windows"] is None for r in rows], [False, True])

    def test_normalise_windows(self):
        self.assertEqual(gc.normalise_windows([{"hours_utc": ["12:00-24:00", "00:00-01:30", "00:00-01:30"],
                                                "weekdays": [5, 1, 1]}]),
                         [{"hours_utc": ["00:00-01:30", "12:00-00:00"], "weekdays": [1, 5],
                           "weekday_timezone": "UTC"}])
        for bad in ([], [{"hours_utc": "24:00-01:00"}], [{"hours_utc": "05:00-05:00"}], [{"hours_utc": "5:00-6:00"}],
                    [{"hours_utc": "00:00-00:00", "days": [1]}], [{"hours_utc": "00:00-00:00", "weekdays": [True]}],
                    [{"hours_utc": "00:00-00:00", "weekday_timezone": "Mars/Olympus"}]):
            with self.assertRaises(ValueError, msg=bad):
                gc.normalise_windows(bad)
        self.assertEqual(gc.daily_windows(990, 30)[0]["hours_utc"], ["00:00-00:30", "16:30-00:00"])
        self.assertEqual(gc.daily_windows(30, 990)[0]["hours_utc"], ["00:30-16:30"])
        self.assertEqual(gc.daily_windows(0, 360)[0]["hours_utc"], ["00:00-06:00"])


class OutputTest(unittest.TestCase):
    def test_sql_file(self):
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "prices.json"
            src.write_text(FAKE, encoding="utf-8")
            out1, out2 = Path(d) / "a.sql", Path(d) / "b.sql"
            quiet(gc.main, ["--input", str(src), "--output", str(out1), "--verified-at", "2025-01-02", "--no-genai"])
            quiet(gc.main, ["--input", str(src), "--output", str(out2), "--verified-at", "2025-01-02", "--no-genai"])
            sql = out1.read_text(encoding="utf-8")
            self.assertEqual(out1.read_bytes(), out2.read_bytes())
        self.assertTrue(sql.startswith("--"))
        self.assertEqual(sql.count("INSERT INTO llm_cost.prices ("), 1)
        self.assertTrue(sql.endswith(" WHERE llm_cost.models.source = 'catalog';\n"))
        self.assertNotIn("e-0", sql)
        self.assertNotIn("E-0", sql)
        self.assertIn(
            "('openai', 'gpt-4o', 'standard', '-infinity', 2.5, 10, 1.25, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'USD', 'catalog', "
            "'2025-01-02 00:00:00+00'),", sql)
        self.assertIn(
            "('gemini', 'gemini-2.5-pro', 'standard', '-infinity', 1.25, 10, 0.3, NULL, NULL, 200000, "
            "2.5, 15, 0.625, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'USD', 'catalog', "
            "'2025-01-02 00:00:00+00')", sql)
        self.assertNotIn("UPDATE llm_cost.prices AS p", sql)  # no time-of-day prices in this list
        self.assertIn("('o''neil', 'o''brien-7b', 'standard',", sql)
        # header counts: 12 models (text-embedding-3-small and dall-e-3 too), 15 rows
        # (gpt-4o +batch, gpt-5 +flex +priority), 7 providers
        self.assertIn("12 models, 15 rows, 7 providers", sql)
        values = sql.split(" VALUES\n", 1)[1].split("\nON CONFLICT", 1)[0].splitlines()
        self.assertEqual(len(values), 15)
        # capabilities: one row per priced model, after the prices
        self.assertEqual(sql.count("INSERT INTO llm_cost.models ("), 1)
        self.assertIn("('openai', 'gpt-4o', 'chat', 128000, 16384, false, true, true, true, false, 'catalog')", sql)
        self.assertIn("('deepseek', 'deepseek-chat', 'chat', NULL, NULL, false, false, false, false, false, 'catalog')", sql)
        models = sql.split("INSERT INTO llm_cost.models (", 1)[1].split(" VALUES\n", 1)[1] \
            .split("\nON CONFLICT", 1)[0].splitlines()
        self.assertEqual(len(models), 12)
        self.assertTrue(all(v.endswith("),") for v in values[:-1]))



# A small genai-prices document: dated history, a retired model, a conflict,
# provider mapping, tiers, a per-request fee and DeepSeek's off-peak switch.
GENAI = """
[
  {"id": "openai", "name": "OpenAI", "models": [
    {"id": "gpt-4o", "match": {"or": [{"equals": "gpt-4o"}, {"starts_with": "gpt-4o-20"}]},
     "prices": {"input_mtok": 2.5, "cache_read_mtok": 1.25, "output_mtok": 10}},
    {"id": "o3", "match": {"or": [{"equals": "o3"}, {"equals": "o3-2025-04-16"}]},
     "prices": [{"prices": {"input_mtok": 10, "cache_read_mtok": 2.5, "output_mtok": 40}},
                {"constraint": {"start_date": "2025-06-10"},
                 "prices": {"input_mtok": 2, "cache_read_mtok": 0.5, "output_mtok": 8}}]},
    {"id": "gpt-5", "match": {"equals": "gpt-5"},
     "prices": {"input_mtok": 1.5, "output_mtok": 10}},
    {"id": "o1-mini", "match": {"equals": "o1-mini"}, "deprecated": true,
     "prices": {"input_mtok": 1.1, "cache_read_mtok": 0.55, "output_mtok": 4.4}},
    {"id": "gpt-4o-audio-preview", "match": {"equals": "gpt-4o-audio-preview"},
     "prices": {"input_mtok": 2.5, "output_mtok": 10, "input_audio_mtok": 40}},
    {"id": "text-embedding-3-small", "match": {"equals": "text-embedding-3-small"},
     "prices": {"input_mtok": 0.02}},
    {"id": "dall-e-3", "match": {"equals": "dall-e-3"}, "prices": {"output_audio_mtok": 1}}
  ]},
  {"id": "x-ai", "name": "X AI", "models": [
    {"id": "grok-2-1212", "match": {"or": [{"equals": "grok-2-1212"}, {"equals": "grok-2"}]},
     "deprecated": true, "prices": {"input_mtok": 2, "output_mtok": 10}}
  ]},
  {"id": "google", "name": "Google", "models": [
    {"id": "gemini-1.5-pro", "match": {"contains": "gemini-1.5-pro"},
     "prices": {"input_mtok": {"base": 1.25, "tiers": [{"start": 128000, "price": 2.5}]},
                "output_mtok": {"base": 5, "tiers": [{"start": 128000, "price": 10}]},
                "cache_read_mtok": 0.3125}},
    {"id": "gemini-2.0-flash", "match": {"equals": "gemini-2.0-flash"},
     "prices": {"input_mtok": 0.1, "output_mtok": 0.4}},
    {"id": "gemini-2.5-pro", "match": {"starts_with": "gemini-2.5-pro"},
     "prices": {"input_mtok": {"base": 1.25, "tiers": [{"start": 200000, "price": 2.5}]},
                "output_mtok": {"base": 10, "tiers": [{"start": 200000, "price": 15}]},
                "cache_read_mtok": {"base": 0.3, "tiers": [{"start": 200000, "price": 0.625}]}}},
    {"id": "claude-3-5-sonnet", "match": {"contains": "claude-3-5-sonnet"},
     "prices": {"input_mtok": 3, "output_mtok": 15}}
  ]},
  {"id": "aws", "name": "AWS Bedrock", "models": [
    {"id": "regional.anthropic.claude-3-haiku-20240307-v1:0",
     "match": {"or": [{"starts_with": "anthropic.claude-3-haiku-20240307"}, {"contains": "us.anthropic.claude-3-haiku-20240307"}]},
     "prices": {"input_mtok": 0.25, "output_mtok": 1.25}}
  ]},
  {"id": "fireworks", "name": "Fireworks", "models": [
    {"id": "glm-4p7", "match": {"equals": "accounts/fireworks/models/glm-4p7"},
     "prices": {"input_mtok": 0.6, "output_mtok": 2.2}}
  ]},
  {"id": "perplexity", "name": "Perplexity", "models": [
    {"id": "sonar-pro", "match": {"equals": "sonar-pro"},
     "prices": {"input_mtok": 3, "output_mtok": 15, "requests_kcount": 14}}
  ]},
  {"id": "deepseek", "name": "Deepseek", "models": [
    {"id": "deepseek-reasoner", "match": {"equals": "deepseek-reasoner"},
     "prices": [{"prices": {"input_mtok": 0.135, "cache_read_mtok": 0.035, "output_mtok": 0.55}},
                {"constraint": {"start_time": "00:30:00Z", "end_time": "16:30:00Z"},
                 "prices": {"input_mtok": 0.55, "cache_read_mtok": 0.14, "output_mtok": 2.19}}]}
  ]}
]
"""


LL_ROW = {"provider": "openai", "model": "m", "service_tier": "standard", "input_per_mtok": Decimal(0),
          "output_per_mtok": Decimal(0), "cache_read_per_mtok": None, "cache_write_per_mtok": None,
          "reasoning_per_mtok": None, "tier_threshold_tokens": None, "input_per_mtok_above_tier": None,
          "output_per_mtok_above_tier": None, "cache_read_per_mtok_above_tier": None,
          "cache_write_per_mtok_above_tier": None, "per_request": None}


def load_genai_fake():
    return json.loads(GENAI, parse_float=Decimal)


def by_key(rows):
    return {(r["provider"], r["model"], r["service_tier"], r.get("valid_from", gc.NEG_INF)): r for r in rows}


class GenaiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.litellm = load_fake()
        cls.ll_rows, _ = quiet(gc.build_rows, cls.litellm)
        (cls.g_rows, cls.conflicts, cls.moved, cls.stats), cls.stderr = quiet(
            gc.read_genai, load_genai_fake(), cls.ll_rows)
        cls.rows = gc.merge_rows(cls.ll_rows, cls.g_rows, cls.moved)
        cls.keys = by_key(cls.rows)

    def row(self, provider, model, tier="standard", valid_from=gc.NEG_INF):
        return self.keys[(provider, model, tier, valid_from)]

    def test_dated_history_gives_rows_with_valid_from(self):
        # o3 (not in this LiteLLM list): genai-prices dates a price cut.
        old = self.row("openai", "o3")
        self.assertEqual((old["input_per_mtok"], old["output_per_mtok"]), (Decimal(10), Decimal(40)))
        self.assertEqual(old["cache_read_per_mtok"], Decimal("2.5"))
        new = self.row("openai", "o3", valid_from="2025-06-10 00:00:00+00")
        self.assertEqual((new["input_per_mtok"], new["output_per_mtok"]), (Decimal(2), Decimal(8)))

    def test_litellm_row_is_current_after_genai_history(self):
        ll = [dict(LL_ROW, input_per_mtok=Decimal(2), output_per_mtok=Decimal(8)),
              dict(LL_ROW, service_tier="batch", input_per_mtok=Decimal(1), output_per_mtok=Decimal(4))]
        genai = [{"id": "openai", "models": [{"id": "m", "match": {"equals": "m"}, "prices": [
            {"prices": {"input_mtok": 10, "output_mtok": 40}},
            {"constraint": {"start_date": "2025-06-10"}, "prices": {"input_mtok": 2, "output_mtok": 8}}]}]}]
        (g, conflicts, moved, _), _ = quiet(gc.read_genai, genai, ll)
        self.assertEqual(conflicts, [])
        rows = by_key(gc.merge_rows(ll, g, moved))
        self.assertEqual(sorted(rows), [("openai", "m", "batch", gc.NEG_INF),
                                        ("openai", "m", "standard", gc.NEG_INF),
                                        ("openai", "m", "standard", "2025-06-10 00:00:00+00")])
        self.assertEqual(rows[("openai", "m", "standard", gc.NEG_INF)]["input_per_mtok"], Decimal(10))
        current = rows[("openai", "m", "standard", "2025-06-10 00:00:00+00")]
        self.assertNotIn("origin", current)  # LiteLLM's own row, moved to the cut
        # the other service tiers stay in force since -infinity
        self.assertEqual(rows[("openai", "m", "batch", gc.NEG_INF)]["input_per_mtok"], Decimal(1))

    def test_periods_start_at_minus_infinity(self):
        periods = gc.genai_periods({"prices": [
            {"prices": {"input_mtok": 1}},
            {"constraint": {"start_date": "2025-01-01"}, "prices": {"input_mtok": 2}},
            {"constraint": {"start_date": "2026-02-03"}, "prices": {"input_mtok": 3}}]}, "x", gc.GenaiStats())
        self.assertEqual([p[0] for p in periods],
                         ["-infinity", "2025-01-01 00:00:00+00", "2026-02-03 00:00:00+00"])

    def test_retired_models_are_kept(self):
        r = self.row("openai", "o1-mini")
        self.assertEqual((r["input_per_mtok"], r["output_per_mtok"], r["cache_read_per_mtok"]),
                         (Decimal("1.1"), Decimal("4.4"), Decimal("0.55")))
        self.assertEqual(r["source"] if "source" in r else "catalog", "catalog")
        self.assertIn(("xai", "grok-2-1212", "standard", gc.NEG_INF), self.keys)

    def test_provider_map(self):
        self.assertEqual(gc.genai_provider_targets("x-ai", "grok-3")[0], "xai")
        self.assertEqual(gc.genai_provider_targets("aws", "amazon.nova-pro-v1:0"), ("bedrock", ("bedrock_converse",)))
        self.assertEqual(gc.genai_provider_targets("google", "gemini-2.0-flash")[0], "gemini")
        self.assertEqual(gc.genai_provider_targets("google", "claude-3-5-sonnet")[0], "vertex_ai")
        self.assertEqual(gc.genai_provider_targets("groq", "llama3-8b-8192"), ("groq", ()))
        # a model LiteLLM files under a sibling provider is compared there, not duplicated
        self.assertNotIn(("gemini", "gemini-2.5-pro", "standard", gc.NEG_INF),
                         by_key(self.g_rows))
        self.assertIn(("gemini", "gemini-1.5-pro", "standard", gc.NEG_INF), self.keys)
        self.assertIn(("vertex_ai", "claude-3-5-sonnet", "standard", gc.NEG_INF), self.keys)
        # genai-prices' "regional." label is dropped; Fireworks' path form is used
        self.assertIn(("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "standard", gc.NEG_INF), self.keys)
        self.assertIn(("fireworks_ai", "accounts/fireworks/models/glm-4p7", "standard", gc.NEG_INF), self.keys)

    def test_google_models_litellm_files_only_under_vertex_are_shipped_under_gemini_too(self):
        # Vertex's price stays LiteLLM's; the Gemini API's comes from genai-prices
        self.assertEqual(self.row("vertex_ai-language-models", "vertex_ai/gemini-2.0-flash")["input_per_mtok"], Decimal("0.15"))
        self.assertEqual(self.row("gemini", "gemini-2.0-flash")["input_per_mtok"], Decimal("0.1"))

    def test_tiers(self):
        r = self.row("gemini", "gemini-1.5-pro")
        self.assertEqual(r["tier_threshold_tokens"], 128000)
        self.assertEqual((r["input_per_mtok_above_tier"], r["output_per_mtok_above_tier"]),
                         (Decimal("2.5"), Decimal(10)))
        # a flat price has no above-tier price: llm_cost falls back to the base one
        self.assertIsNone(r["cache_read_per_mtok_above_tier"])

    def test_conflict_rule_litellm_wins(self):
        # gpt-5: LiteLLM 1.25 in, genai-prices 1.5: LiteLLM's row stays, reported
        r = self.row("openai", "gpt-5")
        self.assertEqual(r["input_per_mtok"], Decimal("1.25"))
        self.assertNotIn(("openai", "gpt-5", "standard"), {k[:3] for k in by_key(self.g_rows)})
        self.assertIn(("openai", "gpt-5", "input_per_mtok", "1.25", "1.5", ""), self.conflicts)
        # gpt-4o agrees: no conflict, no extra row
        self.assertFalse([c for c in self.conflicts if c[1] == "gpt-4o"])
        # gemini-2.5-pro: LiteLLM has cache_read above tier 0.625 too, but cache 0.3 vs 0.3: agree
        self.assertFalse([c for c in self.conflicts if c[1] == "gemini-2.5-pro"])
        report = gc.conflict_report(self.conflicts, self.stats)
        self.assertTrue(report[0].startswith("provider\tmodel\tcolumn"))
        self.assertIn("openai\tgpt-5\tinput_per_mtok\t1.25\t1.5\t", report)

    def test_per_request_fee(self):
        rows = by_key(self.g_rows)
        r = rows[("perplexity", "sonar-pro", "standard", gc.NEG_INF)]
        self.assertEqual(r["per_request"], Decimal("0.014"))

    def test_time_of_day_constraint_gives_off_peak_prices_and_windows(self):
        # 00:30-16:30 UTC at 0.55 / 2.19 (16 hours: the regular price); the price
        # before it holds outside those hours: the off-peak price, every day
        r = self.row("deepseek", "deepseek-reasoner")
        self.assertEqual((r["input_per_mtok"], r["output_per_mtok"], r["cache_read_per_mtok"]),
                         (Decimal("0.55"), Decimal("2.19"), Decimal("0.14")))
        self.assertEqual((r["off_peak_input_per_mtok"], r["off_peak_output_per_mtok"],
                          r["off_peak_cache_read_per_mtok"]),
                         (Decimal("0.135"), Decimal("0.55"), Decimal("0.035")))
        self.assertEqual(r["off_peak_windows"], [{"hours_utc": ["00:00-00:30", "16:30-00:00"],
                                                  "weekdays": [1, 2, 3, 4, 5, 6, 7], "weekday_timezone": "UTC"}])
        self.assertEqual(len(self.stats.time_of_day), 1)
        self.assertNotIn("input_audio_mtok", self.stats.unfitted)  # audio_input_per_mtok now

    def test_short_constrained_window_is_the_off_peak_one(self):
        periods = gc.genai_periods({"prices": [
            {"prices": {"input_mtok": 1, "output_mtok": 4}},
            {"constraint": {"start_time": "22:00:00Z", "end_time": "02:00:00Z"},
             "prices": {"input_mtok": Decimal("0.5"), "output_mtok": 2}}]}, "x", gc.GenaiStats())
        self.assertEqual(len(periods), 1)
        valid_from, prices, (off, windows) = periods[0]
        self.assertEqual((valid_from, prices["input_mtok"], off["input_mtok"]), (gc.NEG_INF, 1, Decimal("0.5")))
        self.assertEqual(windows[0]["hours_utc"], ["00:00-02:00", "22:00-00:00"])
        row = gc.genai_row("p", "m", valid_from, prices, "x", gc.GenaiStats(), (off, windows))
        self.assertEqual((row["off_peak_input_per_mtok"], row["off_peak_output_per_mtok"],
                          row["off_peak_cache_read_per_mtok"]), (Decimal("0.5"), Decimal("2"), None))

    def test_off_peak_makes_periods_differ(self):
        # the same regular price with and without off-peak prices are two periods
        a = dict(LL_ROW, off_peak_input_per_mtok=None)
        b = dict(LL_ROW, off_peak_input_per_mtok=Decimal(1))
        self.assertNotEqual(gc._price_of(a), gc._price_of(b))

    def test_models_without_token_prices_are_skipped(self):
        # genai-prices prices dall-e-3 by audio only: no row of its; LiteLLM's (per image) stays
        self.assertNotIn("origin", self.row("openai", "dall-e-3"))
        self.assertIsNone(gc.genai_row("openai", "x", gc.NEG_INF, {"output_audio_mtok": 1}, "x", gc.GenaiStats()))

    def test_models_rows_and_mode(self):
        models = gc.genai_models(self.g_rows, gc.build_models(self.litellm), gc.litellm_modes(self.litellm))
        m = {(r["provider"], r["model"]): r for r in models}
        self.assertNotIn(("openai", "text-embedding-3-small"), m)  # LiteLLM prices it now
        self.assertEqual(m[("openai", "o1-mini")]["mode"], "chat")  # genai-prices: text models
        self.assertEqual(gc.genai_mode(("openai", "text-embedding-ada-002"), "openai/x",
                                       {("openai", "text-embedding-ada-002"): "embedding"}), "embedding")
        self.assertEqual(gc.genai_mode(("cohere", "rerank-v3.5"), "cohere/rerank-v3.5", {}), "rerank")
        self.assertEqual(gc.genai_mode(("cohere", "embed-v4.0"), "cohere/embed-v4.0", {}), "embedding")
        self.assertEqual(gc.genai_mode(("voyage", "voyage-3"), "voyageai/voyage-3", {}), "embedding")
        self.assertNotIn(("openai", "gpt-5"), m)  # LiteLLM's capabilities row stays

    def test_nothing_forgotten(self):
        """Every LiteLLM row is emitted with its prices, at most with a later valid_from."""
        def strip(r):
            return {k: v for k, v in r.items() if k not in ("valid_from", "origin")}
        emitted = [strip(r) for r in self.rows]
        for r in self.ll_rows:
            self.assertIn(strip(r), emitted)
        self.assertEqual(len(self.rows), len(self.ll_rows) + len(self.g_rows))

    def test_names_match_litellm_case_insensitively(self):
        ll = [dict(LL_ROW, provider="minimax", model="MiniMax-M3", input_per_mtok=Decimal("0.3"))]
        genai = [{"id": "minimax", "models": [{"id": "minimax-m3", "match": {"equals": "minimax-m3"},
                                               "prices": {"input_mtok": Decimal("0.3")}}]}]
        (rows, conflicts, _, _), _ = quiet(gc.read_genai, genai, ll)
        self.assertEqual(rows, [])
        self.assertEqual(conflicts, [])

    def test_same_period_as_litellm_is_not_repeated(self):
        ll = [dict(LL_ROW, provider="anthropic", input_per_mtok=Decimal(2), output_per_mtok=Decimal(10))]
        genai = [{"id": "anthropic", "models": [{"id": "m", "match": {"equals": "m"}, "prices": [
            {"prices": {"input_mtok": 2, "output_mtok": 10}},
            {"constraint": {"start_date": "2026-09-01"}, "prices": {"input_mtok": 3, "output_mtok": 15}}]}]}]
        (rows, conflicts, moved, _), _ = quiet(gc.read_genai, genai, ll)
        # LiteLLM still shows the introductory price: kept, flagged, not dated
        self.assertEqual(rows, [])
        self.assertEqual(moved, {})
        self.assertEqual(conflicts[0][5], "litellm equals an older genai-prices price")

    def test_audio_prices_conflict_at_the_rate_they_price(self):
        # LiteLLM's audio input price equal to its input price is genai-prices' none
        # (NULL: the input rate); a different audio price is a conflict.
        ll = [dict(LL_ROW, model="same", input_per_mtok=Decimal("1.5"), audio_input_per_mtok=Decimal("1.5")),
              dict(LL_ROW, model="transcribe", input_per_mtok=Decimal("2.5"), output_per_mtok=Decimal(10),
                   audio_input_per_mtok=Decimal("2.5"))]
        genai = [{"id": "openai", "models": [
            {"id": "same", "match": {"equals": "same"}, "prices": {"input_mtok": Decimal("1.5")}},
            {"id": "transcribe", "match": {"equals": "transcribe"},
             "prices": {"input_mtok": Decimal("2.5"), "output_mtok": 10, "input_audio_mtok": 6}}]}]
        (rows, conflicts, _, _), _ = quiet(gc.read_genai, genai, ll)
        self.assertEqual(rows, [])
        self.assertEqual(conflicts, [("openai", "transcribe", "audio_input_per_mtok", "2.5", "6", "")])


class GenaiOutputTest(unittest.TestCase):
    def run_main(self, d, name):
        src, gsrc = Path(d) / "prices.json", Path(d) / "genai.json"
        src.write_text(FAKE, encoding="utf-8")
        gsrc.write_text(GENAI, encoding="utf-8")
        out, conf = Path(d) / name, Path(d) / (name + ".tsv")
        _, err = quiet(gc.main, ["--input", str(src), "--genai", str(gsrc), "--output", str(out),
                                 "--verified-at", "2025-01-02", "--conflicts", str(conf)])
        return out.read_bytes(), conf.read_text(encoding="utf-8"), err

    def test_deterministic_and_reported(self):
        with tempfile.TemporaryDirectory() as d:
            a, conf, err = self.run_main(d, "a.sql")
            b, conf2, _ = self.run_main(d, "b.sql")
        self.assertEqual(a, b)
        self.assertEqual(conf, conf2)
        sql = a.decode("utf-8")
        self.assertIn("genai-prices", sql.split("INSERT", 1)[0])
        self.assertIn("MIT License", sql.split("INSERT", 1)[0])
        self.assertIn("('openai', 'o3', 'standard', '2025-06-10 00:00:00+00', 2, 8,", sql)
        self.assertIn("('openai', 'o1-mini', 'standard', '-infinity', 1.1, 4.4, 0.55,", sql)
        self.assertNotIn("'genai", sql.split("VALUES", 1)[1])  # every row's source is 'catalog'
        self.assertIn("price conflicts", err)
        self.assertIn("gpt-5", err)
        self.assertIn("openai\tgpt-5\tinput_per_mtok\t1.25\t1.5", conf)



@unittest.skipUnless(gc.DEFAULT_INPUT.exists() and gc.DEFAULT_GENAI.exists(), "../shared/data not present")
class RealDataTest(unittest.TestCase):
    """On the real files: both sources together forget no LiteLLM row."""

    def test_every_litellm_row_is_still_emitted(self):
        data = gc.load_price_list(gc.DEFAULT_INPUT)
        (ll_rows, _), (genai, _) = quiet(gc.build_rows, data), quiet(gc.load_genai, gc.DEFAULT_GENAI)
        (g_rows, conflicts, moved, _), _ = quiet(gc.read_genai, genai, ll_rows)
        rows = gc.merge_rows(ll_rows, g_rows, moved)

        def strip(r):
            return tuple(sorted((k, json.dumps(v, default=str, sort_keys=True) if isinstance(v, (list, dict, set))
                                 else v)
                                for k, v in r.items() if k not in ("valid_from", "origin")))
        emitted = {strip(r) for r in rows}
        self.assertEqual([r for r in ll_rows if strip(r) not in emitted], [])
        # retired models LiteLLM pruned are priced from genai-prices
        keys = {(r["provider"], r["model"]) for r in rows}
        for ident in [("anthropic", "claude-3-5-sonnet"), ("gemini", "gemini-1.5-pro"), ("openai", "o1-mini"),
                      ("openai", "gpt-4.5-preview"), ("xai", "grok-2-1212"), ("xai", "grok-3")]:
            self.assertIn(ident, keys)
        self.assertTrue(all(r["service_tier"] == "standard" for r in g_rows))


# Entries of every kind of charge (values as in LiteLLM's list; hand-checked below).
CHARGES = """
{
  "whisper-1": {"litellm_provider": "openai", "mode": "audio_transcription",
                "input_cost_per_second": 0.0001, "output_cost_per_second": 0.0001},
  "tts-1": {"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_character": 1.5e-05},
  "gpt-4o-mini-tts": {"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_token": 6e-07,
                      "output_cost_per_audio_token": 1.2e-05, "output_cost_per_second": 0.00025,
                      "output_cost_per_token": 1e-05},
  "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation",
                  "input_cost_per_token": 5e-06, "input_cost_per_image_token": 1e-05,
                  "output_cost_per_image_token": 4e-05, "input_cost_per_token_batches": 2.5e-06},
  "low/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation",
                  "input_cost_per_image": 0.011, "input_cost_per_pixel": 1.0490417e-08, "output_cost_per_pixel": 0.0},
  "azure/hd/1024-x-1792/dall-e-3": {"litellm_provider": "azure", "mode": "image_generation",
                  "input_cost_per_pixel": 7.19343e-08, "output_cost_per_token": 0.0},
  "azure/standard/1024-x-1024/dall-e-3": {"litellm_provider": "azure", "mode": "image_generation",
                  "input_cost_per_pixel": 4.19617e-08, "output_cost_per_token": 0.0},
  "azure/standard/1024-x-1024/dall-e-2": {"litellm_provider": "azure", "mode": "image_generation",
                  "input_cost_per_pixel": 0.0, "output_cost_per_token": 0.0},
  "1024-x-1024/50-steps/stability.stable-diffusion-xl-v1": {"litellm_provider": "bedrock",
                  "mode": "image_generation", "output_cost_per_image": 0.04},
  "1024-x-1024/max-steps/stability.stable-diffusion-xl-v1": {"litellm_provider": "bedrock",
                  "mode": "image_generation", "output_cost_per_image": 0.08},
  "max-x-max/50-steps/stability.stable-diffusion-xl-v0": {"litellm_provider": "bedrock",
                  "mode": "image_generation", "output_cost_per_image": 0.036},
  "1024-x-1024/50-steps/bedrock/amazon.nova-canvas-v1:0": {"litellm_provider": "bedrock",
                  "mode": "image_generation", "output_cost_per_image": 0.06},
  "amazon.nova-canvas-v1:0": {"litellm_provider": "bedrock", "mode": "image_generation", "output_cost_per_image": 0.05},
  "xai/grok-imagine-image": {"litellm_provider": "xai", "mode": "image_generation", "input_cost_per_image": 0.02},
  "gemini-3-pro-image-preview": {"litellm_provider": "gemini", "mode": "image_generation",
                  "input_cost_per_token": 2e-06, "output_cost_per_token": 1.2e-05, "input_cost_per_image": 0.0011,
                  "output_cost_per_image": 0.134, "output_cost_per_image_1K": 0.134, "output_cost_per_image_4K": 0.24,
                  "output_cost_per_image_token": 0.00012},
  "vertex_ai/veo-3.1-fast-generate-001": {"litellm_provider": "vertex_ai-video-models", "mode": "video_generation",
                  "output_cost_per_second": 0.1, "output_cost_per_second_1080p": 0.12, "output_cost_per_second_4K": 0.3},
  "sora-2": {"litellm_provider": "openai", "mode": "video_generation", "output_cost_per_video_per_second": 0.1},
  "mistral/mistral-ocr-latest": {"litellm_provider": "mistral", "mode": "ocr", "ocr_cost_per_page": 0.004,
                  "ocr_cost_per_page_batches": 0.002, "annotation_cost_per_page": 0.005},
  "cohere/rerank-v3.5": {"litellm_provider": "cohere", "mode": "rerank", "input_cost_per_query": 0.002},
  "tavily/search": {"litellm_provider": "tavily", "mode": "search", "input_cost_per_query": 0.008},
  "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08,
                  "output_cost_per_token": 0.0},
  "omni-moderation-latest": {"litellm_provider": "openai", "mode": "moderation", "input_cost_per_token": 0.0,
                  "output_cost_per_token": 0.0},
  "gpt-realtime": {"litellm_provider": "openai", "mode": "realtime", "input_cost_per_token": 4e-06,
                  "input_cost_per_audio_token": 3.2e-05, "output_cost_per_audio_token": 6.4e-05,
                  "output_cost_per_token": 1.6e-05},
  "gemini-2.5-flash": {"litellm_provider": "vertex_ai-language-models", "mode": "chat",
                  "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06,
                  "input_cost_per_audio_token": 1e-06, "input_cost_per_audio_token_batches": 5e-07,
                  "input_cost_per_token_batches": 1.5e-07,
                  "search_context_cost_per_query": {"search_context_size_low": 0.035,
                      "search_context_size_medium": 0.035, "search_context_size_high": 0.035},
                  "google_maps_grounding_cost_per_query": 0.025},
  "perplexity/sonar": {"litellm_provider": "perplexity", "mode": "chat", "input_cost_per_token": 1e-06,
                  "output_cost_per_token": 1e-06, "search_context_cost_per_query": {
                      "search_context_size_high": 0.012, "search_context_size_low": 0.005,
                      "search_context_size_medium": 0.008}},
  "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat",
                  "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                  "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_batches": 1.875e-06,
                  "input_cost_per_token_batches": 1.5e-06, "output_cost_per_token_batches": 7.5e-06},
  "claude-opus-4-1": {"litellm_provider": "anthropic", "mode": "chat",
                  "input_cost_per_token": 1.5e-05, "output_cost_per_token": 7.5e-05,
                  "cache_creation_input_token_cost": 1.875e-05, "cache_creation_input_token_cost_above_1hr": 3e-05},
  "reseller/claude-3-haiku": {"litellm_provider": "reseller", "mode": "chat",
                  "input_cost_per_token": 2.5e-07, "output_cost_per_token": 1.25e-06,
                  "cache_creation_input_token_cost": 3e-07},
  "cloudflare/clef": {"litellm_provider": "cloudflare", "mode": "evaluation", "input_cost_per_token": 2.4e-07},
  "bedrock/guardrails": {"litellm_provider": "bedrock", "mode": "guardrail", "guardrail_cost_per_unit": {"x": 0.1}},
  "bedrock/*/1-month-commitment/cohere.command-text-v14": {"litellm_provider": "bedrock", "mode": "chat",
                  "input_cost_per_second": 0.011}
}
"""


class ChargesTest(unittest.TestCase):
    """Every mode and every charge of docs/charges.md, on CHARGES (prices checked by hand)."""

    @classmethod
    def setUpClass(cls):
        cls.data = json.loads(CHARGES, parse_float=Decimal)
        cls.rows, cls.stderr = quiet(gc.build_rows, cls.data)
        cls.by = {(r["provider"], r["model"], r["service_tier"]): r for r in cls.rows}
        cls.models = {(m["provider"], m["model"]): m for m in quiet(gc.build_models, cls.data)[0]}

    def row(self, provider, model, tier="standard"):
        return self.by[(provider, model, tier)]

    def units(self, provider, model, tier="standard"):
        return json.loads(gc.unit_prices_json(self.row(provider, model, tier)["unit_prices"]))

    def test_every_mode_has_a_mode_and_a_row(self):
        for ident, mode in [(("openai", "whisper-1"), "audio_transcription"), (("openai", "tts-1"), "audio_speech"),
                            (("openai", "gpt-image-1"), "image_generation"), (("openai", "sora-2"), "video_generation"),
                            (("mistral", "mistral-ocr-latest"), "ocr"), (("cohere", "rerank-v3.5"), "rerank"),
                            (("tavily", "search"), "search"), (("openai", "text-embedding-3-small"), "embedding"),
                            (("openai", "omni-moderation-latest"), "moderation"), (("openai", "gpt-realtime"), "realtime"),
                            (("azure", "dall-e-3"), "image_generation")]:
            self.assertEqual(self.models[ident]["mode"], mode, ident)
            self.assertIn(ident + ("standard",), self.by)
        self.assertTrue(all(m["mode"] in gc.MODES for m in self.models.values()))

    def test_skipped_modes_and_entries(self):
        names = {r["model"] for r in self.rows}
        self.assertNotIn("clef", names)        # evaluation
        self.assertNotIn("guardrails", names)  # guardrail
        # Bedrock provisioned throughput: per model-unit second, not a call's audio
        self.assertFalse(any("commitment" in n for n in names))
        # size entries are folded, not models
        self.assertFalse(any("-x-" in n for n in names))
        self.assertFalse(any("-x-" in m for _, m in self.models))

    def test_rules_the_litellm_parity_run_found(self):
        # Soniox puts its only transcription price in output_cost_per_second (input 0)
        rows = gc.build_rows({"soniox/stt": {"litellm_provider": "soniox", "mode": "audio_transcription",
                                             "input_cost_per_second": Decimal("0"),
                                             "output_cost_per_second": Decimal("2.77778e-05")}})
        self.assertEqual(json.loads(gc.unit_prices_json(rows[0]["unit_prices"])), {"audio_seconds": 0.0000277778})
        # a batch row without its own output price bills half the standard one
        rows = gc.build_rows({"azure/eu/m": {"litellm_provider": "azure", "mode": "chat",
                                             "input_cost_per_token": Decimal("1.65e-07"),
                                             "output_cost_per_token": Decimal("6.6e-07"),
                                             "input_cost_per_token_batches": Decimal("8.3e-08")}})
        batch = [r for r in rows if r["service_tier"] == "batch"][0]
        self.assertEqual((batch["input_per_mtok"], batch["output_per_mtok"]), (Decimal("0.083"), Decimal("0.33")))
        # Fireworks: cached prompt tokens at 50% of input when the list gives no price
        rows = gc.build_rows({"fireworks_ai/accounts/fireworks/models/x": {
            "litellm_provider": "fireworks_ai", "mode": "chat",
            "input_cost_per_token": Decimal("9e-07"), "output_cost_per_token": Decimal("9e-07")}})
        self.assertEqual(rows[0]["cache_read_per_mtok"], Decimal("0.45"))
        self.assertIn("fireworks_cache_read", rows[0]["defaults"])

    def test_unit_only_rows_have_token_prices_0(self):
        r = self.row("openai", "whisper-1")
        self.assertEqual((r["input_per_mtok"], r["output_per_mtok"]), (0, 0))
        self.assertEqual(self.units("openai", "whisper-1"), {"audio_seconds": 0.0001})  # not output_cost_per_second

    def test_counted_units(self):
        self.assertEqual(gc.unit_prices_json(self.row("openai", "whisper-1")["unit_prices"]),
                         '{"audio_seconds": 0.0001}')
        self.assertEqual(gc.unit_prices_json(self.row("openai", "tts-1")["unit_prices"]), '{"characters": 0.000015}')
        self.assertEqual(gc.unit_prices_json(self.row("openai", "gpt-4o-mini-tts")["unit_prices"]),
                         '{"output_audio_seconds": 0.00025}')
        self.assertEqual(gc.unit_prices_json(self.row("openai", "sora-2")["unit_prices"]), '{"video_seconds": 0.1}')
        self.assertEqual(gc.unit_prices_json(self.row("cohere", "rerank-v3.5")["unit_prices"]), '{"queries": 0.002}')
        self.assertEqual(gc.unit_prices_json(self.row("tavily", "search")["unit_prices"]), '{"queries": 0.008}')
        self.assertIsNone(self.row("openai", "text-embedding-3-small")["unit_prices"])

    def test_ocr_pages_with_batch_tier(self):
        self.assertEqual(gc.unit_prices_json(self.row("mistral", "mistral-ocr-latest")["unit_prices"]),
                         '{"pages": 0.004}')
        self.assertEqual(gc.unit_prices_json(self.row("mistral", "mistral-ocr-latest", "batch")["unit_prices"]),
                         '{"pages": 0.002}')

    def test_video_resolutions(self):
        self.assertEqual(gc.unit_prices_json(self.row("vertex_ai-video-models", "vertex_ai/veo-3.1-fast-generate-001")
                                             ["unit_prices"]),
                         '{"video_seconds": {"1080p": 0.12, "4k": 0.3, "default": 0.1}}')

    def test_image_resolutions_and_input_images(self):
        self.assertEqual(gc.unit_prices_json(self.row("gemini", "gemini-3-pro-image-preview")["unit_prices"]),
                         '{"images": {"1k": 0.134, "4k": 0.24, "default": 0.134}, "input_images": 0.0011}')
        self.assertEqual(self.row("gemini", "gemini-3-pro-image-preview")["image_output_per_mtok"], 120)
        self.assertEqual(self.row("gemini", "gemini-3-pro-image-preview")["output_per_mtok"], 12)

    def test_input_cost_per_image_of_an_output_only_image_model_is_per_generated_image(self):
        self.assertEqual(gc.unit_prices_json(self.row("xai", "grok-imagine-image")["unit_prices"]),
                         '{"images": 0.02}')

    def test_token_subsets(self):
        g = self.row("openai", "gpt-image-1")
        self.assertEqual((g["image_input_per_mtok"], g["image_output_per_mtok"]), (10, 40))
        self.assertEqual(g["output_per_mtok"], 40)  # no text output price: its output is images
        self.assertEqual(self.row("openai", "gpt-image-1", "batch")["input_per_mtok"], Decimal("2.5"))
        rt = self.row("openai", "gpt-realtime")
        self.assertEqual((rt["audio_input_per_mtok"], rt["audio_output_per_mtok"]), (32, 64))
        f = self.row("vertex_ai-language-models", "gemini-2.5-flash")
        self.assertEqual(f["audio_input_per_mtok"], 1)
        self.assertEqual(self.row("vertex_ai-language-models", "gemini-2.5-flash", "batch")["audio_input_per_mtok"],
                         Decimal("0.5"))

    def test_search_context_and_maps(self):
        self.assertEqual(self.units("vertex_ai-language-models", "gemini-2.5-flash"),
                         {"maps_queries": 0.025, "web_search_queries":
                          {"default": 0.035, "high": 0.035, "low": 0.035, "medium": 0.035}})
        # the batch row reads the standard unit prices (no _batches variant)
        self.assertEqual(self.units("vertex_ai-language-models", "gemini-2.5-flash", "batch")["maps_queries"], 0.025)

    def test_perplexity_search_fee_is_per_request_default_low(self):
        self.assertEqual(gc.unit_prices_json(self.row("perplexity", "sonar")["unit_prices"]),
                         '{"requests": {"default": 0.005, "high": 0.012, "low": 0.005, "medium": 0.008}}')

    def test_image_sizes_folded_with_pixels_and_defaults(self):
        # azure/hd/1024-x-1792/dall-e-3: 7.19343e-08 per pixel x 1024 x 1792 = 0.1320000159744
        self.assertEqual(gc.unit_prices_json(self.row("azure", "dall-e-3")["unit_prices"]),
                         '{"images": {"default": 0.0440000315392, "hd/1024x1792": 0.1320000159744, '
                         '"standard/1024x1024": 0.0440000315392}}')
        d = self.row("azure", "dall-e-3")
        self.assertEqual((d["input_per_mtok"], d["output_per_mtok"]), (0, 0))  # created base
        # a per-pixel price of 0 is LiteLLM's placeholder: no dall-e-2 row
        self.assertNotIn(("azure", "dall-e-2", "standard"), self.by)
        # per-image price wins over the per-pixel one; gpt-image-1's own rows (both tiers) get the sizes
        for tier in ("standard", "batch"):
            self.assertEqual(self.units("openai", "gpt-image-1", tier), {"images": {"low/1024x1024": 0.011}})
        # Bedrock steps: 50 steps is the standard price, max-steps 'premium'; SDXL 1.0 default 1024x1024
        self.assertEqual(self.units("bedrock", "stability.stable-diffusion-xl-v1"),
                         {"images": {"1024x1024": 0.04, "default": 0.04, "premium/1024x1024": 0.08}})
        self.assertEqual(self.units("bedrock", "stability.stable-diffusion-xl-v0"), {"images": {"default": 0.036}})
        # the base's own per-image price stays its default; the provider prefix inside the key is dropped
        self.assertEqual(self.units("bedrock", "amazon.nova-canvas-v1:0"),
                         {"images": {"1024x1024": 0.06, "default": 0.05}})

    def test_size_entry_parsing(self):
        e = {"litellm_provider": "openai", "mode": "image_generation"}
        self.assertEqual(gc.size_entry("hd/1024-x-1792/dall-e-3", e), ("openai", "dall-e-3", "hd/1024x1792", 1835008))
        self.assertEqual(gc.size_entry("256-x-256/dall-e-2", e), ("openai", "dall-e-2", "256x256", 65536))
        self.assertEqual(gc.size_entry("openai/low/1024-x-1536/gpt-image-1", e)[1:3], ("gpt-image-1", "low/1024x1536"))
        self.assertEqual(gc.size_entry("fal_ai/low/1024-x-768/openai/gpt-image-2",
                                       {"litellm_provider": "fal_ai", "mode": "image_generation"})[1:3],
                         ("openai/gpt-image-2", "low/1024x768"))
        self.assertIsNone(gc.size_entry("dall-e-3", e))
        self.assertIsNone(gc.size_entry("hd/1024-x-1792/dall-e-3", dict(e, mode="chat")))

    def test_claude_1h_cache_write_default(self):
        self.assertEqual(self.row("anthropic", "claude-sonnet-4-5")["cache_write_1h_per_mtok"], 6)
        # batch: its own 5-minute price (1.875 = 1.25 x 1.5), so 2 x the batch input
        self.assertEqual(self.row("anthropic", "claude-sonnet-4-5", "batch")["cache_write_1h_per_mtok"], 3)
        self.assertEqual(self.row("anthropic", "claude-opus-4-1")["cache_write_1h_per_mtok"], 30)  # LiteLLM's
        self.assertNotIn("defaults", self.row("anthropic", "claude-opus-4-1"))
        # a reseller's 5-minute price that is not 1.25x input: no guess
        self.assertIsNone(self.row("reseller", "claude-3-haiku")["cache_write_1h_per_mtok"])
        self.assertIsNone(self.row("openai", "gpt-image-1")["cache_write_1h_per_mtok"])

    def test_unit_prices_json_is_sorted_and_exact(self):
        up = {"web_search_queries": {"medium": Decimal("0.010"), "default": Decimal("1E+1"), "low": Decimal("0")},
              "audio_seconds": Decimal("1.0490417E-8")}
        self.assertEqual(gc.unit_prices_json(up), '{"audio_seconds": 0.000000010490417, "web_search_queries": '
                                                  '{"default": 10, "low": 0, "medium": 0.01}}')
        self.assertEqual(gc.sql_value({"pages": Decimal("0.004")}), "'{\"pages\": 0.004}'::jsonb")

    def test_selectors_are_normalised(self):
        for r in self.rows:
            for unit, v in (r["unit_prices"] or {}).items():
                self.assertIn(unit, UNITS, r["model"])
                for sel in (v if isinstance(v, dict) else {}):
                    self.assertEqual(sel, sel.lower().strip())
                    self.assertNotIn("-x-", sel)
                    self.assertNotIn(" ", sel)

    def test_genai_audio_prices(self):
        row = gc.genai_row("openai", "gpt-4o-audio-preview", gc.NEG_INF,
                           {"input_mtok": 2.5, "output_mtok": 10, "input_audio_mtok": 40, "output_audio_mtok": 80,
                            "requests_kcount": 5}, "x", gc.GenaiStats())
        self.assertEqual((row["audio_input_per_mtok"], row["audio_output_per_mtok"], row["per_request"]),
                         (40, 80, Decimal("0.005")))

    def test_sql_has_new_columns_and_on_conflict(self):
        sql = gc.render_sql(self.rows, "2025-01-02", quiet(gc.build_models, self.data)[0])
        self.assertIn("per_request, cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, "
                      "audio_output_per_mtok, image_output_per_mtok, unit_prices, currency", sql)
        self.assertIn("('openai', 'whisper-1', 'standard', '-infinity', 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, "
                      "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{\"audio_seconds\": 0.0001}'::jsonb, 'USD', "
                      "'catalog', '2025-01-02 00:00:00+00')", sql)
        self.assertIn("ON CONFLICT (provider, model, service_tier, valid_from) DO UPDATE", sql)
        self.assertIn(" WHERE llm_cost.prices.source = 'catalog';", sql)
        self.assertIn("ON CONFLICT (provider, model) DO UPDATE", sql)
        self.assertIn(" WHERE llm_cost.models.source = 'catalog';", sql)
        self.assertIn("EXCLUDED.unit_prices", sql)
        self.assertIn("EXCLUDED.mode", sql)
        self.assertIn("Claude 1-hour prompt-cache writes at 2x the input price, for Claude rows (any provider): 2 rows",
                      sql)


UNITS = {"web_search_queries", "maps_queries", "images", "input_images", "audio_seconds", "output_audio_seconds",
         "video_seconds", "characters", "queries", "pages", "requests"}


class UpgradeRegionTest(unittest.TestCase):
    def test_markers_added_at_the_end_when_absent(self):
        out = gc.with_upgrade_region("ALTER TABLE x;\n", "SELECT 1;\n")
        self.assertEqual(out, "ALTER TABLE x;\n\n" + gc.UPGRADE_BEGIN + "\nSELECT 1;\n" + gc.UPGRADE_END + "\n")
        self.assertEqual(gc.upgrade_region(out), "SELECT 1;\n")

    def test_only_the_region_is_replaced(self):
        script = "-- head\n" + gc.UPGRADE_BEGIN + "\nold;\n" + gc.UPGRADE_END + "\n-- tail\n"
        out = gc.with_upgrade_region(script, "new;\n")
        self.assertEqual(out, "-- head\n" + gc.UPGRADE_BEGIN + "\nnew;\n" + gc.UPGRADE_END + "\n-- tail\n")
        self.assertEqual(gc.with_upgrade_region(out, "new;\n"), out)  # idempotent

    def test_broken_markers_are_refused(self):
        with self.assertRaises(ValueError):
            gc.with_upgrade_region(gc.UPGRADE_END + "\n" + gc.UPGRADE_BEGIN + "\n", "x;\n")
        with self.assertRaises(ValueError):
            gc.with_upgrade_region(gc.UPGRADE_BEGIN + "\n", "x;\n")

    def test_main_writes_the_same_statements_in_both_files(self):
        with tempfile.TemporaryDirectory() as d:
            src, out, up = Path(d) / "p.json", Path(d) / "c.sql", Path(d) / "up.sql"
            src.write_text(CHARGES, encoding="utf-8")
            up.write_text("-- upgrade\nALTER TABLE llm_cost.prices ADD COLUMN x numeric;\n", encoding="utf-8")
            quiet(gc.main, ["--input", str(src), "--output", str(out), "--upgrade-script", str(up),
                            "--verified-at", "2025-01-02", "--no-genai"])
            text = up.read_text(encoding="utf-8")
            self.assertTrue(text.startswith("-- upgrade\nALTER TABLE llm_cost.prices ADD COLUMN x numeric;\n"))
            self.assertEqual(gc.upgrade_region(text), out.read_text(encoding="utf-8"))

    def test_shipped_files_agree(self):
        """sql/catalog.sql and the upgrade script's region are the same statements."""
        catalog = (gc.REPO_ROOT / "sql" / "catalog.sql").read_text(encoding="utf-8")
        region = gc.upgrade_region(gc.DEFAULT_UPGRADE.read_text(encoding="utf-8"))
        self.assertEqual(region, catalog)
        self.assertEqual(catalog.count("ON CONFLICT"), 2)


@unittest.skipUnless(gc.DEFAULT_INPUT.exists(), "../shared/data not present")
class RealChargesTest(unittest.TestCase):
    """Hand-checked rows of the real LiteLLM list."""

    @classmethod
    def setUpClass(cls):
        data = gc.load_price_list(gc.DEFAULT_INPUT)
        rows, _ = quiet(gc.build_rows, data)
        cls.by = {(r["provider"], r["model"], r["service_tier"]): r for r in rows}
        cls.models, _ = quiet(gc.build_models, data)

    def units(self, provider, model, tier="standard"):
        return json.loads(gc.unit_prices_json(self.by[(provider, model, tier)]["unit_prices"]))

    def test_rows(self):
        self.assertEqual(self.units("openai", "whisper-1"), {"audio_seconds": 0.0001})
        self.assertEqual(self.by[("anthropic", "claude-sonnet-4-5", "standard")]["cache_write_1h_per_mtok"], 6)
        self.assertEqual(self.units("perplexity", "sonar")["requests"],
                         {"default": 0.005, "high": 0.012, "low": 0.005, "medium": 0.008})
        self.assertEqual(self.by[("openai", "gpt-image-1", "standard")]["image_output_per_mtok"], 40)
        f = self.by[("vertex_ai-language-models", "gemini-2.5-flash", "standard")]
        self.assertEqual(f["audio_input_per_mtok"], 1)
        self.assertEqual(self.units("vertex_ai-language-models", "gemini-2.5-flash")["maps_queries"], 0.025)
        self.assertEqual(self.units("azure", "dall-e-3")["images"]["hd/1024x1792"], 0.1320000159744)
        self.assertEqual(self.units("vertex_ai-video-models", "vertex_ai/veo-3.1-fast-generate-001"),
                         {"video_seconds": {"1080p": 0.12, "4k": 0.3, "default": 0.1}})
        self.assertEqual(self.units("mistral", "mistral-ocr-latest"), {"pages": 0.004})
        self.assertEqual(self.units("openai", "sora-2"), {"video_seconds": 0.1})
        self.assertEqual(self.units("tavily", "search"), {"queries": 0.008})
        for ident in [("openai", "tts-1"), ("openai", "text-embedding-3-small"), ("openai", "gpt-4o-transcribe"),
                      ("cohere", "rerank-v3.5")]:
            self.assertIn(ident + ("standard",), self.by)

    def test_every_model_has_a_mode_of_ours(self):
        self.assertTrue(all(m["mode"] in gc.MODES for m in self.models))
        self.assertEqual({m["mode"] for m in self.models}, set(gc.MODES))


if __name__ == "__main__":
    unittest.main()
