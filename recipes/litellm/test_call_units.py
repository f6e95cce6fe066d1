"""The callback's mapping from LiteLLM's callback arguments to a usage row (tokens
and units), without a database: LiteLLM is driven for real with the recorded
response bodies in fixtures/ (OpenAI SDK clients and LiteLLM's HTTP handler on an
httpx MockTransport), a logger captures what LiteLLM hands to callbacks, and
``LlmCostLogger.row`` (pure) turns it into the row that would be written."""
import json
import os
import pathlib
import threading
import unittest
import warnings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download

import httpx
import litellm
import openai
from litellm.integrations.custom_logger import CustomLogger
from litellm.llms.custom_httpx.http_handler import HTTPHandler

from llm_cost_callback import LlmCostLogger

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
MESSAGES = [{"role": "user", "content": "When was Claude Shannon born?"}]


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def transport(name=None, content=None):
    body = fixture(name) if name else None
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body) if body is not None
                               else httpx.Response(200, content=content, headers={"content-type": "audio/mpeg"}))


def openai_client(name=None, content=None):
    return openai.OpenAI(api_key="sk-test", http_client=httpx.Client(transport=transport(name, content)))


def handler(name):
    return HTTPHandler(client=httpx.Client(transport=transport(name)))


class Capture(CustomLogger):
    """Keeps the row LlmCostLogger would write for each successful call."""

    def __init__(self):
        super().__init__()
        self.rows, self.done = [], threading.Event()

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        try:
            row = LlmCostLogger().row(kwargs, response_obj, start_time, end_time, success=True)
            self.rows.append({k: getattr(v, "obj", v) for k, v in row.items()})  # Jsonb -> its object
            self.rows[-1]["litellm_cost"] = kwargs.get("response_cost")
        except Exception as exc:  # LiteLLM would swallow it
            self.rows.append({"error": repr(exc)})
        self.done.set()


class CallUnitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.filterwarnings("ignore", message=".*ReadOnly")
        cls.capture = Capture()  # once: LiteLLM takes litellm.callbacks in at its first call
        litellm.callbacks = [cls.capture]

    @classmethod
    def tearDownClass(cls):
        litellm.callbacks = []
        for registered in (litellm.success_callback, litellm._async_success_callback):
            while cls.capture in registered:  # LiteLLM keeps what it took in
                registered.remove(cls.capture)

    def setUp(self):
        self.capture.rows.clear()
        self.capture.done.clear()

    def row(self, call, **kwargs):
        call(**kwargs)
        self.assertTrue(self.capture.done.wait(15), "LiteLLM logged no success")
        self.assertEqual(len(self.capture.rows), 1)
        self.assertNotIn("error", self.capture.rows[0])
        return self.capture.rows[0]

    def check(self, name, row):
        exp = EXPECTED[name]
        litellm_exp = exp.get("litellm", {})
        self.assertEqual({k: row.get(k, 0) for k in TOKENS}, litellm_exp.get("tokens", exp["tokens"]))
        self.assertEqual(row.get("units"), litellm_exp.get("units", exp["units"]))
        self.assertEqual(row["provider"], exp["provider"])
        self.assertEqual(row["model"], exp["model"])

    def test_embedding(self):
        row = self.row(litellm.embedding, model="text-embedding-ada-002", input=["The food was delicious"],
                       client=openai_client("openai_embeddings.json"))
        self.check("openai_embeddings.json", row)

    def test_dall_e_3_on_azure_units_from_the_request(self):
        saved = litellm.client_session
        litellm.client_session = httpx.Client(transport=transport("openai_images_dall_e_3.json"))
        try:
            row = self.row(litellm.image_generation, model="azure/dall-e-3", prompt="A cute baby sea otter",
                           size="1024x1792", quality="hd", api_key="test", api_base="https://example.openai.azure.com",
                           api_version="2024-02-01")
        finally:
            litellm.client_session = saved
        self.check("openai_images_dall_e_3.json", row)

    def test_gpt_image_1_is_priced_by_tokens(self):
        row = self.row(litellm.image_generation, model="gpt-image-1", prompt="A cute baby sea otter", quality="high",
                       client=openai_client("openai_images_gpt_image_1.json"))
        self.check("openai_images_gpt_image_1.json", row)
        self.assertAlmostEqual(row["litellm_cost"], float(EXPECTED["openai_images_gpt_image_1.json"]["cost"]), places=12)

    def test_whisper_seconds_from_the_raw_response(self):
        row = self.row(litellm.transcription, model="whisper-1", file=("speech.mp3", b"ID3"),
                       response_format="verbose_json", client=openai_client("openai_transcription_whisper.json"))
        self.check("openai_transcription_whisper.json", row)  # 9 s as billed, not LiteLLM's 8.47

    def test_gpt_4o_transcribe_audio_tokens(self):
        row = self.row(litellm.transcription, model="gpt-4o-transcribe", file=("speech.mp3", b"ID3"),
                       client=openai_client("openai_transcription_gpt_4o.json"))
        self.check("openai_transcription_gpt_4o.json", row)
        self.assertAlmostEqual(row["litellm_cost"], float(EXPECTED["openai_transcription_gpt_4o.json"]["cost"]), places=12)

    def test_speech_characters_from_the_input(self):
        exp = EXPECTED["openai_speech_tts_1"]
        row = self.row(litellm.speech, client=openai_client(content=b"ID3"), **exp["request"])
        self.assertEqual(row.get("units"), exp["units"])
        self.assertEqual({k: row.get(k, 0) for k in TOKENS}, exp["tokens"])
        self.assertNotIn("raw_usage", row)
        # LiteLLM's own price counts the characters without whitespace (litellm.utils._count_characters):
        # 37, not the 45 of the input OpenAI bills.
        self.assertAlmostEqual(row["litellm_cost"], 37 * 0.000015, places=12)

    def test_anthropic_web_search(self):
        row = self.row(litellm.completion, model="anthropic/claude-sonnet-4-5-20250929", messages=MESSAGES,
                       tools=[{"type": "web_search_20250305", "name": "web_search"}],
                       client=handler("anthropic_web_search.json"), api_key="sk-ant-test")
        self.check("anthropic_web_search.json", row)
        self.assertAlmostEqual(row["litellm_cost"], float(EXPECTED["anthropic_web_search.json"]["cost"]), places=12)

    def test_anthropic_1h_cache_writes(self):
        body = dict(fixture("anthropic_messages.json"), usage=fixture("anthropic_cache_1h_usage.json")["usage"])
        row = self.row(litellm.completion, model="anthropic/claude-sonnet-4-5-20250929", messages=MESSAGES,
                       client=HTTPHandler(client=httpx.Client(transport=httpx.MockTransport(
                           lambda request: httpx.Response(200, json=body)))), api_key="sk-ant-test")
        self.check("anthropic_cache_1h_usage.json", row)
        self.assertAlmostEqual(row["litellm_cost"], float(EXPECTED["anthropic_cache_1h_usage.json"]["cost"]), places=12)

    def test_responses_web_search_calls(self):
        row = self.row(litellm.responses, model="openai/gpt-4.1-2025-04-14", input="What was a positive news story from today?",
                       tools=[{"type": "web_search_preview", "search_context_size": "medium"}],
                       client=handler("openai_responses_web_search.json"), api_key="sk-test")
        self.check("openai_responses_web_search.json", row)


if __name__ == "__main__":
    unittest.main()
