import { Command, InvalidArgumentError } from "commander";
import { ConfigReloader } from "./config-reloader.js";
import { startConformanceServer } from "./conformance.js";
import { guardProcess } from "./internal-errors.js";
import { createLogger } from "./log.js";
import { loadConfig } from "./mapping/compile.js";
import { formatDiagnostic } from "./mapping/diagnostic.js";
import { startSwitchyard } from "./switchyard.js";

const DEFAULT_CONFIG = "config/switchyard.yaml";

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError("must be an integer from 0 to 65535");
  }
  return port;
}

interface StartFlags {
  readonly config: string;
  readonly port?: number;
  readonly host?: string;
  readonly adminPort?: number;
  readonly watch: boolean;
}

const program = new Command()
  .name("switchyard")
  .description("A Socket.IO sidecar that carries rooms on the backends a YAML mapping names.");

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
    const log = createLogger(config.log.level);
    guardProcess(log);
    // Listening before start resolves: a SIGHUP in that window must reload, not kill.
    let reloader: ConfigReloader | undefined;
    let isReloadAsked = false;
    process.on("SIGHUP", () => {
      if (reloader === undefined) isReloadAsked = true;
      else void reloader.reload("signal");
    });
    const running = await startSwitchyard(config, {
      port: opts.port,
      host: opts.host,
      adminPort: opts.adminPort,
      log,
    });
    reloader = new ConfigReloader(opts.config, running, { log, watch: opts.watch });
    if (isReloadAsked) void reloader.reload("signal");
    const stop = (signal: string): void => {
      log.info({ signal }, "shutting down");
      reloader?.close();
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });

program
  .command("validate")
  .description("Check a mapping file; exit 0 when valid, 1 otherwise")
  .argument("<file>", "mapping file")
  .action((file: string) => {
    const { config, diagnostics } = loadConfig(file);
    for (const diagnostic of diagnostics) process.stderr.write(`${formatDiagnostic(diagnostic)}\n`);
    if (config === undefined) {
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${file}: valid (${config.namespaces.size} namespace(s))\n`);
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

await program.parseAsync();
