import { describe, expect, it } from "vitest";
import { builtinBackends } from "../../src/egress/builtin.js";
import { nativeFactory } from "../../src/egress/native/native-factory.js";
import { BackendRegistry, UnknownBackendKindError } from "../../src/egress/registry.js";

describe("the backend registry", () => {
  it("finds a registered kind's factory", () => {
    expect(builtinBackends().get("native")).toBe(nativeFactory);
  });

  it("refuses to register a kind twice", () => {
    const registry = new BackendRegistry().register(nativeFactory);
    expect(() => registry.register(nativeFactory)).toThrow(
      "Backend kind 'native' is already registered",
    );
  });

  it("names the known kinds, sorted, when a kind is unknown", () => {
    const registry = new BackendRegistry()
      .register({ ...nativeFactory, kind: "zeta" })
      .register(nativeFactory);
    try {
      registry.get("pusherr");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UnknownBackendKindError);
      expect((error as Error).message).toBe(
        "Unknown backend kind 'pusherr' (known kinds: native, zeta)",
      );
    }
  });
});
