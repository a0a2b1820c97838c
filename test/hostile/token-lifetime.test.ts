import { SignJWT } from "jose";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const SECRET = "token-lifetime-secret-0123456789abcdef";

const CONFIG = `
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}", maxTokenAge: 3600, disconnectOnExpiry: true } }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: said
        args: ["{data.text}"]
`;

const now = () => Date.now() / 1000;

/** A token for `sub` issued now, with exactly the lifetime claims given. */
function token(sub: string, claims: { exp?: number; iat?: number }): Promise<string> {
  return new SignJWT({ sub, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(SECRET));
}

describe("a stolen or long-lived token against token lifetime limits", () => {
  const cleanup = useCleanup();
  let harness: Harness;

  async function start(): Promise<void> {
    harness = await Harness.start(CONFIG, { JWT_SECRET: SECRET });
    cleanup.add(() => harness.close());
  }

  /** A member of room:1 with a token valid for the next five minutes. */
  async function bystander(): Promise<Socket> {
    const socket = await harness.connect({
      auth: { token: await token("bob", { iat: Math.floor(now()), exp: now() + 300 }) },
    });
    expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    return socket;
  }

  async function expiredCount(): Promise<number> {
    const text = await (await fetch(`${harness.url}/metrics`)).text();
    const line = /^switchyard_errors_total\{code="SWY_AUTH_EXPIRED"\} (\d+)$/m.exec(text);
    return Number(line?.[1] ?? 0);
  }

  it("a connection does not outlive its token, and a bystander with a valid token stays", async () => {
    await start();
    const bob = await bystander();
    const before = await expiredCount();
    const claims = { iat: Math.floor(now()), exp: now() + 0.8 };
    const attacker = await harness.connect({ auth: { token: await token("mallory", claims) } });
    const told = next(attacker, "switchyard:disconnect");
    const gone = next(attacker, "disconnect");
    expect(await attacker.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });

    expect(await told).toEqual([{ code: "SWY_AUTH_EXPIRED", message: "Token expired" }]);
    expect(await gone).toEqual(["io server disconnect", undefined]);
    expect(await expiredCount()).toBe(before + 1);

    // Bob is still in room:1 and hears a new member; the attacker's token opens nothing more.
    const carol = await bystander();
    const heard = next(bob, "said");
    expect(await carol.emitWithAck("say", { room: "room:1", text: "still here" })).toEqual({
      ok: true,
    });
    expect(await heard).toEqual(["still here"]);
    expect(bob.connected).toBe(true);
    expect(await harness.refusal({ auth: { token: await token("mallory", claims) } })).toEqual({
      message: "Token expired",
      data: { code: "SWY_AUTH_EXPIRED" },
    });
  });

  it("a token that never expires, or was issued long ago, is refused at connect", async () => {
    await start();
    const bob = await bystander();
    const eternal = await token("mallory", { iat: Math.floor(now()) });
    expect(await harness.refusal({ auth: { token: eternal } })).toEqual({
      message: "Token has no expiry",
      data: { code: "SWY_AUTH_EXPIRY_REQUIRED" },
    });
    const old = await token("mallory", { iat: Math.floor(now()) - 86_400, exp: now() + 86_400 });
    expect(await harness.refusal({ auth: { token: old } })).toEqual({
      message: "Token expired",
      data: { code: "SWY_AUTH_EXPIRED" },
    });
    const noIat = await token("mallory", { exp: now() + 300 });
    expect(await harness.refusal({ auth: { token: noIat } })).toEqual({
      message: "Token has no issue time",
      data: { code: "SWY_AUTH_ISSUED_AT_REQUIRED" },
    });
    const heard = next(bob, "said");
    const carol = await bystander();
    await carol.emitWithAck("say", { room: "room:1", text: "unaffected" });
    expect(await heard).toEqual(["unaffected"]);
  });
});
