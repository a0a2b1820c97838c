import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * `switchyard start` as a child process of its own (the build in dist/ must exist:
 * `npm install` makes it), on 127.0.0.1 and a free port. Resolves once it logs that
 * its backends have started (it logs where it listens, then that, at every log level).
 */
export class SwitchyardProcess {
  readonly port: number;
  readonly #child: ChildProcess;
  #output = "";
  readonly #exited: Promise<number | null>;

  private constructor(child: ChildProcess, port: number, output: string) {
    this.#child = child;
    this.port = port;
    this.#output = output;
    child.stdout?.on("data", (chunk: Buffer) => {
      this.#output += chunk.toString();
    });
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
  }

  static start(config: string, env: Record<string, string> = {}): Promise<SwitchyardProcess> {
    const child = spawn(
      process.execPath,
      [
        "bin/switchyard.js",
        "start",
        "--config",
        config,
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--no-watch",
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    return new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      // A process that never says where it listens is killed, not left behind.
      const deadline = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`switchyard did not log its start within 10 s: ${err}${out}`));
      }, 10_000);
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        const match = /"port":(\d+)/.exec(out);
        if (match === null || !out.includes('"msg":"backends started"')) return;
        clearTimeout(deadline);
        child.stdout!.off("data", onData);
        resolve(new SwitchyardProcess(child, Number(match[1]), out));
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString();
      });
      child.once("exit", (code) =>
        reject(new Error(`switchyard exited with ${code}: ${err}${out}`)),
      );
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Everything it logged on stdout so far (JSON lines). */
  get output(): string {
    return this.#output;
  }

  /** Kills it at once (SIGKILL), as a crash would; resolves when it is gone. */
  async kill(): Promise<void> {
    this.#child.kill("SIGKILL");
    await this.#exited;
  }

  /** Stops it gracefully (SIGTERM) and resolves with its exit code. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null) this.#child.kill("SIGTERM");
    return this.#exited;
  }
}
