// manifests.test.mjs - deploy/k8s and deploy/Dockerfile, offline: the kustomization renders
// (kubectl kustomize when kubectl is here, else its listed files read one by one), every
// object validates against the Kubernetes and KEDA schemas (kubernetes-models,
// @kubernetes-models/keda), and the deployment's own rules hold.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const K8S = "deploy/k8s";

// ---------------------------------------------------------------------------- rendering

function parseYaml(text, where) {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`${where}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((o) => o !== null);
}

const kustomization = parseYaml(readFileSync(join(K8S, "kustomization.yaml"), "utf8"), "kustomization.yaml")[0];

function hasKubectl() {
  return spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0;
}

// The objects as the cluster would get them. kubectl's kustomize applies the namespace and
// the image; without kubectl the listed files are read as they are and those two
// transformations are applied here, as kustomize documents them.
function render() {
  if (hasKubectl()) {
    const out = execFileSync("kubectl", ["kustomize", K8S], { encoding: "utf8" });
    return { how: "kubectl kustomize", objects: parseYaml(out, "kubectl kustomize") };
  }
  const objects = [];
  for (const f of kustomization.resources) objects.push(...parseYaml(readFileSync(join(K8S, f), "utf8"), f));
  for (const o of objects) {
    if (o.kind !== "Namespace" && kustomization.namespace) o.metadata.namespace = kustomization.namespace;
    for (const c of containersOf(o)) {
      const img = (kustomization.images || []).find((i) => i.name === c.image);
      if (img) c.image = `${img.newName || img.name}:${img.newTag}`;
    }
  }
  return { how: "the listed files (no kubectl here)", objects };
}

function podSpecOf(o) {
  return o.spec && o.spec.template && o.spec.template.spec;
}

function containersOf(o) {
  const p = podSpecOf(o);
  return p ? [...(p.initContainers || []), ...(p.containers || [])] : [];
}

const rendered = render();
console.log(`deploy/k8s rendered with ${rendered.how}: ${rendered.objects.length} objects`);
const objects = rendered.objects;
const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);

// ---------------------------------------------------------------------------- schemas

// The model class of an object: kubernetes-models/<group>/<version>/<Kind>, with the core
// group's "v1" as the bare version, and KEDA's under @kubernetes-models/keda.
async function modelOf(apiVersion, kind) {
  const pkg = apiVersion.startsWith("keda.sh/") ? "@kubernetes-models/keda" : "kubernetes-models";
  const mod = await import(`${pkg}/${apiVersion}/${kind}`);
  return mod[kind];
}

async function validate(o) {
  const Model = await modelOf(o.apiVersion, o.kind);
  new Model(o).validate();
}

test("kustomization.yaml lists exactly the manifest files of deploy/k8s", () => {
  const present = readdirSync(K8S)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .sort();
  assert.deepEqual([...kustomization.resources].sort(), present);
});

test("every rendered object validates against the Kubernetes and KEDA schemas", async () => {
  assert.ok(objects.length > 0);
  for (const o of objects) {
    const what = `${o.kind}/${o.metadata && o.metadata.name}`;
    await assert.doesNotReject(validate(o), what);
  }
});

test("the validators refuse a broken Deployment and a ScaledObject without triggers", async () => {
  // the schema check above means something only if a wrong manifest fails it
  const d = structuredClone(find("Deployment", "migrate-api"));
  d.spec.replicas = "two";
  await assert.rejects(validate(d), /replicas/);
  const d2 = structuredClone(find("Deployment", "migrate-api"));
  delete d2.spec.template.spec.containers[0].name;
  await assert.rejects(validate(d2), /name/);
  const s = structuredClone(find("ScaledObject", "migrate-worker"));
  delete s.spec.triggers;
  await assert.rejects(validate(s), /triggers/);
});

test("every object lands in the migrate namespace", () => {
  for (const o of objects) {
    if (o.kind === "Namespace") assert.equal(o.metadata.name, "migrate");
    else assert.equal(o.metadata.namespace, "migrate", `${o.kind}/${o.metadata.name}`);
  }
});

// ---------------------------------------------------------------------------- the rules

const workloads = objects.filter((o) => podSpecOf(o));

test("every container has resource requests and limits for cpu and memory", () => {
  for (const o of workloads)
    for (const c of containersOf(o)) {
      const r = c.resources || {};
      for (const k of ["requests", "limits"])
        for (const res of ["cpu", "memory"])
          assert.ok(r[k] && r[k][res], `${o.metadata.name}/${c.name} lacks resources.${k}.${res}`);
    }
});

test("every pod runs as non-root without privilege escalation", () => {
  for (const o of workloads) {
    const p = podSpecOf(o);
    assert.equal(p.securityContext && p.securityContext.runAsNonRoot, true, `${o.metadata.name}: runAsNonRoot`);
    for (const c of containersOf(o)) {
      const sc = c.securityContext || {};
      assert.equal(sc.allowPrivilegeEscalation, false, `${o.metadata.name}/${c.name}`);
      assert.deepEqual(sc.capabilities && sc.capabilities.drop, ["ALL"], `${o.metadata.name}/${c.name}`);
    }
  }
});

test("one image runs every migrate program, each picked by its command", () => {
  const images = new Set();
  const commands = [];
  for (const o of workloads)
    for (const c of podSpecOf(o).containers)
      if (c.command && c.command[0].startsWith("migrate-")) {
        images.add(c.image);
        commands.push(c.command[0]);
      }
  assert.equal(images.size, 1);
  assert.deepEqual(commands.sort(), ["migrate-api", "migrate-scheduler", "migrate-worker"]);
});

test("fleet-sim is not deployed: real node agents are", () => {
  for (const o of workloads)
    for (const c of containersOf(o)) assert.ok(!(c.command || []).join(" ").includes("fleet-sim"), o.metadata.name);
});

test("migrate-api listens on 0.0.0.0:8080 with tokens and is probed on /readyz and /healthz", () => {
  const d = find("Deployment", "migrate-api");
  const c = podSpecOf(d).containers[0];
  assert.equal(c.env.find((e) => e.name === "MIG_API_LISTEN").value, "0.0.0.0:8080");
  assert.ok(c.envFrom.some((e) => e.secretRef && e.secretRef.name === "migrate-secrets"));
  assert.equal(c.ports[0].containerPort, 8080);
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  const svc = find("Service", "migrate-api");
  assert.equal(svc.spec.ports[0].port, 8080);
});

test("the scheduler runs two replicas: a leader and a stand-by", () => {
  assert.equal(find("Deployment", "migrate-scheduler").spec.replicas, 2);
});

test("workers scale with KEDA on mig:ready and get 600 s to reach a safe point", () => {
  const d = find("Deployment", "migrate-worker");
  assert.equal(d.spec.replicas, undefined, "KEDA owns the replica count");
  assert.ok(podSpecOf(d).terminationGracePeriodSeconds >= 600);
  const so = find("ScaledObject", "migrate-worker");
  assert.equal(so.spec.scaleTargetRef.name, "migrate-worker");
  const t = so.spec.triggers[0];
  assert.equal(t.type, "redis-sentinel", "the scaler follows the primary through Sentinel");
  assert.equal(t.metadata.sentinelMaster, find("ConfigMap", "migrate-config").data.MIG_REDIS_MASTER);
  assert.equal(t.metadata.listName, "mig:ready");
  assert.ok(Number(t.metadata.listLength) > 0);
  assert.ok(find("TriggerAuthentication", t.authenticationRef.name), "the trigger's authentication exists");
  // the ConfigMap's step timeout is what the grace period must cover
  const cm = find("ConfigMap", "migrate-config");
  assert.ok(Number(cm.data.MIG_STEP_TIMEOUT_MS) <= podSpecOf(d).terminationGracePeriodSeconds * 1000);
});

test("Redis runs three pods of redis-server and sentinel, named in the ConfigMap", () => {
  const ss = find("StatefulSet", "redis");
  assert.equal(ss.spec.replicas, 3);
  assert.deepEqual(podSpecOf(ss).containers.map((c) => c.name).sort(), ["redis", "sentinel"]);
  const cm = find("ConfigMap", "migrate-config");
  assert.equal(cm.data.MIG_REDIS_SENTINELS.split(",").length, 3);
  assert.ok(cm.data.MIG_REDIS_MASTER);
  const secret = find("Secret", "migrate-secrets");
  for (const k of ["MIG_API_TOKENS", "REDIS_PASSWORD"]) assert.ok(secret.stringData[k], k);
});

test("every selector of a Service, PodDisruptionBudget or workload matches pod labels", () => {
  const podLabels = workloads.map((o) => o.spec.template.metadata.labels);
  const matches = (sel) => podLabels.some((l) => Object.entries(sel).every(([k, v]) => l[k] === v));
  for (const o of objects) {
    let sel = null;
    if (o.kind === "Service") sel = o.spec.selector;
    if (o.kind === "PodDisruptionBudget" || podSpecOf(o)) sel = o.spec.selector.matchLabels;
    if (sel) assert.ok(matches(sel), `${o.kind}/${o.metadata.name} selects no pod`);
  }
  const workerPdb = find("PodDisruptionBudget", "migrate-worker");
  assert.ok(workerPdb, "workers have a PodDisruptionBudget");
});

test("every configMapRef, secretRef and secretKeyRef names an object of the kustomization", () => {
  const refs = [];
  for (const o of workloads)
    for (const c of containersOf(o)) {
      for (const e of c.envFrom || []) {
        if (e.configMapRef) refs.push(["ConfigMap", e.configMapRef.name]);
        if (e.secretRef) refs.push(["Secret", e.secretRef.name]);
      }
      for (const e of c.env || [])
        if (e.valueFrom && e.valueFrom.secretKeyRef) {
          const s = find("Secret", e.valueFrom.secretKeyRef.name);
          assert.ok(s && s.stringData[e.valueFrom.secretKeyRef.key], `${e.valueFrom.secretKeyRef.key}`);
        }
    }
  for (const [kind, name] of refs) assert.ok(find(kind, name), `${kind}/${name}`);
});

// ---------------------------------------------------------------------------- Dockerfile

test("the Dockerfile builds on bookworm-slim in two stages and runs as a non-root user", () => {
  const df = readFileSync("deploy/Dockerfile", "utf8");
  const from = [...df.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(from, ["debian:bookworm-slim", "debian:bookworm-slim"]);
  assert.match(df, /^RUN make\b/m);
  const runtime = df.slice(df.lastIndexOf("FROM "));
  for (const lib of ["libhiredis0.14", "libevent-2.1-7", "libevent-pthreads-2.1-7", "libcivetweb1", "libcjson1",
                     "libcurl4", "ca-certificates"])
    assert.ok(runtime.includes(lib), lib);
  assert.ok(!/-dev\b/.test(runtime), "no -dev package in the runtime stage");
  assert.match(runtime, /^COPY --from=build \/src\/bin\/ /m);
  assert.match(runtime, /^COPY api\/web\/ /m);
  assert.match(runtime, /^USER 10001/m);
  assert.ok(!/^ENTRYPOINT/m.test(df), "no ENTRYPOINT: the command picks the program");
  // the uid Kubernetes runs the migrate programs as is the image's user
  for (const o of workloads)
    if (podSpecOf(o).containers.some((c) => (c.command || [""])[0].startsWith("migrate-")))
      assert.equal(podSpecOf(o).securityContext.runAsUser, 10001, o.metadata.name);
});

// ---------------------------------------------------------------------------- network (issue 12, finding 3)

test("Redis and the sentinels take connections only from the programs, each other and KEDA; sentinels need a password", () => {
  const np = find("NetworkPolicy", "redis");
  assert.ok(np, "a NetworkPolicy for Redis");
  assert.deepEqual(np.spec.podSelector.matchLabels, { "app.kubernetes.io/name": "redis" });
  assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
  for (const rule of np.spec.ingress) {
    assert.ok(rule.from && rule.from.length > 0, "every rule names who may connect");
    for (const peer of rule.from) {
      const names = peer.podSelector.matchExpressions ? peer.podSelector.matchExpressions[0].values : null;
      if (names) assert.deepEqual([...names].sort(), ["migrate-api", "migrate-scheduler", "migrate-worker", "redis"]);
      else assert.equal(peer.namespaceSelector.matchLabels["kubernetes.io/metadata.name"], "keda");
    }
    assert.deepEqual(rule.ports.map((p) => p.port).sort(), [26379, 6379]);
  }
  const api = find("NetworkPolicy", "migrate-api");
  assert.ok(api, "a NetworkPolicy for the API");
  assert.deepEqual(api.spec.ingress.flatMap((r) => r.ports.map((p) => p.port)), [8080]);
  const none = find("NetworkPolicy", "migrate-no-ingress");
  assert.ok(none && !none.spec.ingress, "the scheduler and the workers take no connection");
  const scripts = find("ConfigMap", "redis-scripts").data["init.sh"];
  assert.match(scripts, /requirepass \$\{SENTINEL_PASSWORD\}/);
  assert.match(scripts, /sentinel sentinel-pass \$\{SENTINEL_PASSWORD\}/);
  assert.ok(find("Secret", "migrate-secrets").stringData.MIG_REDIS_SENTINEL_PASSWORD);
  const auth = find("TriggerAuthentication", "migrate-redis-auth");
  assert.ok(auth.spec.secretTargetRef.some((r) => r.parameter === "sentinelPassword"));
});
