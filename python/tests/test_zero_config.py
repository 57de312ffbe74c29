"""Zero-configuration Python API against the real binary: Easel.from_paths() and
from_comfyui_auto() start a private ``easel serve``, index the folders through its library,
and generate() lets the server choose the model ("model": "auto"); get_stats(); jobs naming
styles and presets on a plain client."""

from __future__ import annotations

import os
import pathlib

import pytest
from PIL import Image

from easel import Easel, EaselError

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
BINARY = os.environ.get("EASEL_BIN", str(ROOT / "build" / "easel"))
# The tiny fixture checkpoint's text encoder is 16 wide with 2 heads (not the usual 64 a head).
FAST = dict(steps=2, width=64, height=64, text_heads=2)


def model_tree(base: pathlib.Path) -> pathlib.Path:
    """A ComfyUI-style models folder: the tiny SD1 checkpoint and a LoRA, as symlinks."""
    (base / "checkpoints").mkdir(parents=True)
    (base / "loras").mkdir()
    (base / "checkpoints" / "anime_girl_sd15.safetensors").symlink_to(FIXTURES / "sd1.safetensors")
    (base / "loras" / "pink_hair.safetensors").symlink_to(FIXTURES / "lora" / "kohya.safetensors")
    return base


def test_from_paths_generates_with_the_library_choosing(tmp_path: pathlib.Path) -> None:
    models = model_tree(tmp_path / "models")
    with Easel.from_paths({"checkpoints": models / "checkpoints", "loras": [models / "loras"]},
                          binary=BINARY) as easel:
        assert easel.scan_report["added"] >= 2
        images = easel.generate("a girl with pink hair", style="anime", quality="fast",
                                num_images=2, seed=42, **FAST)
        assert len(images) == 2
        assert all(isinstance(i, Image.Image) and i.size == (64, 64) for i in images)
        choice = easel.last_choice["selection"]
        assert choice["base"]["name"] == "anime_girl_sd15"
        assert choice["quality"] == "fast" and choice["style"] == "anime"
        assert choice["explanation"]
        # Same library, prompt and seed: the same images.
        again = easel.generate("a girl with pink hair", style="anime", quality="fast",
                               num_images=2, seed=42, **FAST)
        assert [i.tobytes() for i in again] == [i.tobytes() for i in images]
        # Overrides in the seed's spelling win over the choice.
        one = easel.generate("a castle", quality="ultra", seed=1, sampler="Euler a", cfg_scale=4.0,
                             **FAST)
        assert len(one) == 1 and one[0].size == (64, 64)
        assert "Sampler: Euler a" in one[0].info["parameters"]

        stats = easel.get_stats()
        assert stats["library"]["by_kind"]["checkpoint"] == 1
        assert stats["library"]["by_kind"]["lora"] == 1
        assert sum(stats["library"]["by_family"].values()) == 2
        assert stats["library"]["by_kind_family"]["checkpoint"]["SD1"] == 1
        assert stats["history"]["images"] == 5
        assert stats["queue"]["succeeded"] == 3
        server = easel._server
        proc = server.proc
    assert proc.poll() is not None  # closed with the block
    assert not pathlib.Path(server.data_dir).exists()  # the temporary data dir went too


def test_from_paths_checks_its_arguments(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        Easel.from_paths({"checkpoints": tmp_path / "missing"}, binary=BINARY)
    with pytest.raises(ValueError):
        Easel.from_paths({"sofas": tmp_path}, binary=BINARY)
    with pytest.raises(ValueError):
        Easel.from_paths({}, binary=BINARY)


def test_from_comfyui_auto_finds_an_install_under_home(tmp_path: pathlib.Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    model_tree(home / "ComfyUI" / "models")
    monkeypatch.setenv("HOME", str(home))
    data = tmp_path / "data"
    easel = Easel.from_comfyui_auto(binary=BINARY, data_dir=str(data))
    try:
        assert any("ComfyUI" in n for n in easel.scan_report["notes"])
        images = easel.generate("a lighthouse", seed=3, **FAST)
        assert len(images) == 1
        assert easel.last_choice["selection"]["base"]["name"] == "anime_girl_sd15"
        assert easel.get_stats()["library"]["total"] == 2
    finally:
        easel.close()
    assert (data / "easel.db").exists()  # a data dir given is kept


def test_from_comfyui_auto_without_an_install_says_what_to_do(tmp_path: pathlib.Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(EaselError) as e:
        Easel.from_comfyui_auto(binary=BINARY)
    assert "from_paths" in e.value.message


def test_plain_client_jobs_name_styles_and_presets(client: Easel, tmp_path: pathlib.Path) -> None:
    client._request("POST", "/api/v1/styles/py-moody", {"prompt": "{prompt}, moody, dark"})
    job = client.submit("a harbour", styles=["py-moody"], seed=5, **FAST)
    assert job.info.raw["request"]["prompt"] == "a harbour, moody, dark"
    assert job.info.raw["library"]["styles"] == ["py-moody"]
    assert len(job.images()) == 1
    with pytest.raises(EaselError) as e:
        client.submit("a harbour", styles=["py-nope"], **FAST)
    assert e.value.status == 400 and "py-nope" in e.value.message and "py-moody" in e.value.message

    models = model_tree(tmp_path / "lib")
    client._request("POST", "/api/v1/library/models/rescan", {"paths": [str(models)]})
    ckpt = client.library_models(kind="checkpoint", q="anime_girl")[0]["path"]
    client._request("POST", "/api/v1/presets", {"name": "py-preset", "checkpoint": ckpt,
                                                "params": {"steps": 2, "width": 64, "height": 64}})
    images = client.generate("a lighthouse", preset="py-preset", seed=9, text_heads=2)
    assert len(images) == 1 and images[0].size == (64, 64)
    with pytest.raises(EaselError) as e:
        client.generate("a lighthouse", preset="py-missing")
    assert e.value.status == 400 and "py-preset" in e.value.message
