// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import {
  connectV2Client,
  createV2Client,
  emitWithAckV2,
  nextV2,
} from "../helpers/sio-client-v2.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const HS_KEY = new TextEncoder().encode(SECRET);

const HS256 = `
namespaces:
  /:
    auth:
      jwt:
        secret: "\${JWT_SECRET}"
        issuer: https://auth.example.com
        audience: switchyard
    join: ["user:{claims.sub}", "lobby"]
    events:
      whoami:
        action: join
        room: "lobby"
        ack: { ok: true, sub: "{claims.sub}", team: "{claims.org.team}" }
      tell:
        action: broadcast
        room: "{data.room}"
        requireMembership: false
        emit: told
  /open: {}
`;

/** A token signed with the HS256 secret; `claims` override the defaults. */
function hs256(claims: Record<string, unknown> = {}, expiresIn: string | number = "5m") {
  return new SignJWT({
    sub: "alice",
    iss: "https://auth.example.com",
    aud: "switchyard",
    org: { team: "red" },
    ...claims,
  })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(HS_KEY);
}

let harness: Harness;
afterEach(async () => {
  await harness.close();
});
// Registered after the harness's hook, so it runs first: clients close before the server.
const cleanup = useCleanup();

/** Connects over WebSocket with `auth` and resolves with the server's connect_error. */
const refusal = (auth: Record<string, unknown> | undefined, nsp = "/") =>
  harness.refusal({ transports: ["websocket"], ...(auth === undefined ? {} : { auth }) }, nsp);

describe("JWT authentication per namespace", () => {
  it("a client with a valid HS256 token connects and its claims appear in an ack template", async () => {
    harness = await Harness.start(HS256, { JWT_SECRET: SECRET });
    const alice = await harness.connect({ auth: { token: await hs256() } });
    expect(await alice.emitWithAck("whoami", {})).toEqual({ ok: true, sub: "alice", team: "red" });
  });

  it("a namespace without auth still accepts clients without a token", async () => {
    harness = await Harness.start(HS256, { JWT_SECRET: SECRET });
    const open = await harness.connect({}, "/open");
    expect(open.connected).toBe(true);
  });

  it("a client without a token is refused with 'Authentication required'", async () => {
    harness = await Harness.start(HS256, { JWT_SECRET: SECRET });
    expect(await refusal(undefined)).toEqual({
      message: "Authentication required",
      data: { code: "SWY_AUTH_REQUIRED" },
    });
    expect(await refusal({ other: "x" })).toEqual({
      message: "Authentication required",
      data: { code: "SWY_AUTH_REQUIRED" },
    });
  });

  it.each([
    ["a malformed token", async () => "not.a.jwt"],
    ["a token that is not a JWT at all", async () => "%%%"],
    ["a token whose header is not JSON", async () => "bm90IGpzb24.e30.c2ln"],
    ["a token that is not a string", async () => 42],
    [
      "a token signed with another secret",
      () =>
        new SignJWT({ sub: "alice" })
          .setProtectedHeader({ alg: "HS256" })
          .setIssuer("https://auth.example.com")
          .setAudience("switchyard")
          .sign(new TextEncoder().encode("another-secret-another-secret-another")),
    ],
    [
      "a token with an algorithm the namespace does not allow",
      async () => {
        const { privateKey } = await generateKeyPair("RS256");
        return new SignJWT({ sub: "alice" })
          .setProtectedHeader({ alg: "RS256" })
          .setIssuer("https://auth.example.com")
          .setAudience("switchyard")
          .sign(privateKey);
      },
    ],
    ["a token from another issuer", () => hs256({ iss: "https://evil.example.com" })],
    ["a token for another audience", () => hs256({ aud: "someone-else" })],
  ])("%s is refused with 'Invalid token'", async (_, token) => {
    harness = await Harness.start(HS256, { JWT_SECRET: SECRET });
    expect(await refusal({ token: await token() })).toEqual({
      message: "Invalid token",
      data: { code: "SWY_AUTH_INVALID" },
    });
  });

  it("an expired token is refused with 'Token expired'", async () => {
    harness = await Harness.start(HS256, { JWT_SECRET: SECRET });
    const expired = await hs256({}, Math.floor(Date.now() / 1000) - 60);
    expect(await refusal({ token: expired })).toEqual({
      message: "Token expired",
      data: { code: "SWY_AUTH_EXPIRED" },
    });
  });

  it("clockTolerance accepts a token that expired within the tolerance", async () => {
    harness = await Harness.start(
      `
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}", clockTolerance: 120 } }
`,
      { JWT_SECRET: SECRET },
    );
    const justExpired = await hs256({}, Math.floor(Date.now() / 1000) - 60);
    const socket = await harness.connect({ auth: { token: justExpired } });
    expect(socket.connected).toBe(true);
  });

  it("an RS256 token verifies with a PEM public key from the environment", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    harness = await Harness.start(
      `
namespaces:
  /:
    auth: { jwt: { publicKey: "\${JWT_PUBLIC_KEY}" } }
    events:
      whoami: { action: join, room: "lobby", ack: { sub: "{claims.sub}" } }
`,
      { JWT_PUBLIC_KEY: await exportSPKI(publicKey) },
    );
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256" })
      .setSubject("carol")
      .setExpirationTime("5m")
      .sign(privateKey);
    const carol = await harness.connect({ auth: { token } });
    expect(await carol.emitWithAck("whoami", {})).toEqual({ sub: "carol" });

    const forged = await new SignJWT({ sub: "carol" })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(await exportSPKI(publicKey)));
    expect(await refusal({ token: forged })).toEqual({
      message: "Invalid token",
      data: { code: "SWY_AUTH_INVALID" },
    });
  });
});

describe("auto-join from claims", () => {
  it("a broadcast to user:alice reaches alice's socket only; both are in the lobby", async () => {
    harness = await Harness.start(HS256, { JWT_SECRET: SECRET });
    const alice = await harness.connect({ auth: { token: await hs256({ sub: "alice" }) } });
    const bob = await harness.connect({ auth: { token: await hs256({ sub: "bob" }) } });
    const sender = await harness.connect({ auth: { token: await hs256({ sub: "carol" }) } });

    const bobReceived: unknown[] = [];
    bob.on("told", (arg: unknown) => bobReceived.push(arg));
    const toAlice = next(alice, "told");
    expect(await sender.emitWithAck("tell", { room: "user:alice" })).toEqual({ ok: true });
    expect(await toAlice).toEqual([{ room: "user:alice" }]);

    // Deliveries reach bob in order: once the lobby one arrives, one to user:alice would have too.
    const lobbyAlice = next(alice, "told");
    const lobbyBob = next(bob, "told");
    await sender.emitWithAck("tell", { room: "lobby" });
    expect(await lobbyAlice).toEqual([{ room: "lobby" }]);
    expect(await lobbyBob).toEqual([{ room: "lobby" }]);
    expect(bobReceived).toEqual([{ room: "lobby" }]);
  });

  it.each([
    ["a missing claim", { sub: "alice" }],
    ["a room longer than maxRoomLength", { sub: "alice", room: "x".repeat(17) }],
  ])(
    "a join template that yields %s refuses the connection with SWY_ROOM_INVALID",
    async (_, claims) => {
      harness = await Harness.start(
        `
server: { limits: { maxRoomLength: 16 } }
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}" } }
    join: ["user:{claims.sub}", "{claims.room}"]
`,
        { JWT_SECRET: SECRET },
      );
      expect(await refusal({ token: await hs256(claims) })).toEqual({
        message: "Room must be a non-empty string of at most 16 characters",
        data: { code: "SWY_ROOM_INVALID" },
      });
    },
  );

  it("join works without auth, from the CONNECT payload", async () => {
    harness = await Harness.start(`
namespaces:
  /:
    join: ["team:{auth.team}"]
    events:
      tell: { action: broadcast, room: "{data.room}", requireMembership: false, emit: told }
`);
    const red = await harness.connect({ auth: { team: "red" } });
    const other = await harness.connect({ auth: { team: "blue" } });
    const told = next(red, "told");
    await other.emitWithAck("tell", { room: "team:red" });
    expect(await told).toEqual([{ room: "team:red" }]);
  });
});

describe("JWT authentication of socket.io 2.x clients", () => {
  const LEGACY = `
server: { allowEIO3: true }
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}" } }
    events:
      whoami: { action: join, room: lobby, ack: "{claims.sub}" }
  /chat:
    auth: { jwt: { secret: "\${JWT_SECRET}" } }
`;

  it("a 2.x client sends its token in the query and its claims reach templates", async () => {
    harness = await Harness.start(LEGACY, { JWT_SECRET: SECRET });
    const token = await hs256({ sub: "dave" });
    const client = await connectV2Client(cleanup, `${harness.url}/?token=${token}`, "websocket");
    expect(await emitWithAckV2(client, "whoami")).toEqual(["dave"]);
  });

  it("a 2.x client without a token gets the refusal's data as an error event", async () => {
    harness = await Harness.start(LEGACY, { JWT_SECRET: SECRET });
    const client = createV2Client(cleanup, `${harness.url}/chat`, "websocket");
    expect(await nextV2(client, "error")).toEqual([{ code: "SWY_AUTH_REQUIRED" }]);
  });
});

describe("JWT token lifetime", () => {
  const LIFETIME = `
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}" } }
    events:
      ping: { action: join, room: lobby, allow: [lobby], ack: "pong" }
  /eternal:
    auth: { jwt: { secret: "\${JWT_SECRET}", allowNoExpiry: true } }
  /fresh:
    auth: { jwt: { secret: "\${JWT_SECRET}", maxTokenAge: 3600 } }
  /strict:
    auth: { jwt: { secret: "\${JWT_SECRET}", disconnectOnExpiry: true } }
    events:
      ping: { action: join, room: lobby, allow: [lobby], ack: "pong" }
`;

  /** An HS256 token with exactly `claims`: no exp or iat unless given. */
  const signed = (claims: Record<string, unknown>) =>
    new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg: "HS256" }).sign(HS_KEY);
  const now = () => Date.now() / 1000;

  it("refuses a token without exp with 'Token has no expiry', unless allowNoExpiry", async () => {
    harness = await Harness.start(LIFETIME, { JWT_SECRET: SECRET });
    const eternal = await signed({});
    expect(await refusal({ token: eternal })).toEqual({
      message: "Token has no expiry",
      data: { code: "SWY_AUTH_EXPIRY_REQUIRED" },
    });
    const client = await harness.connect({ auth: { token: eternal } }, "/eternal");
    expect(client.connected).toBe(true);
  });

  it("refuses under maxTokenAge a token issued too long ago, and one without iat", async () => {
    harness = await Harness.start(LIFETIME, { JWT_SECRET: SECRET });
    const exp = Math.floor(now()) + 600;
    expect(await refusal({ token: await signed({ iat: now() - 7200, exp }) }, "/fresh")).toEqual({
      message: "Token expired",
      data: { code: "SWY_AUTH_EXPIRED" },
    });
    expect(await refusal({ token: await signed({ exp }) }, "/fresh")).toEqual({
      message: "Token has no issue time",
      data: { code: "SWY_AUTH_ISSUED_AT_REQUIRED" },
    });
    const fresh = await signed({ iat: Math.floor(now()) - 60, exp });
    expect((await harness.connect({ auth: { token: fresh } }, "/fresh")).connected).toBe(true);
  });

  it("with disconnectOnExpiry, tells the client why and then disconnects it when exp passes", async () => {
    harness = await Harness.start(LIFETIME, { JWT_SECRET: SECRET });
    const token = await signed({ exp: now() + 0.8 });
    const client = await harness.connect({ auth: { token } }, "/strict");
    const seen: unknown[][] = [];
    client.on("switchyard:disconnect", (...args: unknown[]) => seen.push(["event", ...args]));
    const disconnected = new Promise<void>((resolve) =>
      client.on("disconnect", (reason) => {
        seen.push(["disconnect", reason]);
        resolve();
      }),
    );
    expect(await client.emitWithAck("ping")).toBe("pong");
    await disconnected;
    expect(seen).toEqual([
      ["event", { code: "SWY_AUTH_EXPIRED", message: "Token expired" }],
      ["disconnect", "io server disconnect"],
    ]);
  });

  it("without disconnectOnExpiry, a connection outlives its token", async () => {
    harness = await Harness.start(LIFETIME, { JWT_SECRET: SECRET });
    const token = await signed({ exp: now() + 0.5 });
    const lenient = await harness.connect({ auth: { token } });
    const strict = await harness.connect({ auth: { token } }, "/strict");
    // The same token's expiry ends the strict connection: by then it has passed for both.
    await next(strict, "disconnect");
    expect(await lenient.emitWithAck("ping")).toBe("pong");
  });
});
