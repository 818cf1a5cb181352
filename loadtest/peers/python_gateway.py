"""The Python baseline for the peer comparison, written as a competent team
would write a webhook receiver to hookgate's contract: verify the GitHub HMAC
over the raw body in constant time, drop an event id already seen
(process-local set), produce with acks=all and idempotence, answer only after
the delivery report.

    BROKERS=… TOPIC=… SECRET=… uvicorn python_gateway:app --port PORT
"""

import asyncio
import hashlib
import hmac
import os

from confluent_kafka import Producer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = os.environ["SECRET"].encode()
TOPIC = os.environ["TOPIC"]
producer = Producer(
    {
        "bootstrap.servers": os.environ["BROKERS"],
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "lz4",
    }
)
seen = set()
app = FastAPI()


async def poll_forever():
    while True:
        producer.poll(0)
        await asyncio.sleep(0.001)


@app.on_event("startup")
async def start_polling():
    asyncio.get_running_loop().create_task(poll_forever())


@app.post("/webhooks/load")
async def receive(request: Request):
    body = await request.body()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected):
        return JSONResponse({"error": "signature does not match"}, status_code=401)
    event_id = request.headers.get("x-github-delivery")
    if not event_id:
        return JSONResponse({"error": "missing X-GitHub-Delivery"}, status_code=400)
    if event_id in seen:
        return {"status": "duplicate", "id": event_id}
    loop = asyncio.get_running_loop()
    acked = loop.create_future()

    def report(err, _msg):
        loop.call_soon_threadsafe(acked.set_result, err)

    try:
        producer.produce(TOPIC, value=body, key=event_id, on_delivery=report)
    except BufferError:
        return JSONResponse({"error": "queue full"}, status_code=503)
    if await acked is not None:
        return JSONResponse({"error": "kafka unavailable"}, status_code=503)
    seen.add(event_id)
    return {"status": "accepted", "id": event_id}
