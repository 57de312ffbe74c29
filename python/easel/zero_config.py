"""Zero-configuration Easel from Python: ``Easel.from_comfyui_auto()`` and ``Easel.from_paths()``.

Design: Python does not re-implement discovery, classification or model selection. It starts
a private ``easel serve`` on a free loopback port (``--port 0 --port-file``), with a data dir
of its own (a temporary one unless ``data_dir`` is given), and asks that server's model
library to index the folders:

* ``from_comfyui_auto()`` -> ``POST /api/v1/library/models/rescan {"discover": true}``: the
  C++ discovery (ComfyUI, A1111/Forge, InvokeAI installs under $HOME and their
  ``extra_model_paths.yaml``), exactly what ``easel models scan --discover`` finds;
* ``from_paths({...})`` -> ``POST /api/v1/library/models/rescan {"paths": [...]}``.

``generate(prompt, style=, quality=)`` then submits a job with ``"model": "auto"``: the server
chooses the checkpoint, VAE, LoRAs and parameters with the same selection as
``easel generate`` (library/selection.h); what it chose, and why, is in ``client.last_choice``.
The server stops when the client is closed (``close()``, ``with``, or at interpreter exit).

The ``easel`` binary: ``binary=``, else $EASEL_BIN, else ``easel`` on $PATH, else the
repository's ``build/easel`` next to this package.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Union

PathsArg = Dict[str, Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]]

# The kinds from_paths accepts as keys (singular or plural, ComfyUI's folder names too). The
# library classifies every file by its tensors and folder anyway: the key only documents.
KNOWN_KINDS = {
    "checkpoint", "checkpoints", "diffusion_model", "diffusion_models", "unet", "vae",
    "text_encoder", "text_encoders", "clip", "lora", "loras", "lycoris", "embedding",
    "embeddings", "controlnet", "upscaler", "upscale_models", "models",
}


def find_binary(binary: Optional[str] = None) -> str:
    """The easel binary to run (see the module docstring)."""
    candidates = [binary, os.environ.get("EASEL_BIN"), shutil.which("easel"),
                  str(pathlib.Path(__file__).resolve().parents[2] / "build" / "easel")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(
        "cannot find the easel binary: pass binary='/path/to/easel', set $EASEL_BIN, or put "
        "easel on $PATH (build it with `ninja -C build easel`)")


def folders_of(paths: PathsArg) -> List[str]:
    """The folders of a from_paths() dict, absolute, in order, without duplicates; checks that
    each exists."""
    out: List[str] = []
    for kind, value in paths.items():
        if kind not in KNOWN_KINDS:
            raise ValueError(f"unknown model kind {kind!r}: use one of {', '.join(sorted(KNOWN_KINDS))}")
        items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        for item in items:
            p = pathlib.Path(item).expanduser().resolve()
            if not p.is_dir():
                raise FileNotFoundError(f"{kind}: {p} is not a folder")
            if str(p) not in out:
                out.append(str(p))
    if not out:
        raise ValueError("from_paths needs at least one folder, e.g. {'checkpoints': '/models/checkpoints'}")
    return out


class LocalServer:
    """A private ``easel serve`` process: started on a free loopback port, stopped by stop()."""

    def __init__(self, binary: Optional[str] = None, data_dir: Optional[str] = None,
                 extra_args: Optional[List[str]] = None, start_timeout: float = 120.0) -> None:
        self.binary = find_binary(binary)
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="easel-")
            data_dir = self._tmp.name
        self.data_dir = str(pathlib.Path(data_dir).expanduser())
        os.makedirs(self.data_dir, exist_ok=True)
        port_file = pathlib.Path(self.data_dir) / ".python-serve.port"
        if port_file.exists():
            port_file.unlink()
        args = [self.binary, "serve", "--port", "0", "--port-file", str(port_file),
                "--data-dir", self.data_dir] + list(extra_args or [])
        self._log = open(pathlib.Path(self.data_dir) / "serve.log", "ab")
        self.proc: Optional[subprocess.Popen] = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        atexit.register(self.stop)
        deadline = time.monotonic() + start_timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                raise RuntimeError(f"easel serve exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"easel serve did not start within {start_timeout} s")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (pathlib.Path(self.data_dir) / "serve.log").read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 20 s) and removes a temporary data dir."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log and not self._log.closed:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


STYLE_HINTS = ("anime", "realistic", "artistic", "3d")
QUALITIES = ("fast", "balanced", "high", "ultra")

# The seed's spellings of overrides -> the native API's fields.
OVERRIDE_ALIASES = {"sampler": "sampler_name", "cfg": "cfg_scale", "guidance": "cfg_scale",
                    "num_inference_steps": "steps", "negative": "negative_prompt"}


def job_body(prompt: str, zero_config: bool, style: Optional[str], quality: Optional[str],
             num_images: Optional[int], seed: Optional[int], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The native job body for generate(): "model": "auto" unless a model is given and the
    client is a zero-config one (or asks for a style hint or a quality level)."""
    body: Dict[str, Any] = {"prompt": prompt}
    for k, v in overrides.items():
        body[OVERRIDE_ALIASES.get(k, k)] = v
    if quality is not None:
        if quality not in QUALITIES:
            raise ValueError(f"quality={quality!r}: use one of {', '.join(QUALITIES)}")
        body["quality"] = quality
    if style is not None:
        body["style"] = style
    if num_images is not None:
        if int(num_images) < 1:
            raise ValueError("num_images must be 1 or more")
        body["batch_size"] = int(num_images)
    if seed is not None:
        body["seed"] = int(seed)
    wants_auto = zero_config or quality is not None or (style in STYLE_HINTS)
    if wants_auto and "model" not in body and "preset" not in body:
        body["model"] = "auto"
    return body
