import { describe, expect, it } from "vitest";
import { didYouMean } from "../../../src/mapping/did-you-mean.js";

describe("didYouMean", () => {
  const keys = ["port", "host", "path", "transports", "heartbeat", "connectTimeout"];

  it("suggests the closest key for a typo, a swap or a case slip", () => {
    expect(didYouMean("prot", keys)).toBe("port");
    expect(didYouMean("trasnports", keys)).toBe("transports");
    expect(didYouMean("hearbeat", keys)).toBe("heartbeat");
    expect(didYouMean("ConnectTimeout", keys)).toBe("connectTimeout");
  });

  it("stays quiet when nothing is close or the word is known", () => {
    expect(didYouMean("banana", keys)).toBeUndefined();
    expect(didYouMean("port", keys)).toBeUndefined();
    expect(didYouMean("x", [])).toBeUndefined();
  });
});
