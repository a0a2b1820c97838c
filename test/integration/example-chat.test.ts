import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { isFromSwitchyard } from "../helpers/app-signature.js";
import { useCleanup } from "../helpers/cleanup.js";
import { startApp } from "../helpers/http-app.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const YAML = readFileSync(new URL("../../examples/chat/switchyard.yaml", import.meta.url), "utf8");
const SECRET = "chat-example-secret-0123456789abcdef";
const API_TOKEN = "chat-example-api-token-0123456789";
const SIGNING_SECRET = "chat-example-signing-secret-0123456789";

function token(sub: string, name: string): Promise<string> {
  return new SignJWT({ sub, name, aud: "chat" })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(SECRET));
}

type Ack = { ok: boolean; error?: { code: string } } & Record<string, unknown>;

describe("examples/chat: a chat app's real-time layer from the mapping alone", () => {
  const cleanup = useCleanup();

  async function start() {
    // The app acts only on requests signed with the shared secret, as docs/api.md shows.
    const app = await startApp(cleanup, ({ body, raw, headers }) =>
      isFromSwitchyard(headers, raw, SIGNING_SECRET)
        ? { body: { ack: { ok: true, received: (body.args as unknown[])[0] } } }
        : { status: 401 },
    );
    const harness = await Harness.start(YAML, {
      CHAT_JWT_SECRET: SECRET,
      SWITCHYARD_API_TOKEN: API_TOKEN,
      CHAT_APP_URL: new URL(app.url).origin,
      CHAT_SIGNING_SECRET: SIGNING_SECRET,
    });
    cleanup.add(() => harness.close());
    const user = async (sub: string, name: string): Promise<Socket> =>
      harness.connect({ auth: { token: await token(sub, name) }, transports: ["websocket"] });
    return { app, harness, user };
  }

  const emit = (socket: Socket, event: string, data: unknown) =>
    socket.emitWithAck(event, data) as Promise<Ack>;

  it("lets users chat in rooms, see who types, and message each other directly", async () => {
    const { user } = await start();
    const ann = await user("ann", "Ann");
    const bob = await user("bob", "Bob");
    const bobTab2 = await user("bob", "Bob");
    const cy = await user("cy", "Cy");

    expect(await emit(ann, "join", { room: "room:42" })).toEqual({ ok: true, room: "room:42" });
    expect(await emit(bob, "join", { room: "room:42" })).toEqual({ ok: true, room: "room:42" });
    expect(await emit(ann, "join", { room: "admin:1" })).toMatchObject({
      ok: false,
      error: { code: "SWY_ROOM_NOT_ALLOWED" },
    });

    const typing = next(bob, "typing");
    ann.emit("typing", { room: "room:42" });
    expect(await typing).toEqual([{ room: "room:42", from: "ann" }]);

    const said = next(bob, "message");
    expect(await emit(ann, "message", { room: "room:42", text: "hi" })).toEqual({ ok: true });
    expect(await said).toEqual([{ room: "room:42", from: "ann", name: "Ann", text: "hi" }]);
    // cy never joined room:42, so cannot speak there.
    expect(await emit(cy, "message", { room: "room:42", text: "?" })).toMatchObject({
      ok: false,
      error: { code: "SWY_ROOM_NOT_MEMBER" },
    });

    // A DM reaches every connection of the user, and nobody else.
    const dms = [next(bob, "dm"), next(bobTab2, "dm")];
    let cyGotDm = false;
    cy.on("dm", () => {
      cyGotDm = true;
    });
    expect(await emit(ann, "dm", { to: "bob", text: "psst" })).toEqual({ ok: true, to: "bob" });
    for (const dm of await Promise.all(dms)) {
      expect(dm).toEqual([{ from: "ann", name: "Ann", text: "psst" }]);
    }
    // cy is in lobby with ann: a lobby message sent after the DM arrives after it would have.
    const lobby = next(cy, "message");
    expect(await emit(ann, "message", { room: "lobby", text: "all" })).toEqual({ ok: true });
    expect(await lobby).toEqual([{ room: "lobby", from: "ann", name: "Ann", text: "all" }]);
    expect(cyGotDm).toBe(false);
  });

  it("forwards reports to the app and lets the app announce through the API", async () => {
    const { app, harness, user } = await start();
    const ann = await user("ann", "Ann");
    const bob = await user("bob", "Bob");

    expect(await emit(ann, "report", { messageId: "m1", reason: "spam" })).toEqual({
      ok: true,
      received: { messageId: "m1", reason: "spam" },
    });
    expect(app.received[0]?.body).toMatchObject({
      event: "report",
      claims: { sub: "ann", name: "Ann" },
    });

    const announced = next(bob, "announcement");
    const res = await fetch(`${harness.url}/api/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({
        room: "lobby",
        event: "announcement",
        args: ["maintenance at 18:00"],
      }),
    });
    expect(res.status).toBe(202);
    expect(await announced).toEqual(["maintenance at 18:00"]);
  });

  it("refuses connections without a valid token", async () => {
    const { harness } = await start();
    expect((await harness.refusal({ transports: ["websocket"] })).data).toEqual({
      code: "SWY_AUTH_REQUIRED",
    });
  });
});
