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

Only the standard library (urllib) and Pillow are needed.
"""

from .client import Easel, EaselError, Event, Job, JobInfo

__all__ = ["Easel", "EaselError", "Event", "Job", "JobInfo"]
__version__ = "0.1.0"
