import { describe, expect, it } from "vitest";
import {
  channelAuthString,
  checkChannelAuth,
  hmacHex,
  md5Hex,
  restStringToSign,
  verifyRestSignature,
} from "./signature.js";

// Test vectors of reference §7 and §9 (the docs' own, recomputed there).
const APP = { key: "278d425bdf160c739803", secret: "7ad3773142a6692b25b8" };

describe("Pusher signatures", () => {
  it("signs a private channel as socket_id:channel (docs vector)", () => {
    expect(hmacHex(APP.secret, channelAuthString("1234.1234", "private-foobar"))).toBe(
      "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
    );
  });

  it("signs a presence channel over the exact channel_data bytes", () => {
    const channelData = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}';
    const signed = channelAuthString("1234.1234", "presence-foobar", channelData);
    const auth = `${APP.key}:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80`;
    expect(checkChannelAuth(APP, auth, signed).ok).toBe(true);
    expect(checkChannelAuth(APP, auth, `${signed} `).ok).toBe(false);
  });

  it("refuses an auth value signed for another key", () => {
    const signed = channelAuthString("1234.1234", "private-foobar");
    const auth = `other-key:${hmacHex(APP.secret, signed)}`;
    expect(checkChannelAuth(APP, auth, signed)).toEqual({
      ok: false,
      given: hmacHex(APP.secret, signed),
    });
  });

  it("reproduces the REST worked example of the HTTP API reference", () => {
    const body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}';
    expect(md5Hex(body)).toBe("ec365a775a4cd0599faeb73354201b6f");
    const query = new Map([
      ["auth_version", "1.0"],
      ["auth_key", APP.key],
      ["auth_timestamp", "1353088179"],
      ["body_md5", "ec365a775a4cd0599faeb73354201b6f"],
    ]);
    const text = restStringToSign({ method: "post", path: "/apps/3/events", query });
    expect(text).toBe(
      "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f",
    );
    const signature = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
    expect(hmacHex(APP.secret, text)).toBe(signature);
    query.set("auth_signature", signature);
    const request = { method: "POST", path: "/apps/3/events", query, body: Buffer.from(body) };
    expect(verifyRestSignature(APP, request, 1353088179 + 600)).toBeNull();
    expect(verifyRestSignature(APP, request, 1353088179 + 601)).toMatch(/^Timestamp expired/);
    expect(
      verifyRestSignature(APP, { ...request, body: Buffer.from(`${body} `) }, 1353088179),
    ).toBe("Invalid body_md5");
  });

  it("lowercases and sorts query keys and leaves values unescaped", () => {
    const query = new Map([
      ["Name", "Something else"],
      ["auth_key", "foo"],
      ["auth_signature", "ignored"],
    ]);
    expect(restStringToSign({ method: "GET", path: "/apps/3/channels", query })).toBe(
      "GET\n/apps/3/channels\nauth_key=foo&name=Something else",
    );
  });
});
