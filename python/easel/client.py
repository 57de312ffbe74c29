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

    def generate(self, prompt: str, timeout: float = 600.0, **params: Any) -> List[Image.Image]:
        """Generates and waits: returns the job's images (PIL). Same parameters as submit."""
        return self.submit(prompt, **params).images(timeout)

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

    def _request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = None
        headers = self._headers()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
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
