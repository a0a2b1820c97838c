import type { Logger } from "pino";
import { DEFAULT_MAX_DEPTH } from "../json-depth.js";
import type { Backend, BackendCapabilities } from "./backend.js";
import type { ChannelNaming } from "./channel-naming.js";

/** The server's limits a backend enforces on what passes through it (docs/security.md). */
export interface BackendLimits {
  /** How deep inbound data may nest; deeper messages are dropped and counted. */
  readonly maxDepth: number;
  /** Publications of one sender (Publication.origin) a backend's queue may hold. */
  readonly maxPublishesPerSocket: number;
}

/** What a backend factory may use; handed over by the composition root. */
export interface BackendDeps {
  readonly log: Logger;
  /** Absent (tests that build a backend alone): {@link DEFAULT_BACKEND_LIMITS}. */
  readonly limits?: BackendLimits;
}

/** The limits of a backend built without the server's: the configuration's defaults. */
export const DEFAULT_BACKEND_LIMITS: BackendLimits = Object.freeze({
  maxDepth: DEFAULT_MAX_DEPTH,
  maxPublishesPerSocket: 64,
});

/**
 * One backend kind: its name, the JSON Schema of its settings (checked when the
 * configuration is loaded), how it names channels, and how to build an instance
 * from valid settings.
 */
export interface BackendFactory<Settings = unknown> {
  readonly kind: string;
  /** JSON Schema (draft-07) of the `settings` block of this kind. */
  readonly settingsSchema: Readonly<Record<string, unknown>>;
  /**
   * The kind's channel-name rules; routes to it must then give a `channel` template,
   * checked against these rules at load. Absent: the kind carries rooms by their own
   * names and receives the channel `<namespace>\0<room>` (see {@link roomChannel}).
   */
  readonly channelNaming?: ChannelNaming;
  /**
   * What the schema cannot check in settings it accepted (templates, expressions, how
   * settings agree with one another): each problem at a path below `settings`, for a
   * diagnostic at its place in the file. None when absent.
   */
  checkSettings?(settings: Settings): readonly SettingsProblem[];
  /**
   * Why a backend with these (valid) settings cannot be a route's shadow: its service
   * would not send this node's own publications back to it even when asked
   * (Publication.readBack), so the comparator could not see them. None when absent.
   */
  shadowProblem?(settings: Settings): string | undefined;
  /** What every backend of the kind can do beyond publish and subscribe; none when absent. */
  readonly capabilities?: BackendCapabilities;
  create(name: string, settings: Settings, deps: BackendDeps): Backend;
}

/** A problem {@link BackendFactory.checkSettings} found. */
export interface SettingsProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Thrown for a kind nobody registered; the message lists the known kinds. */
export class UnknownBackendKindError extends Error {
  override readonly name = "UnknownBackendKindError";
  readonly kind: string;
  readonly known: readonly string[];

  constructor(kind: string, known: readonly string[]) {
    super(`Unknown backend kind '${kind}' (known kinds: ${known.join(", ")})`);
    this.kind = kind;
    this.known = known;
  }
}

/** Kind → factory. Registering a kind twice is a programming error and throws. */
export class BackendRegistry {
  readonly #factories = new Map<string, BackendFactory>();

  register(factory: BackendFactory): this {
    if (this.#factories.has(factory.kind)) {
      throw new Error(`Backend kind '${factory.kind}' is already registered`);
    }
    this.#factories.set(factory.kind, factory);
    return this;
  }

  /** The factory of `kind`; throws {@link UnknownBackendKindError} when there is none. */
  get(kind: string): BackendFactory {
    const factory = this.#factories.get(kind);
    if (factory === undefined) throw new UnknownBackendKindError(kind, this.kinds());
    return factory;
  }

  /** Registered kinds, sorted. */
  kinds(): string[] {
    return [...this.#factories.keys()].sort();
  }
}

/**
 * The channel of a room on a kind without channel naming: the namespace, NUL, the
 * room. Namespace names never hold NUL, so no room passes for another namespace's.
 */
export function roomChannel(nsp: string, room: string): string {
  return `${nsp}\u0000${room}`;
}

/** The namespace and room of a {@link roomChannel}; `undefined` for any other channel. */
export function parseRoomChannel(channel: string): { nsp: string; room: string } | undefined {
  const cut = channel.indexOf("\u0000");
  if (cut < 0) return undefined;
  return { nsp: channel.slice(0, cut), room: channel.slice(cut + 1) };
}
