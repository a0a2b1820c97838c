import { Command, InvalidArgumentError, Option } from "commander";
import type { Logger } from "pino";
import { ConfigReloader } from "./config-reloader.js";
import { startConformanceServer } from "./conformance.js";
import { SwitchyardError } from "./errors.js";
import { guardProcess } from "./internal-errors.js";
import { createLogger, LOG_LEVELS } from "./log.js";
import { checkConfig, loadConfig } from "./mapping/compile.js";
import { formatDiagnostic } from "./mapping/diagnostic.js";
import {
  formatShadowReport,
  isShadowReport,
  printable,
  SHADOW_EXIT,
  shadowExitCode,
} from "./router/shadow/report-table.js";
import { type RunningSwitchyard, startSwitchyard } from "./switchyard.js";
import { VERSION } from "./version.js";

const DEFAULT_CONFIG = "config/switchyard.yaml";

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError("must be an integer from 0 to 65535");
  }
  return port;
}

function parseMilliseconds(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new InvalidArgumentError("must be a positive integer");
  return ms;
}

interface StartFlags {
  readonly config: string;
  readonly port?: number;
  readonly host?: string;
  readonly adminPort?: number;
  readonly logLevel?: string;
  readonly watch: boolean;
}

/**
 * Tells why `start` cannot go on: a coded error in one line `CODE message`, without a
 * stack; anything else logged with its stack.
 */
function startFailed(error: unknown, log: Logger): void {
  if (error instanceof SwitchyardError) process.stderr.write(`${error.code} ${error.message}\n`);
  else log.fatal({ err: error }, "switchyard cannot start");
  process.exitCode = 1;
}

const program = new Command()
  .name("switchyard")
  .description("A Socket.IO sidecar that carries rooms on the backends a YAML mapping names.")
  .version(VERSION, "-V, --version", "print the version");

program
  .command("start")
  .description("Start the bridge")
  .option("-c, --config <file>", "mapping file", DEFAULT_CONFIG)
  .option("-p, --port <port>", "listen on this port instead of server.port", parsePort)
  .option("--host <host>", "listen on this address instead of server.host")
  .option(
    "--admin-port <port>",
    "serve /readyz and /metrics on this port instead of admin.port (needs an admin block)",
    parsePort,
  )
  .addOption(
    new Option("--log-level <level>", "log at this level instead of log.level").choices(LOG_LEVELS),
  )
  .option("--no-watch", "reload on SIGHUP only, not when the file changes")
  .action(async (opts: StartFlags) => {
    const { config, diagnostics } = loadConfig(opts.config);
    for (const diagnostic of diagnostics) process.stderr.write(`${formatDiagnostic(diagnostic)}\n`);
    if (config === undefined) {
      process.exitCode = 1;
      return;
    }
    // Silently ignoring the flag would leave /metrics public while the operator thinks it is not.
    if (opts.adminPort !== undefined && config.admin === undefined) {
      process.stderr.write(`--admin-port needs an admin block in ${opts.config}\n`);
      process.exitCode = 1;
      return;
    }
    const log = createLogger(opts.logLevel ?? config.log.level);
    guardProcess(log);
    // Listening before start resolves: a SIGHUP in that window must reload, not kill.
    let reloader: ConfigReloader | undefined;
    let isReloadAsked = false;
    process.on("SIGHUP", () => {
      if (reloader === undefined) isReloadAsked = true;
      else void reloader.reload("signal");
    });
    let running: RunningSwitchyard;
    try {
      running = await startSwitchyard(config, {
        port: opts.port,
        host: opts.host,
        adminPort: opts.adminPort,
        log,
      });
    } catch (error) {
      startFailed(error, log);
      // What was built before the failure (timers, a Redis connection) must not hold the process.
      process.exit();
    }
    reloader = new ConfigReloader(opts.config, running, { log, watch: opts.watch });
    if (isReloadAsked) void reloader.reload("signal");
    // A backend refused for good (a wrong key) stops the process as it did before listening.
    running.ready.catch((error: unknown) => {
      reloader?.close();
      const exit = (): never => {
        startFailed(error, log);
        process.exit();
      };
      running.close().then(exit, exit);
    });
    // The first SIGTERM or SIGINT drains (docs/scaling.md, "Graceful shutdown") and exits 0;
    // a second one, from an operator who will not wait, exits 1 at once: what the drain had
    // not finished (sessions, publications in flight) is cut.
    let isStopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (isStopping) {
        log.warn({ signal }, "second signal: exiting at once, the drain unfinished");
        process.exit(1);
      }
      isStopping = true;
      log.info(
        { signal, drainTimeout: running.config.server.drainTimeout },
        "shutting down: draining",
      );
      reloader?.close();
      running.drain().then(
        () => {
          log.info("stopped");
          process.exit(0);
        },
        (error: unknown) => {
          log.error({ err: error }, "drain failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });

program
  .command("validate")
  .description("Check a mapping file; exit 0 when valid, 1 otherwise")
  .argument("[file]", "mapping file", DEFAULT_CONFIG)
  .option(
    "--allow-missing-env",
    "report unset environment variables as warnings and check the rest (CI without secrets)",
  )
  .action((file: string, opts: { allowMissingEnv?: boolean }) => {
    const result = checkConfig(file, { allowMissingEnv: opts.allowMissingEnv === true });
    for (const diagnostic of result.diagnostics) {
      process.stderr.write(`${formatDiagnostic(diagnostic)}\n`);
    }
    if (!result.isValid) {
      process.exitCode = 1;
      return;
    }
    const unchecked =
      result.unsetEnv.length === 0
        ? ""
        : `; the values of unset ${result.unsetEnv.join(", ")} were not checked`;
    process.stdout.write(`${file}: valid (${result.namespaces} namespace(s))${unchecked}\n`);
  });

program
  .command("conformance")
  .description("Serve the reference behaviour of the official protocol test suites")
  .option("-p, --port <port>", "port", parsePort, 3000)
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .action(async (opts: { port: number; host: string }) => {
    const server = await startConformanceServer(opts.port, opts.host);
    process.stdout.write(`conformance server on ${opts.host}:${server.port}\n`);
    const stop = (): void => {
      server.close().then(() => process.exit(0));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });

interface ShadowFlags {
  readonly url: string;
  readonly token?: string;
  readonly json?: boolean;
  readonly reset?: boolean;
  readonly timeout: number;
}

const shadow: Command = program
  .command("shadow")
  .description(
    "Print a node's shadow report (GET /api/v1/shadow): exit 0 when every route is ready, " +
      "1 when one is not-ready, 3 when one lacks data, 2 when the API fails",
  )
  .option("--url <url>", "the node's base URL", "http://127.0.0.1:3000")
  .addOption(
    new Option("--token <token>", "the API token (api.token); prefer the variable").env(
      "SWITCHYARD_API_TOKEN",
    ),
  )
  .option("--json", "print the report as the API answered it")
  .option("--reset", "start a new window of evidence first (POST /api/v1/shadow/reset)")
  .option("--timeout <ms>", "give up on the API after this long", parseMilliseconds, 5000)
  .addHelpText(
    "after",
    "\nExit codes: 0 every route ready; 1 a route not-ready; 3 a route with insufficient data\n" +
      "(none not-ready) or no route with traffic; 2 a usage error, or the API unreachable or\n" +
      "answering an error (its status and {code, message} on stderr).",
  )
  // Usage errors exit 2, apart from the verdicts' codes.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : SHADOW_EXIT.failed))
  .action(async (opts: ShadowFlags) => {
    process.exitCode = await shadowCommand(opts);
  });

async function shadowCommand(opts: ShadowFlags): Promise<number> {
  const base = URL.canParse(opts.url) ? new URL(opts.url) : undefined;
  if (base?.protocol !== "http:" && base?.protocol !== "https:") {
    shadow.error(`error: --url must be an http:// or https:// URL, got '${opts.url}'`);
  }
  const token = opts.token;
  if (token === undefined || token === "") {
    shadow.error("error: no API token: set SWITCHYARD_API_TOKEN (or pass --token)");
  }
  const root = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
  const signal = AbortSignal.timeout(opts.timeout);
  const call = (method: "GET" | "POST", path: string) =>
    callApi(method, `${root}${path}`, { token, signal, timeout: opts.timeout });
  if (opts.reset === true) {
    const reset = await call("POST", "/api/v1/shadow/reset");
    if (!reset.ok) return failed(reset.problem);
    // With --json, stdout holds the report alone.
    (opts.json === true ? process.stderr : process.stdout).write(
      `shadow evidence reset on ${root}\n`,
    );
  }
  const answer = await call("GET", "/api/v1/shadow");
  if (!answer.ok) return failed(answer.problem);
  const report = answer.body;
  if (!isShadowReport(report)) {
    return failed(`GET ${root}/api/v1/shadow answered something other than a shadow report`);
  }
  process.stdout.write(
    opts.json === true ? `${JSON.stringify(report)}\n` : formatShadowReport(report, root),
  );
  return shadowExitCode(report);
}

function failed(problem: string): number {
  process.stderr.write(`switchyard shadow: ${problem}\n`);
  return SHADOW_EXIT.failed;
}

/**
 * The JSON body of a 2xx answer to an API call, or what went wrong, in words that
 * never include the token. `signal` ends the call after `timeout` ms.
 */
async function callApi(
  method: "GET" | "POST",
  url: string,
  auth: { token: string; signal: AbortSignal; timeout: number },
): Promise<{ ok: true; body: unknown } | { ok: false; problem: string }> {
  let res: Response;
  let text: string;
  try {
    const headers = { authorization: `Bearer ${auth.token}` };
    res = await fetch(url, { method, headers, signal: auth.signal });
    text = await res.text();
  } catch (error) {
    if (error instanceof Error && error.name === "TimeoutError") {
      return { ok: false, problem: `no answer from ${method} ${url} within ${auth.timeout} ms` };
    }
    // fetch's own message is "fetch failed"; its cause says why (ECONNREFUSED, ENOTFOUND…).
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const why = cause instanceof Error ? cause.message : String(cause);
    return { ok: false, problem: `cannot reach ${method} ${url}: ${why}` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok && body !== undefined) return { ok: true, body };
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  const detail =
    typeof code === "string"
      ? `${code}: ${String(message)}`
      : JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text);
  const hint =
    res.status === 401
      ? " (check --token or SWITCHYARD_API_TOKEN)"
      : res.status === 404
        ? " (does the node's mapping file have an api block?)"
        : "";
  return {
    ok: false,
    problem: `${method} ${url} answered ${res.status} ${printable(detail)}${hint}`,
  };
}

await program.parseAsync();
