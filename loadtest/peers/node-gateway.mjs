// The Node.js baseline for the peer comparison, written as a competent team
// would write a webhook receiver to hookgate's contract: verify the GitHub
// HMAC over the raw body in constant time, drop an event id already seen
// (process-local set), produce with acks=all, answer only after the ack.
//
//   PORT=… BROKERS=… TOPIC=… SECRET=… node node-gateway.mjs
// Modules come from $HOOKGATE_NODE_MODULES (installed by loadtest/peers.sh).
import { createHmac, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.env.HOOKGATE_NODE_MODULES;
const load = (name, file) => import(pathToFileURL(join(modules, name, file)).href);
const { default: Fastify } = await load("fastify", "fastify.js");
const { Kafka, logLevel } = await load("kafkajs", "index.js");

const secret = process.env.SECRET;
const topic = process.env.TOPIC;
// kafkajs cannot run its idempotent producer against tansu (InitProducerId v0/v1
// only); one request in flight per connection keeps ordering instead.
const kafka = new Kafka({ brokers: process.env.BROKERS.split(","), logLevel: logLevel.NOTHING });
const producer = kafka.producer({ idempotent: false, maxInFlightRequests: 1 });
await producer.connect();

const seen = new Set();
const app = Fastify({ logger: false });
// Signatures are over the exact bytes: take every body raw, JSON included.
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

app.post("/webhooks/load", async (request, reply) => {
  const body = request.body;
  const header = request.headers["x-hub-signature-256"] ?? "";
  const expected = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  const a = Buffer.from(header);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    return reply.code(401).send({ error: "signature does not match" });
  }
  const id = request.headers["x-github-delivery"];
  if (!id) return reply.code(400).send({ error: "missing X-GitHub-Delivery" });
  if (seen.has(id)) return { status: "duplicate", id };
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: id, value: body }] });
  } catch {
    return reply.code(503).send({ error: "kafka unavailable" });
  }
  seen.add(id);
  return { status: "accepted", id };
});

await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT) });
