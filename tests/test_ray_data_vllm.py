"""The ray.data.llm path of LLM rewriting (vLLM on Ray Data) without vLLM, GPUs or Ray Data: the
config promptlearn passes to ``vLLMEngineProcessorConfig``, the rows it hands the processor and
how it reads the answers, checked against a fake ``ray.data.llm`` module. A real vLLM was never
run through this path (docs/scaling.md says so)."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest

from promptlearn.backends import ray_data_vllm
from promptlearn.backends.ray_data_vllm import RayDataVLLMBackend, processor_config, request_row
from promptlearn.errors import InputError
from promptlearn.llm.types import Message, Request, SamplingParams
from promptlearn.testing.toy import ToyReply


class FakeDataset:
    def __init__(self, rows):
        self.rows = rows

    def take_all(self):
        return list(self.rows)


class FakeRayDataLLM:
    """Stands in for ray.data.llm: records the config and answers each row like the toy LLM, in a
    shuffled order (Ray Data does not keep it)."""

    def __init__(self, reply=None):
        self.configs, self.batches = [], []
        self.reply = reply or (lambda messages, params: "Rewritten query: " + messages[-1]["content"][-12:])

    def vLLMEngineProcessorConfig(self, **kwargs):  # noqa: N802 - Ray's name
        self.configs.append(kwargs)
        return SimpleNamespace(**kwargs)

    def build_processor(self, config, preprocess=None, postprocess=None):
        assert preprocess is None and postprocess is not None

        def processor(dataset):
            self.batches.append(dataset.rows)
            out = []
            for row in dataset.rows:
                text = self.reply(row["messages"], row["sampling_params"])
                tokens = len(text.split())
                out.append(postprocess({**row, "generated_text": text, "num_input_tokens": 7, "num_generated_tokens": tokens,
                                        "prompt": "(templated)"}))
            random.Random(0).shuffle(out)
            return FakeDataset(out)

        return processor


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def _backend(model, fake, **kw):
    return RayDataVLLMBackend(str(model), llm_module=fake, from_items=FakeDataset, **kw)


def test_the_processor_config_maps_workers_and_gpus(model):
    assert processor_config("m", engines=4, gpus_per_engine=2, batch_size=32, engine_kwargs={"max_model_len": 2048}) == {
        "model_source": "m", "engine_kwargs": {"tensor_parallel_size": 2, "max_model_len": 2048}, "concurrency": 4, "batch_size": 32}
    assert processor_config("m")["engine_kwargs"] == {"tensor_parallel_size": 1}
    assert processor_config("m", gpus_per_engine=0)["engine_kwargs"]["tensor_parallel_size"] == 1  # the executor's CPU default
    with pytest.raises(InputError, match="whole GPUs") as error:
        processor_config("m", gpus_per_engine=0.5)
    assert error.value.arguments == ("gpus_per_worker",)
    fake = FakeRayDataLLM()
    backend = _backend(model, fake, engines=3, gpus_per_engine=1, batch_size=16)
    assert fake.configs == [{"model_source": str(model.resolve()), "engine_kwargs": {"tensor_parallel_size": 1}, "concurrency": 3, "batch_size": 16}]
    assert backend.max_batch_size == 16 * 3 * ray_data_vllm.BATCHES_PER_CALL
    assert backend.identity()["backend"] == "vllm" and backend.identity()["model"] == str(model.resolve())


def test_the_real_config_class_takes_what_promptlearn_passes():
    llm = pytest.importorskip("ray.data.llm", reason="ray.data.llm needs pyarrow (Ray Data), not installed here")
    config = llm.vLLMEngineProcessorConfig(**processor_config("/models/m", engines=2, gpus_per_engine=1, batch_size=8))
    assert config.concurrency == 2 and config.batch_size == 8 and config.engine_kwargs["tensor_parallel_size"] == 1


def test_requests_become_rows_and_answers_come_back_in_order(model):
    fake = FakeRayDataLLM()
    backend = _backend(model, fake)
    requests = [Request(messages=(Message(role="system", content="be brief"), Message(role="user", content=f"query number {i}")),
                        params=SamplingParams(temperature=0.0, max_tokens=3 if i == 2 else 64, seed=5)) for i in range(5)]
    completions = backend.complete_batch(requests)
    assert [c.text for c in completions] == [f"Rewritten query: ery number {i}" for i in range(5)]
    assert [c.finish_reason for c in completions] == ["stop", "stop", "length", "stop", "stop"]  # 4 tokens >= max_tokens 3
    assert completions[0].prompt_tokens == 7 and completions[0].cost_usd == 0.0
    row = fake.batches[0][0]
    assert row == {"index": 0, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "query number 0"}],
                   "sampling_params": {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 64, "seed": 5}}
    json.dumps(fake.batches)  # rows are plain data (Arrow-friendly)


def test_a_processor_failure_is_a_typed_llm_error(model):
    from promptlearn.llm.errors import LLMError

    fake = FakeRayDataLLM(reply=lambda messages, params: (_ for _ in ()).throw(RuntimeError("engine died")))
    with pytest.raises(LLMError, match="engine died"):
        _backend(model, fake).complete_batch([Request(messages=(Message(role="user", content="q"),), params=SamplingParams())])


def test_rewriting_on_ray_picks_ray_data_only_for_vllm_with_vllm_importable(monkeypatch):
    from promptlearn.workers import ray_data_vllm as choose

    ray_executor = SimpleNamespace(name="ray", workers=4, gpus_per_worker=1.0, address="ray://head:10001")
    monkeypatch.setattr(ray_data_vllm, "vllm_importable", lambda: False)
    assert choose(ray_executor, "vllm/models/m") is None  # no vLLM: promptlearn's client in the actors
    monkeypatch.setattr(ray_data_vllm, "vllm_importable", lambda: True)
    assert choose(ray_executor, "vllm/models/m") == {"engines": 4, "gpus_per_engine": 1.0, "address": "ray://head:10001"}
    assert choose(ray_executor, "openai/gpt-4o-mini") is None  # a remote API: the actors
    assert choose(SimpleNamespace(name="local"), "vllm/models/m") is None


def test_rewrite_input_on_ray_data_writes_what_the_scripted_llm_gives(monkeypatch, tmp_path, model, capsys):
    """``rewrite --input --executor ray --llm vllm/MODEL`` with vLLM "importable": the rows go
    through the (fake) ray.data.llm processor, and the file is the one the same replies give
    through promptlearn's client on the local executor."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'promptlearn[ray]'")
    from promptlearn.cli.main import main
    from promptlearn.testing.openai_server import OpenAIServer

    reply = ToyReply()
    fake = FakeRayDataLLM(reply=reply)
    monkeypatch.setattr(ray_data_vllm, "vllm_importable", lambda: True)
    monkeypatch.setattr(ray_data_vllm, "import_ray_data_llm", lambda: fake)
    monkeypatch.setattr(ray_data_vllm, "ray_from_items", lambda address: FakeDataset)
    (tmp_path / "task.py").write_text("from promptlearn.testing.toy import toy_task\n\nTASK = toy_task()\n")
    (tmp_path / "instruction.txt").write_text("Rewrite the query and leave the concept out (v0).\n")
    source = tmp_path / "queries.jsonl"
    source.write_text("".join(json.dumps({"concept": "dog", "query": f"a dog number {i}"}) + "\n" for i in range(6)))
    common = ["rewrite", "--task", str(tmp_path / "task.py"), "--instruction", str(tmp_path / "instruction.txt"), "--input", str(source),
              "--verify", "1", "--no-cache", "--quiet"]
    assert main([*common, "--output", str(tmp_path / "ray.jsonl"), "--llm", f"vllm/{model}", "--executor", "ray", "--workers", "2",
                 "--gpus-per-worker", "1"]) == 0
    assert "ray.data.llm's vLLM processor (2 engines)" in capsys.readouterr().err
    assert fake.configs[0]["concurrency"] == 2 and fake.batches  # the rows went through the processor
    with OpenAIServer(reply=reply) as server:
        assert main([*common, "--output", str(tmp_path / "local.jsonl"), "--llm", "openai/test", "--api-base", server.url,
                     "--concurrency", "1"]) == 0
    assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
