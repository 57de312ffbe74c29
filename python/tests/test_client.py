"""The `easel` client against a real server: generate, submit + progress, search, cancel,
errors, auth."""

from __future__ import annotations

from PIL import Image

import pytest

from easel import Easel, EaselError

FAST = dict(steps=2, width=64, height=64)


def test_generate_returns_pil_images(client: Easel) -> None:
    images = client.generate("a red fox in the snow", seed=42, batch_size=2, **FAST)
    assert len(images) == 2
    assert all(isinstance(i, Image.Image) and i.size == (64, 64) for i in images)
    assert "parameters" in images[0].info  # the A1111 text chunk


def test_submit_and_iterate_progress(client: Easel) -> None:
    job = client.submit("a lighthouse at dusk", seed=7, steps=5, width=64, height=64, tags=["py"])
    types = [e.type for e in job.progress(timeout=120)]
    assert "progress" in types
    assert types[-1] == "succeeded"
    assert job.info.state == "succeeded"
    steps = [e for e in job.progress()]  # an ended job replays its history
    assert steps
    assert len(job.images()) == 1


def test_search_finds_generated_images(client: Easel) -> None:
    client.generate("an orange submarine castle", seed=3, **FAST)
    found = client.search("submarine")
    assert found and "submarine" in found[0]["prompt"]
    assert client.search("submarine model:sd*")
    assert client.search("nothing-like-this-zebra") == []
    client.delete_image(found[0]["id"])
    with pytest.raises(EaselError) as e:
        client.image(found[0]["id"])
    assert e.value.status == 404


def test_cancel_a_queued_job(client: Easel) -> None:
    long = client.submit("slow", steps=150, width=64, height=64)
    queued = client.submit("waiting", **FAST)
    assert queued.cancel().state in ("cancelled", "running")
    long.cancel()
    assert long.result(120).state == "cancelled"


def test_errors_are_actionable(client: Easel) -> None:
    with pytest.raises(EaselError) as e:
        client.submit("x", steps="many")
    assert e.value.status == 400 and "steps" in e.value.message
    with pytest.raises(EaselError) as e:
        client.submit("x", model="../../etc/passwd")
    assert e.value.status == 400
    with pytest.raises(EaselError) as e:
        client.job("j_0000000000000000")
    assert e.value.status == 404


def test_models_stats_and_auth(server, client: Easel) -> None:
    assert [m["name"] for m in client.models()] == ["sd1"]
    assert client.stats()["devices"]
    with pytest.raises(EaselError) as e:
        Easel(server.url).models()
    assert e.value.status == 401
