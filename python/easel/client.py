"""The Easel HTTP client (native API, ``/api/v1``); see ``easel/__init__.py`` for examples."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

from PIL import Image

from .zero_config import LocalServer, PathsArg, folders_of, job_body

_TERMINAL = ("succeeded", "failed", "cancelled")


class EaselError(Exception):
    """An error answer from the server (or no answer at all).

    Attributes:
        status: the HTTP status (0 when the server could not be reached).
        code: the server's error code ("invalid_argument", "not_found", ...).
        message: what went wrong and what to do about it.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Event:
    """One Server-Sent Event of a job: ``type`` is queued, running, started, progress
    (data has step, total, seconds_per_step and sometimes a preview), retry, succeeded,
    failed, cancelled or end."""

    type: str
    data: Dict[str, Any] = field(default_factory=dict)

    def preview(self) -> Optional[Image.Image]:
        """The progress preview as an image, when this event carries one."""
        p = self.data.get("preview")
        if not isinstance(p, dict) or "data" not in p:
            return None
        return Image.open(io.BytesIO(base64.b64decode(p["data"])))


@dataclass
class JobInfo:
    """A job as the server describes it (GET /api/v1/jobs/{id})."""

    id: str
    state: str
    kind: str
    attempts: int
    error: Optional[str]
    result: Optional[Dict[str, Any]]
    raw: Dict[str, Any]

    @property
    def done(self) -> bool:
        """True once the job has ended (succeeded, failed or cancelled)."""
        return self.state in _TERMINAL

    @staticmethod
    def from_json(j: Dict[str, Any]) -> "JobInfo":
        return JobInfo(
            id=j["id"],
            state=j["state"],
            kind=j.get("kind", ""),
            attempts=int(j.get("attempts", 0)),
            error=j.get("error"),
            result=j.get("result"),
            raw=j,
        )


class Job:
    """A submitted job: follow its progress, wait for it, fetch its images, cancel it."""

    def __init__(self, client: "Easel", info: JobInfo) -> None:
        self._client = client
        self.id = info.id
        self.info = info

    def refresh(self) -> JobInfo:
        """Fetches the job's current state."""
        self.info = JobInfo.from_json(self._client._request("GET", f"/api/v1/jobs/{self.id}"))
        return self.info

    def progress(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields the job's events as they happen (its history first), ending with the
        job's terminal event. Uses the job's Server-Sent-Event stream."""
        for event in self._client._stream(f"/api/v1/jobs/{self.id}/stream", timeout):
            if event.type == "end":
                if isinstance(event.data.get("job"), dict):
                    self.info = JobInfo.from_json(event.data["job"])
                return
            yield event

    def result(self, timeout: float = 600.0, poll: float = 0.2) -> JobInfo:
        """Waits until the job ends and returns it."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.refresh()
            if info.done:
                return info
            if time.monotonic() > deadline:
                raise EaselError(0, "timeout", f"job {self.id} is still {info.state} after {timeout} s")
            time.sleep(poll)

    def images(self, timeout: float = 600.0) -> List[Image.Image]:
        """Waits for the job and returns its images; raises EaselError if it did not succeed."""
        info = self.result(timeout)
        if info.state != "succeeded":
            raise EaselError(0, info.state, info.error or f"job {self.id} was {info.state}")
        out = []
        for img in (info.result or {}).get("images", []):
            out.append(self._client.image(img["id"]))
        return out

    def cancel(self) -> JobInfo:
        """Cancels the job: a queued one at once, a running one at its next step."""
        self.info = JobInfo.from_json(self._client._request("POST", f"/api/v1/jobs/{self.id}/cancel", {}))
        return self.info


class Easel:
    """A client of one Easel server.

    Args:
        url: the server's base URL, e.g. "http://127.0.0.1:7860".
        api_key: the server's key, when it has one (sent as "Authorization: Bearer KEY").
        timeout: seconds to wait for an answer to each request.
    """

    def __init__(self, url: str = "http://127.0.0.1:7860", api_key: Optional[str] = None,
                 timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._server: Optional[LocalServer] = None  # a private server this client stops
        self._zero_config = False  # generate() lets the library choose the model
        #: What the server's library chose for the last generate() (model, LoRAs, parameters,
        #: and the reasons), or None when the job named its model.
        self.last_choice: Optional[Dict[str, Any]] = None
        #: The library scan a zero-config client started with (files, added, errors, notes).
        self.scan_report: Optional[Dict[str, Any]] = None

    # -- zero configuration (see easel/zero_config.py) ------------------------------------
    @classmethod
    def from_comfyui_auto(cls, *, binary: Optional[str] = None, data_dir: Optional[str] = None,
                          extra_paths: Optional[PathsArg] = None, serve_args: Optional[List[str]] = None,
                          start_timeout: float = 120.0, scan_timeout: float = 1800.0) -> "Easel":
        """Starts a private ``easel serve``, finds the ComfyUI / A1111 / Forge / InvokeAI installs
        on this machine (as ``easel models scan --discover`` does), indexes their models, and
        returns a client whose ``generate()`` chooses the model for each prompt.

        Args:
            binary: the easel binary (default $EASEL_BIN, ``easel`` on $PATH, or build/easel).
            data_dir: where the server keeps its database and images; a temporary folder
                (removed on close) when None. Give one to keep the index between runs.
            extra_paths: more folders, as for from_paths().
            serve_args: more ``easel serve`` flags (e.g. ["--device", "cuda:0"]).
        Raises:
            EaselError: no install found and no extra_paths (use from_paths), or the scan failed.
        """
        body: Dict[str, Any] = {"discover": True}
        if extra_paths:
            body["paths"] = folders_of(extra_paths)
        return cls._zero_config_client(body, binary, data_dir, serve_args, start_timeout, scan_timeout)

    @classmethod
    def from_paths(cls, paths: PathsArg, *, binary: Optional[str] = None, data_dir: Optional[str] = None,
                   serve_args: Optional[List[str]] = None, start_timeout: float = 120.0,
                   scan_timeout: float = 1800.0) -> "Easel":
        """Like from_comfyui_auto(), with the model folders named::

            Easel.from_paths({"checkpoints": "/models/checkpoints",
                              "loras": ["/models/loras", "/more/loras"],
                              "vae": "/models/vae"})

        Keys name kinds (checkpoint(s), lora(s), vae, embeddings, text_encoders, unet,
        controlnet, upscale_models, models); every file is classified by its tensors anyway.
        """
        body = {"paths": folders_of(paths)}
        return cls._zero_config_client(body, binary, data_dir, serve_args, start_timeout, scan_timeout)

    @classmethod
    def _zero_config_client(cls, rescan: Dict[str, Any], binary: Optional[str], data_dir: Optional[str],
                            serve_args: Optional[List[str]], start_timeout: float,
                            scan_timeout: float) -> "Easel":
        server = LocalServer(binary, data_dir, serve_args, start_timeout)
        client = cls(server.url)
        client._server = server
        client._zero_config = True
        try:
            deadline = time.monotonic() + start_timeout
            while not client.health():
                if server.proc is None or server.proc.poll() is not None:
                    raise EaselError(0, "server_exited", f"easel serve stopped: {server.log_tail()}")
                if time.monotonic() > deadline:
                    raise EaselError(0, "timeout", f"easel serve has no ready worker after {start_timeout} s: "
                                     f"{server.log_tail()}")
                time.sleep(0.1)
            try:
                client.scan_report = client._request("POST", "/api/v1/library/models/rescan", rescan,
                                                     timeout=scan_timeout)
            except EaselError as e:
                if rescan.get("discover") and e.status == 400:
                    raise EaselError(e.status, e.code,
                                     "no ComfyUI, A1111/Forge or InvokeAI install was found under $HOME: "
                                     "name the folders with Easel.from_paths({'checkpoints': ..., "
                                     "'loras': ...})") from None
                raise
        except BaseException:
            server.stop()
            raise
        return client

    def close(self) -> None:
        """Stops the private server of a from_comfyui_auto() / from_paths() client (no-op
        otherwise)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "Easel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def get_stats(self) -> Dict[str, Any]:
        """The library, history and queue at a glance::

            {"library": {"total": 412, "errors": 3, "by_kind": {"checkpoint": 40, "lora": 350, ...},
                         "by_family": {"SDXL": 200, "SD1": 190, ...},
                         "by_kind_family": {"lora": {"SDXL": 180, ...}, ...}},
             "history": {"images": 1234},
             "queue": {"queued": 0, "running": 1, "succeeded": 57, "failed": 0, "cancelled": 2}}
        """
        library = self._request("GET", "/api/v1/library/stats")
        history = self._request("GET", "/api/v1/images?limit=1")
        queue = self._request("GET", "/api/v1/stats").get("queue", {})
        return {"library": library, "history": {"images": history.get("total", 0)}, "queue": queue}

    def library_models(self, **filters: Any) -> List[Dict[str, Any]]:
        """The model library's records (kind=, family=, tag=, q=, limit=, offset=)."""
        q = urllib.parse.urlencode(filters)
        return self._request("GET", "/api/v1/library/models" + ("?" + q if q else ""))["models"]

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, prompt: str = "", *, init_image: Optional[Image.Image] = None,
               mask: Optional[Image.Image] = None, **params: Any) -> Job:
        """Queues a job and returns at once. ``params`` are the native API's fields
        (steps, width, height, seed, sampler_name, cfg_scale, model, batch_size, priority,
        tags, denoising_strength, ...). ``init_image`` makes it img2img, ``mask`` inpaint."""
        body: Dict[str, Any] = {"prompt": prompt, **params}
        if init_image is not None:
            body["init_image"] = _png_base64(init_image)
        if mask is not None:
            body["mask"] = _png_base64(mask)
        return Job(self, JobInfo.from_json(self._request("POST", "/api/v1/jobs", body)))

    def generate(self, prompt: str, style: Optional[str] = None, quality: Optional[str] = None,
                 num_images: Optional[int] = None, seed: Optional[int] = None, *, timeout: float = 600.0,
                 **overrides: Any) -> List[Image.Image]:
        """Generates and waits: returns the job's images (PIL).

        Args:
            prompt: what to draw.
            style: "anime", "realistic", "artistic" or "3d" guides the model choice; any other
                name applies a stored style (GET /api/v1/styles) to the prompt.
            quality: "fast", "balanced" (the server's default), "high" or "ultra".
            num_images: images to make (batch_size).
            seed: for reproducible images (-1 or None: random).
            overrides: any native job field (steps, cfg_scale, sampler_name or sampler, width,
                height, negative_prompt, model, preset, styles, loras, ...); they win over what
                the library chooses.

        With a zero-config client (from_comfyui_auto / from_paths), or when style is a hint or
        quality is given, and no model or preset is named, the server's library chooses the
        model ("model": "auto"); ``last_choice`` then says what it chose and why.
        """
        body = job_body(prompt, self._zero_config, style, quality, num_images, seed, overrides)
        body.pop("prompt")
        job = self.submit(prompt, **body)
        self.last_choice = job.info.raw.get("library")
        return job.images(timeout)

    def job(self, job_id: str) -> Job:
        """A job by id."""
        return Job(self, JobInfo.from_json(self._request("GET", f"/api/v1/jobs/{_quote(job_id)}")))

    def jobs(self, state: Optional[str] = None, limit: int = 50, offset: int = 0) -> List[JobInfo]:
        """Jobs, newest first, optionally of one state."""
        q: Dict[str, Any] = {"limit": limit, "offset": offset}
        if state:
            q["state"] = state
        return [JobInfo.from_json(j) for j in self._request("GET", "/api/v1/jobs?" + urllib.parse.urlencode(q))["jobs"]]

    # -- history ------------------------------------------------------------------------
    def search(self, query: str = "", limit: int = 50, offset: int = 0, **filters: Any) -> List[Dict[str, Any]]:
        """Searches the image history (full text: words, "phrases", prefix*, model:name*).
        ``filters``: model, job_id, min_width, max_width, min_height, max_height."""
        q = {"q": query, "limit": limit, "offset": offset, **filters}
        return self._request("GET", "/api/v1/images?" + urllib.parse.urlencode(q))["images"]

    def image(self, image_id: str) -> Image.Image:
        """An image of the history, by id."""
        data = self._request("GET", f"/api/v1/images/{_quote(image_id)}/file", raw=True)
        img = Image.open(io.BytesIO(data))
        img.load()
        return img

    def delete_image(self, image_id: str) -> None:
        """Deletes an image: its record, file and sidecar."""
        self._request("DELETE", f"/api/v1/images/{_quote(image_id)}")

    # -- server -------------------------------------------------------------------------
    def models(self) -> List[Dict[str, Any]]:
        """The models the server offers (name, family, format, ...)."""
        return self._request("GET", "/api/v1/models")["models"]

    def health(self) -> bool:
        """True when the server answers and a worker is ready."""
        try:
            return self._request("GET", "/api/v1/health").get("status") == "ok"
        except EaselError:
            return False

    def stats(self) -> Dict[str, Any]:
        """Devices, memory, queue counts and loaded models."""
        return self._request("GET", "/api/v1/stats")

    # -- plumbing -----------------------------------------------------------------------
    def _headers(self) -> Dict[str, str]:
        h = {"Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _request(self, method: str, path: str, body: Any = None, raw: bool = False,
                 timeout: Optional[float] = None) -> Any:
        data = None
        headers = self._headers()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            raise _error_of(e.code, e.read()) from None
        except (urllib.error.URLError, OSError) as e:
            raise EaselError(0, "unreachable", f"cannot reach {self.url}: {e}") from None
        return payload if raw else json.loads(payload)

    def _stream(self, path: str, timeout: Optional[float]) -> Iterator[Event]:
        headers = self._headers()
        headers["Accept"] = "text/event-stream"
        req = urllib.request.Request(self.url + path, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            raise _error_of(e.code, e.read()) from None
        except (urllib.error.URLError, OSError) as e:
            raise EaselError(0, "unreachable", f"cannot reach {self.url}: {e}") from None
        with resp:
            etype, data_lines = "message", []
            for raw_line in resp:
                line = raw_line.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if data_lines:
                        yield Event(etype, json.loads("\n".join(data_lines)))
                    etype, data_lines = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    etype = line[6:].strip()
                elif line.startswith("data:"):
                    data_lines.append(line[5:].lstrip())


def _error_of(status: int, body: bytes) -> EaselError:
    try:
        err = json.loads(body)["error"]
        return EaselError(status, err.get("code", ""), err.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return EaselError(status, "http_error", body.decode("utf-8", "replace")[:500])


def _png_base64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _quote(s: str) -> str:
    return urllib.parse.quote(s, safe="")
