#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/k8s without a cluster:
#  1. every core resource against the Kubernetes OpenAPI schemas of one pinned
#     version, strictly (an unknown or misspelt field is an error; so is a kind
#     or apiVersion that version does not have);
#  2. the ConfigMap that kustomization.yaml generates from hookgate.toml, the
#     same way, and the TOML itself;
#  3. kustomization.yaml, the ServiceMonitor and the PrometheusRule (Prometheus
#     Operator CRDs, absent from the core schemas) against small schemas
#     written below;
#  4. the references between them: selectors, port names, the config path,
#     every env:NAME of hookgate.toml set from the Secret and every file:
#     secret a key of a whole Secret volume, the drain timing;
#  5. the files scripts/generate-k8s.py writes: unchanged since (its --check),
#     the PrometheusRule's groups those of deploy/alerts.yml, and the
#     dashboard ConfigMap's hookgate.json grafana/dashboards/hookgate.json;
#  6. hookgate.toml with `hookgate check-config`, when a hookgate binary is at
#     hand: $HOOKGATE_BIN, else target/release or target/debug if built after
#     the last change to the sources, else one on PATH; skipped, and said so,
#     otherwise.
# Exits non-zero on any error. Usage: scripts/validate-k8s.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# kubernetes-validate ships the schemas of Kubernetes 1.25 to 1.37.
KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest Kubernetes these manifests support: preStop `sleep` needs 1.30,
# and 1.31 is the oldest release still maintained by most providers.
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.31.0}
VENV=${HOOKGATE_K8S_VENV:-$HOME/.cache/hookgate/tools/venv-k8s}

installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true
}
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating the virtualenv $VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
fi
if [[ "$(installed_version)" != "$KUBERNETES_VALIDATE_VERSION" ]]; then
    echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

# A binary built before the sources' last change may not know the config's
# keys, or may still accept removed ones: not used.
hookgate_bin=${HOOKGATE_BIN:-}
skipped=""
if [[ -z "$hookgate_bin" ]]; then
    newest_source=$(find src Cargo.toml Cargo.lock -type f -printf '%T@\n' | sort -n | tail -n 1)
    for candidate in target/release/hookgate target/debug/hookgate; do
        [[ -x "$candidate" ]] || continue
        if [[ "$(stat -c %Y "$candidate")" -ge "${newest_source%.*}" ]]; then
            hookgate_bin=$candidate
            break
        fi
        skipped+="$candidate is older than the sources; "
    done
    if [[ -z "$hookgate_bin" ]]; then
        hookgate_bin=$(command -v hookgate || true)
    fi
fi

exec "$VENV/bin/python" - deploy/k8s "$KUBERNETES_VERSION" "$hookgate_bin" "$skipped" <<'PY'
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from kubernetes_validate.version import __version__ as kv_version

root, k8s_version, hookgate_bin, skipped = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
errors = []


def ok(what):
    print(f"  ok    {what}")


def fail(what):
    errors.append(what)
    print(f"  FAIL  {what}")


def check(condition, what, why=""):
    if condition:
        ok(what)
    else:
        fail(f"{what}: {why}" if why else what)
    return condition


class StrictLoader(yaml.SafeLoader):
    """Rejects a key written twice in one mapping, which the API server also refuses."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)

# --- small schemas for what the core schemas do not cover -------------------

DURATION = "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": LABELS, "matchExpressions": {"type": "array"}},
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "labels": LABELS, "annotations": LABELS},
}
# ServiceMonitor (monitoring.coreos.com/v1): the fields of the Prometheus
# Operator's CRD (0.93) at the levels used here, the types of those used.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["endpoints", "selector"],
            "additionalProperties": False,
            "properties": {
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["integer", "string"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                            "honorTimestamps": {"type": "boolean"},
                            **{k: {} for k in (
                                "authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret",
                                "enableHttp2", "filterRunning", "followRedirects", "metricRelabelings",
                                "noProxy", "oauth2", "params", "proxyConnectHeader",
                                "proxyFromEnvironment", "proxyUrl", "relabelings", "tlsConfig",
                                "trackTimestampsStaleness")},
                        },
                    },
                },
                "selector": SELECTOR,
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                **{k: {} for k in (
                    "attachMetadata", "bodySizeLimit", "convertClassicHistogramsToNHCB",
                    "fallbackScrapeProtocol", "keepDroppedTargets", "labelLimit",
                    "labelNameLengthLimit", "labelValueLengthLimit", "nativeHistogramBucketLimit",
                    "nativeHistogramMinBucketFactor", "podTargetLabels", "sampleLimit", "scrapeClass",
                    "scrapeClassicHistograms", "scrapeNativeHistograms", "scrapeProtocols",
                    "selectorMechanism", "serviceDiscoveryRole", "targetLabels", "targetLimit")},
            },
        },
    },
}
# A rule of a PrometheusRule: the CRD's fields (0.93), and what every alert
# of deploy/alerts.yml promises its on-call besides (docs/operations.md:
# Alerts): a severity of page or ticket, and a runbook_url.
RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "properties": {
        "alert": {"type": "string", "minLength": 1},
        "record": {"type": "string", "minLength": 1},
        "expr": {"type": ["string", "integer"], "minLength": 1},
        "for": {"type": "string", "pattern": DURATION},
        "keep_firing_for": {"type": "string", "pattern": DURATION},
        "labels": LABELS,
        "annotations": LABELS,
    },
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "if": {"required": ["alert"]},
    "then": {
        "required": ["labels", "annotations"],
        "properties": {
            "labels": {"required": ["severity"], "properties": {"severity": {"enum": ["page", "ticket"]}}},
            "annotations": {"required": ["runbook_url"]},
        },
    },
}
# PrometheusRule (monitoring.coreos.com/v1): the CRD's fields (0.93), the
# types of those used.
PROMETHEUS_RULE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": DURATION},
                            "rules": {"type": "array", "minItems": 1, "items": RULE},
                            **{k: {} for k in ("labels", "limit", "partial_response_strategy", "query_offset")},
                        },
                    },
                },
            },
        },
    },
}
CUSTOM_RESOURCES = {"ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}
GENERATOR = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"}, "namespace": {"type": "string"},
        "behavior": {"enum": ["create", "replace", "merge"]},
        "files": {"type": "array", "items": {"type": "string"}},
        "literals": {"type": "array", "items": {"type": "string"}},
        "envs": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "string"}, "options": {"type": "object"},
    },
}
# kustomization.yaml: kustomize's top-level fields, the types of those used.
KUSTOMIZATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "resources"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kustomize.config.k8s.io/v1beta1"},
        "kind": {"const": "Kustomization"},
        "namespace": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}},
        "configMapGenerator": {"type": "array", "items": GENERATOR},
        "secretGenerator": {"type": "array", "items": GENERATOR},
        **{k: {} for k in (
            "metadata", "openapi", "namePrefix", "nameSuffix", "commonLabels", "labels",
            "commonAnnotations", "patchesStrategicMerge", "patchesJson6902", "patches", "images",
            "replacements", "replicas", "vars", "sortOptions", "components", "crds", "bases",
            "generatorOptions", "helmGlobals", "helmCharts", "helmChartInflationGenerator",
            "configurations", "generators", "transformers", "validators", "buildMetadata")},
    },
}


def against(schema, document, what):
    found = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document),
                   key=lambda e: list(e.path))
    for error in found:
        fail(f"{what}: {'.'.join(map(str, error.path)) or '(top)'}: {error.message}")
    if not found:
        ok(what)


def core(resource, where):
    what = f"{where}: {resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
    try:
        version = kv.validate(resource, k8s_version, strict=True)
        ok(f"{what} (Kubernetes {version}, strict)")
    except kv.ValidationError as error:
        fail(f"{what}: {'.'.join(map(str, error.path)) or '(top)'}: {error.message}")
    except kv.SchemaNotFoundError as error:
        fail(f"{what}: {error.message}")
    except kv.VersionNotSupportedError as error:
        sys.exit(f"kubernetes-validate {kv_version} has no schemas for Kubernetes {error.version}")


# --- 1-3: every file ---------------------------------------------------------

print(f"kubernetes-validate {kv_version}; Kubernetes {k8s_version} schemas, strict: unknown fields are errors")
print(f"schemas for the files in {root}/")
resources, kustomization = [], None
for path in sorted(root.iterdir()):
    if path.suffix not in (".yaml", ".yml", ".json"):
        continue
    try:
        documents = [d for d in yaml.load_all(path.read_text(), Loader=StrictLoader) if d is not None]
    except yaml.YAMLError as error:
        fail(f"{path}: not valid YAML: {error}")
        continue
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            fail(f"{path}: a document without apiVersion and kind")
        elif document["kind"] == "Kustomization":
            kustomization = document
            against(KUSTOMIZATION, document, f"{path}: Kustomization (schema above)")
        elif document["apiVersion"].startswith("monitoring.coreos.com/"):
            what = (f"{path}: {document['kind']}/{document.get('metadata', {}).get('name')} "
                    "(a CRD: schema above, not the core schemas)")
            if document["kind"] in CUSTOM_RESOURCES:
                against(CUSTOM_RESOURCES[document["kind"]], document, what)
            else:
                fail(f"{what}: no schema here for this kind")
            resources.append((path, document))
        else:
            core(document, path)
            resources.append((path, document))

if kustomization is None:
    fail(f"{root}/kustomization.yaml is missing")
    kustomization = {}
listed = kustomization.get("resources", [])
manifests = sorted(p.name for p in root.iterdir()
                   if p.suffix in (".yaml", ".yml", ".json") and p.name != "kustomization.yaml")
check(sorted(listed) == manifests, "kustomization.yaml lists every manifest, and only those",
      f"listed {sorted(listed)}, present {manifests}")
configs = {}
for generator in kustomization.get("configMapGenerator", []):
    data = {}
    for entry in generator.get("files", []):
        key, _, file = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
        if check((root / file).is_file(), f"configMapGenerator {generator['name']}: {file} exists"):
            data[key] = root / file
    generated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
                 "data": {key: file.read_text() for key, file in data.items()}}
    core(generated, "generated by kustomization.yaml")
    configs[generator["name"]] = data

# --- 4: references between the resources -------------------------------------

print("references between the resources")


def of_kind(kind):
    return [r for _, r in resources if r.get("kind") == kind]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


deployments = of_kind("Deployment")
if not check(len(deployments) == 1, "one Deployment", f"found {len(deployments)}"):
    sys.exit(1)
deployment = deployments[0]
name = deployment["metadata"]["name"]
pod = deployment["spec"]["template"]
pod_labels = pod["metadata"].get("labels", {})
spec = pod["spec"]
container = spec["containers"][0]
ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
check(selects(deployment["spec"]["selector"].get("matchLabels"), pod_labels),
      "the Deployment's selector matches its pod labels")
check("replicas" not in deployment["spec"], "the Deployment leaves replicas to the HPA")
check(spec.get("serviceAccountName", "default") in
      ["default"] + [r["metadata"]["name"] for r in of_kind("ServiceAccount")],
      f"serviceAccountName {spec.get('serviceAccountName')} is defined here")

services = {s["metadata"]["name"]: s for s in of_kind("Service")}
for service in services.values():
    sname = service["metadata"]["name"]
    check(selects(service["spec"].get("selector"), pod_labels),
          f"Service {sname} selects the hookgate pods")
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        check(target in ports or target in ports.values(),
              f"Service {sname} port {port.get('name')} -> container port {target}")

for monitor in of_kind("ServiceMonitor"):
    selected = [s for s in services.values()
                if selects(monitor["spec"]["selector"].get("matchLabels"), s["metadata"].get("labels", {}))]
    if check(len(selected) == 1, f"ServiceMonitor {monitor['metadata']['name']} selects one Service",
             f"it selects {[s['metadata']['name'] for s in selected]}"):
        service_ports = [p.get("name") for p in selected[0]["spec"]["ports"]]
        for endpoint in monitor["spec"]["endpoints"]:
            check(endpoint.get("port") in service_ports,
                  f"ServiceMonitor endpoint port {endpoint.get('port')} is a port of Service "
                  f"{selected[0]['metadata']['name']}", f"its ports are {service_ports}")

for hpa in of_kind("HorizontalPodAutoscaler"):
    ref = hpa["spec"]["scaleTargetRef"]
    check((ref["kind"], ref["name"]) == ("Deployment", name), f"HPA {hpa['metadata']['name']} scales Deployment {name}")
for pdb in of_kind("PodDisruptionBudget"):
    check(selects(pdb["spec"]["selector"].get("matchLabels"), pod_labels),
          f"PodDisruptionBudget {pdb['metadata']['name']} selects the hookgate pods")

for policy in of_kind("NetworkPolicy"):
    pname = policy["metadata"]["name"]
    check(selects(policy["spec"]["podSelector"].get("matchLabels"), pod_labels),
          f"NetworkPolicy {pname} selects the hookgate pods")
    for rule in policy["spec"].get("ingress", []):
        for port in rule.get("ports", []):
            check(port.get("port") in ports or port.get("port") in ports.values(),
                  f"NetworkPolicy {pname} names container port {port.get('port')}")
            # The metrics port's /readyz names Kafka's problems: never open to all.
            if port.get("port") in ("metrics", ports.get("metrics")):
                check(bool(rule.get("from")), f"NetworkPolicy {pname} admits the metrics port from named peers only",
                      "it is open to every pod")

for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    port = container.get(probe, {}).get("httpGet", {}).get("port")
    check(port in ports or port in ports.values(), f"{probe} uses container port {port}")
    # The webhook port's connection limit must not fail a probe under load.
    check(port in ("metrics", ports.get("metrics")), f"{probe} asks the metrics port, outside the connection limit",
          f"it asks {port}")

# The config file: mounted where the command line reads it.
args = container.get("args", []) + container.get("command", [])
config_path = args[args.index("--config") + 1] if "--config" in args else None
config_file = config_text = None
for mount in container.get("volumeMounts", []):
    volume = next((v for v in spec.get("volumes", []) if v["name"] == mount["name"]), {})
    if "configMap" in volume and config_path and config_path.startswith(mount["mountPath"].rstrip("/") + "/"):
        key = config_path[len(mount["mountPath"].rstrip("/")) + 1:]
        config_file = configs.get(volume["configMap"]["name"], {}).get(key)
if check(config_file is not None, f"--config {config_path} is {config_file}, through the generated ConfigMap"):
    config_text = config_file.read_text()

env = {e["name"]: e for e in container.get("env", [])}
if config_text is not None:
    try:
        config = tomllib.loads(config_text)
        ok("hookgate.toml is valid TOML")
    except tomllib.TOMLDecodeError as error:
        fail(f"hookgate.toml is not valid TOML: {error}")
        config = {}
    references = sorted(set(re.findall(r'"env:([A-Za-z_][A-Za-z0-9_]*)"', config_text)))
    for ref in references:
        source = env.get(ref, {}).get("valueFrom", {})
        if source.get("secretKeyRef"):
            secret = source["secretKeyRef"]
            ok(f"env:{ref} of hookgate.toml comes from Secret {secret.get('name')} key {secret.get('key')}")
        elif source.get("fieldRef") and ref == "POD_NAME":
            ok(f"env:{ref} of hookgate.toml is the pod's {source['fieldRef'].get('fieldPath')}")
        else:
            fail(f"env:{ref} of hookgate.toml: the container sets no {ref} from a Secret (secretKeyRef)")
    # file:PATH secrets: each under a whole Secret volume (a subPath mount is
    # never updated, so a rotated Secret would not reach hookgate), each a key
    # the README's `kubectl create secret` makes.
    readme = (root / "README.md").read_text()
    created = set(re.findall(r"--from-file=([A-Za-z0-9_.-]+)=", readme))
    secret_files = sorted(set(re.findall(r'"file:(/[^"]+)"', config_text)))
    for path in secret_files:
        mount = next((m for m in container.get("volumeMounts", [])
                      if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
        volume = next((v for v in spec.get("volumes", []) if mount and v["name"] == mount["name"]), {})
        key = path[len(mount["mountPath"].rstrip("/")) + 1:] if mount else None
        if check("secret" in volume and not mount.get("subPath"),
                 f"file:{path} of hookgate.toml is key {key} of Secret {volume.get('secret', {}).get('secretName')}, mounted whole",
                 "not under a whole Secret volume (no subPath): a rotated Secret would never reach it"):
            check(key in created, f"the README's create command makes key {key}",
                  f"it makes {sorted(created)}")
    for section, port_name in (("server", "http"), ("metrics", "metrics")):
        listen = config.get(section, {}).get("listen", "")
        host, _, port = listen.rpartition(":")
        check(host in ("0.0.0.0", "[::]") and port.isdigit() and int(port) == ports.get(port_name),
              f"[{section}] listen {listen} is on every interface, port {port_name} ({ports.get(port_name)})")
    grace = config.get("server", {}).get("shutdown_grace", "15s")
    grace_s = int(grace[:-1]) if re.fullmatch(r"\d+s", grace) else None
    sleep_s = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    period = spec.get("terminationGracePeriodSeconds", 30)
    # After shutdown_grace hookgate flushes events for up to 5 s, then its
    # dedup stage publishes what its partitions hold for up to 10 s.
    need = sleep_s + (grace_s or 0) + 15
    check(grace_s is not None and period > need,
          f"terminationGracePeriodSeconds {period} > preStop {sleep_s} s + shutdown_grace {grace} + flush and drain 15 s",
          "the pod would be killed before it has drained")
    # Memory: the whole dedup index (~35 B an id), request bodies, producer queue, ~300 MiB besides.
    mib = {"Mi": 1, "Gi": 1024}
    limit = container.get("resources", {}).get("limits", {}).get("memory", "0Mi")
    limit_mib = int(limit[:-2]) * mib[limit[-2:]] if limit[-2:] in mib and limit[:-2].isdigit() else 0
    entries = config.get("dedup", {}).get("max_entries", 10_000_000)
    bodies = config.get("server", {}).get("max_buffered_body_bytes", 256 << 20)
    queue_kib = int(config.get("kafka", {}).get("producer", {}).get("queue.buffering.max.kbytes", 1 << 20))
    need_mib = (entries * 36 + bodies + queue_kib * 1024) // (1 << 20) + 300
    check(limit_mib >= need_mib,
          f"memory limit {limit} >= {need_mib} MiB: {entries} ids x ~35 B + bodies + producer queue + 300 MiB",
          "raise the memory with dedup.max_entries (deployment.yaml)")
else:
    references = []
    secret_files = []

# --- 5: the files generated from others ---------------------------------------

print("files written by scripts/generate-k8s.py")
result = subprocess.run([sys.executable, "scripts/generate-k8s.py", "--check"],
                        capture_output=True, text=True)
check(result.returncode == 0, "scripts/generate-k8s.py --check: they match their sources",
      "; ".join(result.stderr.strip().splitlines()))


def rules_by_name(groups):
    """Each rule of `groups` by (group, alert or record name)."""
    found = {}
    for group in groups or []:
        for rule in group.get("rules") or []:
            found[(group.get("name"), rule.get("alert") or rule.get("record"))] = rule
    return found


alerts_file = root.parent / "alerts.yml"
rules = of_kind("PrometheusRule")
if check(len(rules) == 1, "one PrometheusRule", f"found {len(rules)}"):
    try:
        source = yaml.load(alerts_file.read_text(), Loader=StrictLoader) or {}
    except yaml.YAMLError as error:
        fail(f"{alerts_file}: not valid YAML: {error}")
    else:
        ours, theirs = rules[0].get("spec", {}).get("groups"), source.get("groups")
        mine, wanted = rules_by_name(ours), rules_by_name(theirs)
        differ = sorted(f"{g}/{n}" for g, n in mine.keys() | wanted.keys() if mine.get((g, n)) != wanted.get((g, n)))
        check(ours == theirs,
              f"PrometheusRule {rules[0]['metadata']['name']}: its {len(mine)} rules are those of {alerts_file}",
              f"differ: {', '.join(differ) or 'the groups (order or settings)'}")

dashboard_file = Path("grafana/dashboards/hookgate.json")
dashboards = [r for r in of_kind("ConfigMap") if r["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
if check(len(dashboards) == 1, 'one ConfigMap labelled grafana_dashboard: "1"', f"found {len(dashboards)}"):
    dashboard = dashboards[0]
    dname = dashboard["metadata"]["name"]
    text = dashboard.get("data", {}).get("hookgate.json")
    try:
        json.loads(text)
        ok(f"ConfigMap {dname}: hookgate.json is JSON")
    except (TypeError, json.JSONDecodeError) as error:
        fail(f"ConfigMap {dname}: hookgate.json is not JSON: {error}")
    check(text == dashboard_file.read_text(), f"ConfigMap {dname}: hookgate.json is {dashboard_file}, verbatim")
    # kubectl apply keeps the whole object in an annotation, and the API
    # server refuses more than 256 KiB of annotations.
    size = len(json.dumps(dashboard))
    check(size < 262144, f"ConfigMap {dname}: {size} bytes fit kubectl apply's 256 KiB annotation",
          "too large for `kubectl apply`: apply it with --server-side")

# --- 6: hookgate's own check of the config ------------------------------------

print("hookgate check-config")
if not hookgate_bin:
    print(f"  skip  {skipped}no hookgate binary to use (build one, or set HOOKGATE_BIN): "
          "hookgate.toml not checked by hookgate")
elif config_text is not None:
    # Placeholders for the Secret's values: the check needs them set, never real.
    placeholder = "whsec_" + "dmFsaWRhdGUtazhzLXBsYWNlaG9sZGVyLXNlY3JldA=="
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **{r: placeholder for r in references}}
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        # The Secret's files, written with placeholders where the config reads them.
        checked_text = config_text
        for path in secret_files:
            stand_in = Path(scratch) / path.lstrip("/")
            stand_in.parent.mkdir(parents=True, exist_ok=True)
            stand_in.write_text(placeholder)
            checked_text = checked_text.replace(f'"file:{path}"', f'"file:{stand_in}"')
        checked = Path(scratch) / "hookgate.toml"
        checked.write_text(checked_text)
        result = subprocess.run([hookgate_bin, "check-config", "--config", str(checked)],
                                env=run_env, capture_output=True, text=True)
    if check(result.returncode == 0, f"{hookgate_bin} check-config --config {config_file}",
             (result.stderr or result.stdout).strip()):
        for line in result.stdout.strip().splitlines():
            print(f"        {line}")

print()
if errors:
    print(f"deploy/k8s: {len(errors)} error(s)")
    sys.exit(1)
print("deploy/k8s: every check passed")
PY
