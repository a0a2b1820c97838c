import { describe, expect, it } from "vitest";
import type { Backend } from "../../../src/egress/backend.js";
import { LazyBackend } from "../../../src/egress/lazy-backend.js";
import { NativeBackend } from "../../../src/egress/native/native-backend.js";
import { roomChannel } from "../../../src/egress/registry.js";
import { RecordingSink } from "../../contract/backend-contract.js";

const CAPABILITIES = { presence: false, history: false, clientEvents: false } as const;

/** A LazyBackend over a native backend whose loading the test finishes with `load()`. */
function deferred(): { backend: LazyBackend; impl: NativeBackend; load: () => void } {
  const impl = new NativeBackend("lazy");
  let load!: () => void;
  const loaded = new Promise<Backend>((resolve) => {
    load = () => resolve(impl);
  });
  return { backend: new LazyBackend("lazy", "native", CAPABILITIES, () => loaded), impl, load };
}

describe("a lazy backend", () => {
  it("reports 'starting' while its implementation loads, and hands calls made meanwhile to it once loaded", async () => {
    const { backend, load } = deferred();
    const sink = new RecordingSink();
    const channel = roomChannel("/", "room:1");
    const started = backend.start(sink);
    const subscribed = backend.subscribe(channel);
    const published = backend.publish({ channel, event: "message", args: ["early"] });

    expect(backend.health()).toEqual({ isReady: false, reason: "starting" });
    load();
    await Promise.all([started, subscribed, published]);

    expect(backend.health()).toEqual({ isReady: true });
    expect(sink.deliveries).toEqual([{ channel, event: "message", args: ["early"] }]);
  });

  it("closed while loading, never starts its implementation", async () => {
    const { backend, impl, load } = deferred();
    const sink = new RecordingSink();
    const channel = roomChannel("/", "room:1");
    const started = backend.start(sink);

    await backend.close();
    load();
    await started;
    await backend.subscribe(channel);
    await backend.publish({ channel, event: "message", args: ["late"] });

    expect(impl.health()).toEqual({ isReady: false });
    expect(sink.deliveries).toEqual([]);
  });
});
