/**
 * Vector: for socket.io 2.x clients `socket.id` on `/` was the Engine.IO session id;
 * the documented template `{from: "{socket.id}"}` handed it to every member, and a
 * member used it to upgrade the victim's polling session to a WebSocket of its own,
 * receiving and sending as the victim. Now the server's socket ids are never engine
 * ids: the id a member learns names the socket and cannot drive the transport.
 */
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { pollingUrl } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { connectV2Client, emitWithAckV2, nextV2 } from "../helpers/sio-client-v2.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const YAML = `
server:
  allowEIO3: true
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.text}", { from: "{socket.id}" }]
`;

describe("the socket id a 2.x client's room mates learn", () => {
  const cleanup = useCleanup();

  it("cannot upgrade or poll the 2.x client's session, which keeps working", async () => {
    const harness = await Harness.start(YAML);
    cleanup.add(() => harness.close());
    const victim = await connectV2Client(cleanup, harness.url, "polling");
    const attacker = await harness.connect({ transports: ["websocket"] });
    expect(await emitWithAckV2(victim, "join", { room: "room:1" })).toEqual([{ ok: true }]);
    expect(await attacker.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    const heard = next(attacker, "message");
    expect(await emitWithAckV2(victim, "say", { room: "room:1", text: "hi" })).toEqual([
      { ok: true },
    ]);
    const [, { from }] = (await heard) as [string, { from: string }];

    // With the id as a session id: the WebSocket upgrade and a poll are refused.
    const upgrade = await RawWs.refusal(wsUrl(harness.url, "/socket.io/", { EIO: "3", sid: from }));
    expect(upgrade.status).toBe(400);
    expect(JSON.parse(upgrade.body)).toEqual({ code: 1, message: "Session ID unknown" });
    const poll = await fetch(pollingUrl(harness.url, "/socket.io/", { EIO: "3", sid: from }));
    expect(poll.status).toBe(400);

    // The victim still sends and receives as itself.
    const toVictim = nextV2(victim, "message");
    attacker.emit("say", { room: "room:1", text: "back" });
    expect(await toVictim).toEqual(["back", { from: attacker.id }]);
  });
});
