"""Drives LiteLLM for real, without network, and checks the rows LlmCostLogger writes.

Anthropic and Gemini calls go through LiteLLM's own provider code with the recorded
response bodies served by an httpx MockTransport; OpenAI uses ``mock_response``.
"""
import asyncio
import json
import os
import pathlib
import time
import unittest
import uuid
import warnings
from decimal import Decimal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download

import httpx
import litellm
import psycopg
from litellm.llms.custom_httpx.http_handler import HTTPHandler

from llm_cost_callback import LlmCostLogger
from test_call_units import handler, openai_client, transport

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
MESSAGES = [{"role": "user", "content": "Summarise the attached document."}]


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def recorded(name):
    """An HTTP client whose every request gets the recorded response ``name``."""
    body = fixture(name)
    return HTTPHandler(client=httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body))))


class CallbackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.filterwarnings("ignore", message=".*ReadOnly")  # about LiteLLM's own types
        cls.logger = LlmCostLogger("")  # PG* environment variables
        litellm.callbacks = [cls.logger]
        cls.conn = psycopg.connect(autocommit=True)

    @classmethod
    def tearDownClass(cls):
        litellm.callbacks = []
        cls.logger.close()
        cls.conn.close()

    def rows(self, execution_id, count=1, timeout=15):
        """The rows of one call; LiteLLM logs sync calls from a thread, so wait for them."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.conn.execute(
                f"SELECT {', '.join(TOKENS)}, provider, model, cost, success, error_type, tenant_id, user_id,"
                " agent_id, latency_ms, raw_usage FROM llm_cost.usage WHERE execution_id = %s ORDER BY id",
                [execution_id]).fetchall()
            if len(rows) >= count or time.monotonic() > deadline:
                time.sleep(0.3)  # and make sure no second row follows
                return self.conn.execute("SELECT count(*) FROM llm_cost.usage WHERE execution_id = %s",
                                         [execution_id]).fetchone()[0], rows
            time.sleep(0.05)

    def check_priced(self, name, row, litellm_cost):
        exp = EXPECTED[name]
        tokens = dict(zip(TOKENS, row[:5]))
        self.assertEqual(tokens, exp["tokens"])
        self.assertEqual(row[5:7], (exp["provider"], exp["model"]))
        sql_cost = self.conn.execute(
            "SELECT llm_cost.llm_cost(%s, %s, input_tokens => %s, output_tokens => %s, cached_input_tokens => %s,"
            " cache_write_tokens => %s, reasoning_tokens => %s)",
            [exp["provider"], exp["model"], *(tokens[k] for k in ("input_tokens", "output_tokens",
             "cached_input_tokens", "cache_write_tokens", "reasoning_tokens"))]).fetchone()[0]
        self.assertEqual(row[7], sql_cost)
        self.assertEqual(row[7], Decimal(exp["cost"]))
        self.assertAlmostEqual(float(row[7]), litellm_cost, places=12)  # LiteLLM's own price agrees here
        self.assertIs(row[8], True)

    def call(self, **kwargs):
        run = uuid.uuid4().hex
        response = litellm.completion(messages=MESSAGES, metadata={"execution_id": run, **kwargs.pop("metadata", {})},
                                      **kwargs)
        count, rows = self.rows(run)
        self.assertEqual(count, 1)
        return response, rows[0]

    def test_anthropic_through_litellm_provider_code(self):
        response, row = self.call(model="anthropic/claude-sonnet-4-5-20250929",
                                  client=recorded("anthropic_messages.json"), api_key="sk-ant-test", user="u-42",
                                  metadata={"tenant_id": "acme", "agent_id": "contracts-bot"})
        self.check_priced("anthropic_messages.json", row, response._hidden_params["response_cost"])
        self.assertEqual(row[10:13], ("acme", "u-42", "contracts-bot"))
        self.assertIsInstance(row[13], int)
        self.assertEqual(row[14]["prompt_tokens"], 20892)  # LiteLLM's usage object, kept in raw_usage

    def test_gemini_through_litellm_provider_code(self):
        response, row = self.call(model="gemini/gemini-2.5-flash",
                                  client=recorded("gemini_generate_content.json"), api_key="test-key")
        self.check_priced("gemini_generate_content.json", row, response._hidden_params["response_cost"])

    def test_openai_mock_response(self):
        response, row = self.call(model="gpt-5-mini",
                                  mock_response=fixture("openai_chat_completion.json"))
        self.check_priced("openai_chat_completion.json", row, response._hidden_params["response_cost"])

    def test_every_kind_of_call_is_recorded_with_its_units(self):
        """Embeddings, images, transcriptions, speech and web search through LiteLLM: the row's
        tokens, units and cost are the hand-worked ones of expected.json (the callback gives the
        units itself, so the extension prices them as given)."""
        speech = EXPECTED["openai_speech_tts_1"]["request"]
        anthropic_1h = dict(fixture("anthropic_messages.json"), usage=fixture("anthropic_cache_1h_usage.json")["usage"])
        calls = {
            "openai_embeddings.json": (litellm.embedding, dict(
                model="text-embedding-ada-002", input=["The food was delicious"],
                client=openai_client("openai_embeddings.json"))),
            "openai_images_gpt_image_1.json": (litellm.image_generation, dict(
                model="gpt-image-1", prompt="A cute baby sea otter", quality="high",
                client=openai_client("openai_images_gpt_image_1.json"))),
            "openai_transcription_whisper.json": (litellm.transcription, dict(
                model="whisper-1", file=("speech.mp3", b"ID3"), response_format="verbose_json",
                client=openai_client("openai_transcription_whisper.json"))),
            "openai_transcription_gpt_4o.json": (litellm.transcription, dict(
                model="gpt-4o-transcribe", file=("speech.mp3", b"ID3"),
                client=openai_client("openai_transcription_gpt_4o.json"))),
            "openai_speech_tts_1": (litellm.speech, dict(client=openai_client(content=b"ID3"), **speech)),
            "anthropic_web_search.json": (litellm.completion, dict(
                model="anthropic/claude-sonnet-4-5-20250929", messages=MESSAGES,
                tools=[{"type": "web_search_20250305", "name": "web_search"}],
                client=handler("anthropic_web_search.json"), api_key="sk-ant-test")),
            "anthropic_cache_1h_usage.json": (litellm.completion, dict(
                model="anthropic/claude-sonnet-4-5-20250929", messages=MESSAGES, api_key="sk-ant-test",
                client=HTTPHandler(client=httpx.Client(transport=httpx.MockTransport(
                    lambda request: httpx.Response(200, json=anthropic_1h)))))),
            "openai_responses_web_search.json": (litellm.responses, dict(
                model="openai/gpt-4.1-2025-04-14", input="What was a positive news story from today?",
                tools=[{"type": "web_search_preview", "search_context_size": "medium"}],
                client=handler("openai_responses_web_search.json"), api_key="sk-test")),
            "openai_images_dall_e_3.json": (litellm.image_generation, dict(
                model="azure/dall-e-3", prompt="A cute baby sea otter", size="1024x1792", quality="hd",
                api_key="test", api_base="https://example.openai.azure.com", api_version="2024-02-01")),
        }
        for name, (call, kwargs) in calls.items():
            with self.subTest(call=name):
                exp = EXPECTED[name]
                run = uuid.uuid4().hex
                saved = litellm.client_session
                if name == "openai_images_dall_e_3.json":  # LiteLLM's Azure image path uses its shared client
                    litellm.client_session = httpx.Client(transport=transport(name))
                try:
                    call(metadata={"execution_id": run}, **kwargs)
                finally:
                    litellm.client_session = saved
                count, rows = self.rows(run)
                self.assertEqual(count, 1)
                row = rows[0]
                self.assertEqual(dict(zip(TOKENS, row[:5])), exp["tokens"])
                self.assertEqual(row[5:7], (exp["provider"], exp["model"]))
                units = self.conn.execute("SELECT units FROM llm_cost.usage WHERE execution_id = %s", [run]).fetchone()[0]
                self.assertEqual(units, exp.get("litellm", {}).get("units", exp["units"]))
                self.assertEqual(row[7], Decimal(exp["cost"]))

    def run_async(self, run, **kwargs):
        """acompletion; LiteLLM logs it from a task on the event loop, so keep the loop running until the row is in."""
        async def go():
            try:
                return await litellm.acompletion(messages=MESSAGES, metadata={"execution_id": run}, **kwargs)
            finally:
                for _ in range(300):
                    if self.conn.execute("SELECT count(*) FROM llm_cost.usage WHERE execution_id = %s",
                                         [run]).fetchone()[0]:
                        break
                    await asyncio.sleep(0.05)
        return asyncio.run(go())

    def test_async_call_is_recorded_once(self):
        run = uuid.uuid4().hex
        self.run_async(run, model="gpt-5-mini", mock_response=fixture("openai_chat_completion.json"))
        count, rows = self.rows(run)
        self.assertEqual(count, 1)
        self.assertEqual(dict(zip(TOKENS, rows[0][:5])), EXPECTED["openai_chat_completion.json"]["tokens"])

    def test_failures_are_recorded_with_their_error(self):
        for run_async in (False, True):
            with self.subTest(run_async=run_async):
                run = uuid.uuid4().hex
                kwargs = dict(model="anthropic/claude-sonnet-4-5", mock_response="litellm.RateLimitError")
                with self.assertRaises(litellm.RateLimitError):
                    if run_async:
                        self.run_async(run, **kwargs)
                    else:
                        litellm.completion(messages=MESSAGES, metadata={"execution_id": run}, **kwargs)
                count, rows = self.rows(run)
                self.assertEqual(count, 1)
                r = rows[0]
                self.assertEqual(r[:9], (0, 0, 0, 0, 0, "anthropic", "claude-sonnet-4-5", Decimal(0), False))
                self.assertEqual(r[9], "RateLimitError")


if __name__ == "__main__":
    unittest.main()
