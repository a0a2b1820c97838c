import { describe, expect, it } from "vitest";
import { Secret } from "../../../src/mapping/secret.js";
import { signatureHeaders } from "../../../src/router/app-signature.js";

const SECRET = new Secret("whsec-0123456789abcdef0123456789abcdef");
const BODY = '{"nsp":"/","auth":{}}';

describe("signatureHeaders", () => {
  it("signs TIMESTAMP.BODY with HMAC-SHA256, the timestamp in Unix seconds", () => {
    // Computed independently: Python's hmac.new(secret, b"1700000000." + body, sha256).
    expect(signatureHeaders(SECRET, BODY, 1_700_000_000_999)).toEqual({
      "x-switchyard-timestamp": "1700000000",
      "x-switchyard-signature":
        "sha256=ec4fd547badb368a8f7224c1cb70dda352c10bcb67386e859bd3d517e35ec336",
    });
  });

  it("changes with the body, the time and the secret", () => {
    const base = signatureHeaders(SECRET, BODY, 1_700_000_000_000)["x-switchyard-signature"];
    const others = [
      signatureHeaders(SECRET, `${BODY} `, 1_700_000_000_000),
      signatureHeaders(SECRET, BODY, 1_700_000_001_000),
      signatureHeaders(
        new Secret("another-secret-0123456789abcdef012345"),
        BODY,
        1_700_000_000_000,
      ),
    ].map((headers) => headers["x-switchyard-signature"]);
    for (const other of others) expect(other).not.toBe(base);
  });
});
