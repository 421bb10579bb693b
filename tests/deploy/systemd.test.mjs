// systemd.test.mjs - deploy/systemd: the units pass `systemd-analyze verify` without a
// warning (when systemd-analyze is here; skipped with a note otherwise), and each has
// the settings docs/OPERATIONS.md promises: the control plane's three programs and the
// node agent (migrate-agent.service) installed on every hosting node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const DIR = "deploy/systemd";
const UNITS = ["migrate-api.service", "migrate-scheduler.service", "migrate-worker@.service", "migrate-agent.service",
  "migrate-router.service"];
// The agent's node holds no control-plane settings: its own file, with the tokens the agents share.
const ENV_FILE = { "migrate-agent.service": "/etc/migrate/agent.env", "migrate-router.service": "/etc/migrate/router.env" };

// The unit's settings as { "Section.Key": [values] }.
function parseUnit(text) {
  const out = {};
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const s = line.match(/^\[(.+)\]$/);
    if (s) {
      section = s[1];
      continue;
    }
    const eq = line.indexOf("=");
    const key = `${section}.${line.slice(0, eq)}`;
    (out[key] = out[key] || []).push(line.slice(eq + 1));
  }
  return out;
}

const units = Object.fromEntries(UNITS.map((u) => [u, parseUnit(readFileSync(join(DIR, u), "utf8"))]));
const one = (u, key) => {
  const v = units[u][key];
  assert.ok(v, `${u}: ${key} is missing`);
  return v[v.length - 1];
};
const seconds = (v) => Number(v.replace(/s$/, "")) * (v.endsWith("min") ? 60 : 1);

const analyze = spawnSync("systemd-analyze", ["--version"], { stdio: "ignore" }).status === 0;

test("systemd-analyze verify passes every unit without a warning", { skip: !analyze && "systemd-analyze is not installed here" }, () => {
  // verify wants the ExecStart programs to exist: a copy of each unit runs stubs in a temp
  // folder instead of /usr/local/bin; the template is verified as an instance
  const tmp = mkdtempSync(join(tmpdir(), "units-"));
  try {
    const files = [];
    for (const u of UNITS) {
      const prog = one(u, "Service.ExecStart").split(" ")[0];
      const stub = join(tmp, prog.split("/").pop());
      writeFileSync(stub, "#!/bin/sh\n");
      chmodSync(stub, 0o755);
      const text = readFileSync(join(DIR, u), "utf8").replaceAll(prog, stub);
      const name = join(tmp, u.replace("@.", "@1."));
      writeFileSync(name, text);
      files.push(name);
    }
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", ...files], { encoding: "utf8" });
    const complaints = `${r.stdout}${r.stderr}`.trim();
    assert.equal(r.status, 0, complaints);
    assert.equal(complaints, "", "systemd-analyze warned");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

if (!analyze) console.log("note: systemd-analyze is absent, so the units were only checked statically");

test("every unit reads its environment file (the agent its own), runs unprivileged and restarts on failure", () => {
  for (const u of UNITS) {
    assert.equal(one(u, "Service.EnvironmentFile"), ENV_FILE[u] || "/etc/migrate/env", u);
    assert.ok(units[u]["Service.DynamicUser"]?.at(-1) === "yes" || units[u]["Service.User"], `${u}: DynamicUser or User`);
    assert.equal(one(u, "Service.Restart"), "on-failure", u);
    assert.equal(one(u, "Service.KillSignal"), "SIGTERM", u);
    assert.match(one(u, "Service.ExecStart"), /^\/usr\/local\/bin\/migrate-(api|scheduler|worker|agent|router)$/, u);
    assert.equal(one(u, "Install.WantedBy"), "multi-user.target", u);
  }
});

test("every unit is hardened", () => {
  const want = {
    "Service.NoNewPrivileges": "yes",
    "Service.ProtectSystem": "strict",
    "Service.ProtectHome": "yes",
    "Service.PrivateTmp": "yes",
    "Service.PrivateDevices": "yes",
    "Service.ProtectKernelTunables": "yes",
    "Service.ProtectControlGroups": "yes",
    "Service.RestrictSUIDSGID": "yes",
    "Service.CapabilityBoundingSet": "",
  };
  for (const u of UNITS) for (const [k, v] of Object.entries(want)) assert.equal(one(u, k), v, `${u}: ${k}`);
});

test("the worker waits for its safe point: TimeoutStopSec covers MIG_STEP_TIMEOUT_MS", () => {
  const env = readFileSync(join(DIR, "env.example"), "utf8");
  const step = Number(env.match(/^MIG_STEP_TIMEOUT_MS=(\d+)$/m)[1]);
  const stop = seconds(one("migrate-worker@.service", "Service.TimeoutStopSec"));
  assert.ok(stop * 1000 >= step, `TimeoutStopSec ${stop} s < MIG_STEP_TIMEOUT_MS ${step} ms`);
  assert.match(one("migrate-worker@.service", "Service.Environment"), /^MIG_WORKER_ID=.*%i/);
});

test("the agent's servers outlive its restarts, and its state lives where it may write", () => {
  const u = "migrate-agent.service";
  // only the agent's process is signalled: the servers run in their own process groups and
  // a restarted agent adopts them (docs/OPERATIONS.md)
  assert.equal(one(u, "Service.KillMode"), "process");
  // a fixed user, not DynamicUser: the servers' files and the agent's state outlive the unit
  assert.equal(one(u, "Service.User"), "minecraft");
  assert.equal(units[u]["Service.DynamicUser"], undefined);
  // ProtectSystem=strict leaves only the StateDirectory writable: MIG_AGENT_DIR must be it
  const dir = `/var/lib/${one(u, "Service.StateDirectory")}`;
  assert.ok(units[u]["Service.Environment"].includes(`MIG_AGENT_DIR=${dir}`), `MIG_AGENT_DIR is not ${dir}`);
  // the agents copy worlds over TCP and talk to their servers on loopback
  assert.match(one(u, "Service.RestrictAddressFamilies"), /AF_INET\b/);
  // a world sync holds a file per region file open at once
  assert.ok(Number(one(u, "Service.LimitNOFILE")) >= 65536);
});

test("the router keeps its fencing table where it may write, and has descriptors for its players", () => {
  const u = "migrate-router.service";
  // ProtectSystem=strict leaves only the StateDirectory writable: the state file must be in it
  const dir = `/var/lib/${one(u, "Service.StateDirectory")}`;
  assert.match(one(u, "Service.Environment"), new RegExp(`^MIG_ROUTER_STATE_FILE=${dir}/`));
  assert.ok(Number(one(u, "Service.LimitNOFILE")) >= 65536);
  assert.match(one(u, "Service.RestrictAddressFamilies"), /AF_INET6?\b/);
});
