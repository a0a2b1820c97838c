import { describe, expect, it } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import { connectRealtime, FORMATS, Inbox, restClient, startEmulator } from "./test-support.js";

const PAIRS = FORMATS.flatMap((from) => FORMATS.map((to) => ({ from, to })));

/** Payloads the SDK accepts (reference §2, §16.11), with what a subscriber must get back. */
const PAYLOADS: { name: string; data: unknown }[] = [
  { name: "string", data: "héllo wörld ✓" },
  { name: "empty-string", data: "" },
  { name: "object", data: { nested: { list: [1, "two", null, true] }, n: 1.5 } },
  { name: "array", data: [1, { a: "b" }] },
  { name: "binary", data: Buffer.from([0, 1, 2, 253, 254, 255]) },
  { name: "no-data", data: undefined },
];

describe.each(PAIRS)(
  "Ably emulator payloads from a $from publisher to a $to subscriber",
  ({ from, to }) => {
    const cleanup = useCleanup();

    it("delivers strings, objects, arrays and binary unchanged", async () => {
      const emulator = await startEmulator(cleanup);
      const publisher = await connectRealtime(emulator, cleanup, from);
      const subscriber = await connectRealtime(emulator, cleanup, to);
      const inbox = await Inbox.of(subscriber.channels.get("room:1"));
      await publisher.channels.get("room:1").publish(PAYLOADS);
      const received = await inbox.next(PAYLOADS.length);
      expect(received.map((m) => m.name)).toEqual(PAYLOADS.map((p) => p.name));
      for (const [index, payload] of PAYLOADS.entries()) {
        const data = received[index]!.data;
        if (Buffer.isBuffer(payload.data)) {
          expect(Buffer.isBuffer(data), payload.name).toBe(true);
          expect(Buffer.compare(data as Buffer, payload.data), payload.name).toBe(0);
        } else {
          expect(data, payload.name).toEqual(payload.data);
        }
      }
    });

    it("passes extras through", async () => {
      const emulator = await startEmulator(cleanup);
      const publisher = await connectRealtime(emulator, cleanup, from);
      const subscriber = await connectRealtime(emulator, cleanup, to);
      const inbox = await Inbox.of(subscriber.channels.get("room:1"));
      await publisher.channels
        .get("room:1")
        .publish({ name: "x", data: "y", extras: { headers: { trace: "abc" } } });
      const [message] = await inbox.next(1);
      expect(message?.extras).toEqual({ headers: { trace: "abc" } });
    });

    it("delivers a REST publish of binary and objects to a realtime subscriber", async () => {
      const emulator = await startEmulator(cleanup);
      const subscriber = await connectRealtime(emulator, cleanup, to);
      const inbox = await Inbox.of(subscriber.channels.get("room:1"));
      await restClient(emulator, from)
        .channels.get("room:1")
        .publish([
          { name: "bin", data: Buffer.from("binary ✓") },
          { name: "obj", data: { ok: true } },
        ]);
      const [binary, object] = await inbox.next(2);
      expect(Buffer.isBuffer(binary?.data)).toBe(true);
      expect(String(binary?.data)).toBe("binary ✓");
      expect(object?.data).toEqual({ ok: true });
    });
  },
);
