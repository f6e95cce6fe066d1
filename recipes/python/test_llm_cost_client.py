"""Tests llm_cost_client against a live server (PG* env vars, extension created)."""
import json
import pathlib
import unittest
import uuid
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb

import llm_cost_client as lc

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = {k: v for k, v in json.loads((FIXTURES / "expected.json").read_text()).items() if not k.startswith("_")}
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.conn = psycopg.connect(autocommit=True)
        self.tenant = f"t-{uuid.uuid4().hex[:8]}"  # every test its own tenant

    def tearDown(self):
        self.conn.close()

    def row(self, **where):
        cond = " AND ".join(f"{k} = %s" for k in where)
        return self.conn.execute(
            f"SELECT {', '.join(TOKENS)}, provider, model, cost, raw_usage, service_tier, success, error_type,"
            f" latency_ms, user_id, units FROM llm_cost.usage WHERE {cond}", list(where.values())).fetchall()

    def sql_cost(self, provider, model, t, units=None):
        return self.conn.execute(
            "SELECT llm_cost.llm_cost(%s, %s, input_tokens => %s, output_tokens => %s, cached_input_tokens => %s,"
            " cache_write_tokens => %s, reasoning_tokens => %s, units => %s)",
            [provider, model, t["input_tokens"], t["output_tokens"], t["cached_input_tokens"],
             t["cache_write_tokens"], t["reasoning_tokens"], None if units is None else Jsonb(units)]).fetchone()[0]

    def test_each_provider_response_is_normalised_and_priced(self):
        for name, exp in EXPECTED.items():
            with self.subTest(fixture=name):
                body = fixture(name) if name.endswith(".json") else None  # speech: the response is audio
                model = exp["model"]
                if body is not None and (body.get("model") or body.get("modelVersion")):
                    self.assertEqual(body.get("model") or body.get("modelVersion"), model)
                units = lc.request_units(exp.get("request") or {})
                if body is None:
                    units.update(lc.speech_units(exp["request"]["input"]))
                cost = lc.record(self.conn, exp["provider"], model, body, units=units, tenant_id=self.tenant,
                                 user_id="u-17", operation=name, latency_ms=1234)
                rows = self.row(tenant_id=self.tenant, operation=name)
                self.assertEqual(len(rows), 1)
                r = rows[0]
                self.assertEqual(dict(zip(TOKENS, r[:5])), exp["tokens"])
                self.assertEqual(r[5:7], (exp["provider"], exp["model"]))
                self.assertEqual(r[14], exp["units"])
                self.assertEqual(r[7], cost)
                self.assertEqual(cost, Decimal(exp["cost"]))  # the hand-worked figure
                self.assertEqual(cost, self.sql_cost(exp["provider"], model, exp["tokens"], exp["units"]))
                self.assertEqual(r[8], body and (body.get("usage") or body.get("usageMetadata")))  # raw usage as is
                self.assertEqual((r[9], r[10], r[12], r[13]), ("standard", True, 1234, "u-17"))

    def test_a_whisper_body_without_usage_is_priced_by_its_duration(self):
        body = fixture("openai_transcription_whisper.json")
        del body["usage"]
        cost = lc.record(self.conn, "openai", "whisper-1", body, tenant_id=self.tenant)
        self.assertEqual(cost, Decimal("0.0008470000267028809"))  # 8.470000267028809 s x 0.0001
        self.assertEqual(self.conn.execute("SELECT units, raw_usage FROM llm_cost.usage WHERE tenant_id = %s",
                                           [self.tenant]).fetchone(), ({"audio_seconds": 8.470000267028809}, None))

    def test_json_text_sdk_object_and_bare_usage_give_the_same_row(self):
        from openai.types.chat import ChatCompletion  # installed with litellm

        body = fixture("openai_chat_completion.json")
        exp = EXPECTED["openai_chat_completion.json"]
        for i, response in enumerate([json.dumps(body), ChatCompletion.model_validate(body), body["usage"]]):
            lc.record(self.conn, "openai", body["model"], response, tenant_id=self.tenant, operation=str(i))
            self.assertEqual(dict(zip(TOKENS, self.row(tenant_id=self.tenant, operation=str(i))[0][:5])), exp["tokens"])

    def test_service_tier_comes_from_the_response(self):
        body = dict(fixture("openai_responses.json"), service_tier="flex")
        cost = lc.record(self.conn, "openai", body["model"], body, tenant_id=self.tenant)
        self.assertEqual(self.row(tenant_id=self.tenant)[0][9], "flex")
        t = EXPECTED["openai_responses.json"]["tokens"]
        flex = self.conn.execute(
            "SELECT llm_cost.llm_cost('openai', %s, %s, %s, %s, 0, %s, service_tier => 'flex')",
            [body["model"], t["input_tokens"], t["output_tokens"], t["cached_input_tokens"], t["reasoning_tokens"]],
        ).fetchone()[0]
        self.assertEqual(cost, flex)
        self.assertLess(cost, Decimal(EXPECTED["openai_responses.json"]["cost"]))

    def test_response_without_usage_is_a_clear_error_and_writes_nothing(self):
        body = fixture("openai_chat_completion.json")
        del body["usage"]
        for bad in (body, dict(body, usage=None), {"choices": []}):
            with self.assertRaisesRegex(ValueError, "no usage object"):
                lc.record(self.conn, "openai", "gpt-5-mini", bad, tenant_id=self.tenant)
        with self.assertRaisesRegex(ValueError, "only a failed call"):
            lc.record(self.conn, "openai", "gpt-5-mini", None, tenant_id=self.tenant)
        with self.assertRaisesRegex(ValueError, "no usage object"):  # qualifiers are not charges
            lc.record(self.conn, "openai", "gpt-5-mini", body, units=lc.request_units({"quality": "hd"}),
                      tenant_id=self.tenant)
        with self.assertRaisesRegex(TypeError, "unknown llm_cost.usage column"):
            lc.record(self.conn, "openai", "gpt-5-mini", fixture("openai_chat_completion.json"), tenant=self.tenant)
        self.assertEqual(self.row(tenant_id=self.tenant), [])
        # The extension itself rejects such an object in raw_usage with SQLSTATE 22023.
        with self.assertRaises(psycopg.errors.InvalidParameterValue) as cm:
            self.conn.execute("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-5', %s)",
                              [psycopg.types.json.Jsonb({"choices": []})])
        self.assertIn("not a usage object we recognise", str(cm.exception))

    def test_can_spend_flips_to_false_when_a_hard_limit_is_exhausted(self):
        self.conn.execute("INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit)"
                          " VALUES (%s, 0.03, 'day', %s, true)", [self.tenant, self.tenant])
        self.assertTrue(lc.can_spend(self.conn, Decimal("0.03"), tenant_id=self.tenant))
        lc.record(self.conn, "anthropic", "claude-sonnet-4-5-20250929", fixture("anthropic_messages.json"),
                  tenant_id=self.tenant)  # 0.0271206 spent
        self.assertTrue(lc.can_spend(self.conn, 0.002, tenant_id=self.tenant, user_id="u-1"))
        self.assertFalse(lc.can_spend(self.conn, 0.003, tenant_id=self.tenant, user_id="u-1"))
        self.assertTrue(lc.can_spend(self.conn, 0.003, tenant_id="someone-else"))
        lc.record(self.conn, "anthropic", "claude-sonnet-4-5-20250929", fixture("anthropic_messages.json"),
                  tenant_id=self.tenant)  # the call happened anyway: recorded, over budget
        self.assertFalse(lc.can_spend(self.conn, 0, tenant_id=self.tenant))
        self.assertEqual(len(self.row(tenant_id=self.tenant)), 2)

    def test_guarded_call(self):
        self.conn.execute("INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit)"
                          " VALUES (%s, 0.02, 'day', %s, true)", [self.tenant, self.tenant])
        gemini = fixture("gemini_generate_content.json")
        body, cost = lc.guarded_call(self.conn, "gemini", "gemini-2.5-flash", 0.005, lambda: gemini,
                                     tenant_id=self.tenant, agent_id="analyst")
        self.assertIs(body, gemini)
        self.assertEqual(cost, Decimal(EXPECTED["gemini_generate_content.json"]["cost"]))

        def timeout():
            raise TimeoutError("read timed out")

        with self.assertRaises(TimeoutError):
            lc.guarded_call(self.conn, "gemini", "gemini-2.5-flash", 0.005, timeout, tenant_id=self.tenant)
        failed = self.conn.execute("SELECT success, error_type, input_tokens, cost FROM llm_cost.usage"
                                   " WHERE tenant_id = %s AND NOT success", [self.tenant]).fetchall()
        self.assertEqual(failed, [(False, "TimeoutError", 0, Decimal(0))])

        calls = []
        with self.assertRaises(lc.BudgetExceeded):  # 0.00447526 spent, 0.02 more would pass 0.02
            lc.guarded_call(self.conn, "gemini", "gemini-2.5-flash", 0.02, lambda: calls.append(1), tenant_id=self.tenant)
        self.assertEqual(calls, [])


class UnitsTest(unittest.TestCase):
    """The unit helpers on the recorded bodies (no database)."""

    def test_units_of_each_body(self):
        self.assertEqual({name: lc.units_of(fixture(name)) for name in EXPECTED if name.endswith(".json")
                          and lc.units_of(fixture(name))}, {
            "openai_images_dall_e_3.json": {"images": 1},  # size and quality: from the request
            "openai_responses_web_search.json": {"web_search_queries": 1, "search_context_size": "medium"},
        })  # everything else is in the usage objects, read by the extension
        whisper = fixture("openai_transcription_whisper.json")
        del whisper["usage"]
        self.assertEqual(lc.units_of(whisper), {"audio_seconds": 8.470000267028809})

    def test_units_of_chat_search_and_image_responses(self):
        chat = fixture("openai_chat_completion.json")
        self.assertEqual(lc.units_of(chat), {})
        chat["choices"][0]["message"]["annotations"] = [{"type": "url_citation", "url_citation": {"url": "https://x"}}]
        self.assertEqual(lc.units_of(chat), {"web_search_queries": 1})
        image = fixture("openai_images_gpt_image_1.json")
        self.assertEqual(lc.units_of(image), {})  # priced by its tokens
        del image["usage"]
        self.assertEqual(lc.units_of(image), {"images": 1, "size": "1024x1024", "quality": "high"})
        self.assertEqual(lc.units_of(fixture("openai_embeddings.json")), {})  # data[] of embeddings, not images

    def test_request_units(self):
        self.assertEqual(lc.request_units(EXPECTED["openai_images_dall_e_3.json"]["request"]),
                         {"size": "1024x1792", "quality": "hd"})
        self.assertEqual(lc.request_units({"size": "auto", "quality": "auto"}), {})
        self.assertEqual(lc.request_units({"web_search_options": {"search_context_size": "low"}}),
                         {"search_context_size": "low"})
        self.assertEqual(lc.request_units({"tools": [{"type": "function", "name": "f"},
                                                     {"type": "web_search_preview", "search_context_size": "high"}]}),
                         {"search_context_size": "high"})
        self.assertEqual(lc.speech_units("The quick brown fox jumped over the lazy dog."), {"characters": 45})


if __name__ == "__main__":
    unittest.main()
