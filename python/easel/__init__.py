"""Easel's Python client: talk to a running ``easel serve``.

Example::

    from easel import Easel

    client = Easel("http://127.0.0.1:7860")
    images = client.generate("a lighthouse at dusk", steps=20, seed=42)
    images[0].save("lighthouse.png")

    job = client.submit("a castle in the clouds", steps=30)
    for event in job.progress():
        print(event.type, event.data.get("step"), event.data.get("total"))
    print(job.result().state)

    for record in client.search("castle model:sd*"):
        print(record["id"], record["prompt"])

Zero configuration (a private ``easel serve`` whose model library chooses for you; see
``easel/zero_config.py``)::

    with Easel.from_comfyui_auto() as easel:     # or Easel.from_paths({"checkpoints": ...})
        images = easel.generate("a girl with pink hair", style="anime", quality="high",
                                num_images=4, seed=42)
        print(easel.last_choice["selection"]["explanation"], easel.get_stats())

Only the standard library (urllib) and Pillow are needed.
"""

from .client import Easel, EaselError, Event, Job, JobInfo

__all__ = ["Easel", "EaselError", "Event", "Job", "JobInfo"]
__version__ = "0.1.0"
