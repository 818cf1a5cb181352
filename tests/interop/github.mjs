// Signs and verifies GitHub deliveries with @octokit/webhooks-methods, for
// hookgate's interop test (tests/it/interop.rs).
//
//   node github.mjs sign SECRET < payload                -> {"headers": {...}}
//   node github.mjs verify SECRET < delivery.json        -> exit 0 if accepted
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// The package lives where scripts/setup.sh installed it, not beside this file.
const modules = process.env.HOOKGATE_NODE_MODULES;
const { sign, verify } = await import(
  pathToFileURL(join(modules, "@octokit/webhooks-methods/dist-node/index.js")).href
);

const [command, secret] = process.argv.slice(2);
let input = "";
for await (const chunk of process.stdin) input += chunk;

if (command === "sign") {
  const signature = await sign(secret, input);
  process.stdout.write(JSON.stringify({ headers: { "X-Hub-Signature-256": signature }, query: null }));
} else if (command === "verify") {
  const delivery = JSON.parse(input);
  const headers = Object.fromEntries(
    Object.entries(delivery.headers).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const ok = await verify(secret, delivery.body, headers["x-hub-signature-256"]).catch(() => false);
  process.exit(ok ? 0 : 1);
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
