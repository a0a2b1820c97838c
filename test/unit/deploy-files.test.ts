/**
 * The deployment files of deploy/ (docs/operations.md) against the code: the port,
 * the Engine.IO path and the heartbeat they assume are Switchyard's defaults, their
 * probes are paths a running Switchyard answers, their stop timeouts leave room for a
 * drain, and the mapping file they ship validates.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import { DEFAULTS } from "../../src/mapping/schema.js";
import { DRAIN_FLUSH_LIMIT_MS } from "../../src/switchyard.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const read = (file: string) => readFileSync(join(root, "deploy", file), "utf8");

const { port, path, drainTimeout } = DEFAULTS.server;
const heartbeatMs = DEFAULTS.server.heartbeat.interval + DEFAULTS.server.heartbeat.timeout;
/** How long a drain can take: the sessions' spread, then the flush. */
const drainMs = drainTimeout + DRAIN_FLUSH_LIMIT_MS;

/** `30s`, `1h`, `60` (seconds) as milliseconds. */
function ms(text: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

/** The value of `key` in a `key value` (nginx, HAProxy) or `Key=value` (systemd) line. */
function directive(text: string, key: string, separator = " "): string {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith(`${key}${separator}`));
  if (line === undefined) throw new Error(`no ${key}`);
  return line
    .slice(key.length + separator.length)
    .replace(/;$/, "")
    .trim();
}

/** What the test reads of deploy/kubernetes/switchyard.yaml's three manifests. */
interface Manifests {
  ConfigMap: { data: Record<string, string> };
  Deployment: {
    spec: {
      template: {
        spec: {
          terminationGracePeriodSeconds: number;
          containers: {
            ports: unknown[];
            readinessProbe: { httpGet: unknown };
            livenessProbe: { httpGet: unknown };
            lifecycle: { preStop: { exec: { command: string[] } } };
          }[];
        };
      };
    };
  };
  Service: { spec: { ports: { targetPort: string }[]; sessionAffinity?: string } };
}

/** The lines that are not `#` comments. */
const uncommented = (text: string) =>
  text
    .split("\n")
    .filter((line) => !line.trim().startsWith("#"))
    .join("\n");

describe("deploy/", () => {
  const cleanup = useCleanup();

  it("probes paths a running Switchyard answers: /healthz 200 and /readyz 200 when ready", async () => {
    const harness = await Harness.start("namespaces: { /: {} }\n");
    cleanup.add(() => harness.close());
    for (const probe of ["/healthz", "/readyz"]) {
      expect((await fetch(`${harness.url}${probe}`)).status, probe).toBe(200);
    }
  });

  it("systemd: runs `start`, reloads on SIGHUP, and waits longer than a drain before SIGKILL", () => {
    const unit = read("systemd/switchyard.service");
    expect(directive(unit, "ExecStart", "=")).toMatch(/\/bin\/switchyard\.js start /);
    expect(directive(unit, "ExecReload", "=")).toContain("-HUP");
    expect(directive(unit, "KillSignal", "=")).toBe("SIGTERM");
    expect(ms(directive(unit, "TimeoutStopSec", "="))).toBeGreaterThan(drainMs);
  });

  it("Kubernetes: the shipped mapping validates, and ports, probes and grace period fit it", () => {
    const docs = parseAllDocuments(read("kubernetes/switchyard.yaml")).map(
      (doc) => doc.toJS() as { kind: string },
    );
    const byKind = Object.fromEntries(docs.map((doc) => [doc.kind, doc])) as unknown as Manifests;
    const text = byKind.ConfigMap.data["switchyard.yaml"]!;
    const env = {
      REDIS_URL: "redis://redis:6379",
      POD_IP: "10.1.2.3",
      SWITCHYARD_API_TOKEN: "t".repeat(32),
    };
    const { config, diagnostics } = loadConfigFromString(text, "configmap.yaml", env);
    expect(diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(config!.server.port).toBe(port);
    expect(config!.server.path).toBe(path);
    expect(config!.cluster?.advertise).toBe("http://10.1.2.3:3000");

    const pod = byKind.Deployment.spec.template.spec;
    const container = pod.containers[0]!;
    expect(container.ports).toEqual([{ name: "http", containerPort: config!.server.port }]);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      config!.server.drainTimeout + DRAIN_FLUSH_LIMIT_MS,
    );
    expect(container.lifecycle.preStop.exec.command.join(" ")).toContain("kill -TERM 1");
    const service = byKind.Service.spec;
    expect(service.ports[0]!.targetPort).toBe("http");
    expect(service.sessionAffinity).toBeUndefined();
  });

  it("Dockerfile: copies files that exist and exposes the default port", () => {
    const dockerfile = read("Dockerfile");
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      m[1]!.split(" "),
    );
    expect(copies.length).toBeGreaterThan(5);
    for (const source of copies) expect(existsSync(join(root, source)), source).toBe(true);
    expect(directive(dockerfile, "EXPOSE")).toBe(String(port));
    expect(dockerfile).toContain('ENTRYPOINT ["node", "bin/switchyard.js"]');
  });

  it("nginx: proxies the Engine.IO path with upgrades, and outwaits a heartbeat", () => {
    const conf = read("nginx/switchyard.conf");
    expect(conf).toContain(`location ${path} {`);
    expect(directive(conf, "proxy_http_version")).toBe("1.1");
    expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(ms(directive(conf, "proxy_read_timeout"))).toBeGreaterThan(heartbeatMs);
    expect(uncommented(conf)).not.toMatch(/ip_hash|sticky/);
    for (const [, p] of conf.matchAll(/server \S+:(\d+);/g)) expect(Number(p)).toBe(port);
  });

  it("HAProxy: checks /readyz, keeps WebSockets open, outwaits a heartbeat, no stickiness", () => {
    const cfg = read("haproxy/switchyard.cfg");
    expect(directive(cfg, "option httpchk")).toBe("GET /readyz");
    expect(ms(directive(cfg, "timeout tunnel"))).toBeGreaterThan(heartbeatMs);
    expect(ms(directive(cfg, "timeout server"))).toBeGreaterThan(heartbeatMs);
    expect(ms(directive(cfg, "timeout client"))).toBeGreaterThan(heartbeatMs);
    expect(uncommented(cfg)).not.toMatch(/\bstick\b|\bcookie\b/);
    for (const [, p] of cfg.matchAll(/server \S+ \S+:(\d+) check/g)) expect(Number(p)).toBe(port);
  });
});
