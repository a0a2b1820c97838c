import { type Handshake, pollingUrl } from "./raw-polling.js";

/**
 * Engine.IO v3 long-polling by hand, written from the v3 protocol document
 * independently of Switchyard's codec.
 *
 * Text payload: `<length>:<packet>` records, the length in UTF-16 code units (JS
 * string length). Binary payload (clients without `b64=1`): per packet a 0 (text) or
 * 1 (binary) byte, the decimal length in bytes one byte per digit, 0xFF, the bytes;
 * a binary packet's bytes start with its type (4 for a message).
 */

/** `http://127.0.0.1:<port><path>?EIO=3&transport=polling&…` */
export function v3PollingUrl(
  httpUrl: string,
  path: string,
  query: Record<string, string> = {},
): string {
  return pollingUrl(httpUrl, path, { EIO: "3", ...query });
}

/** Packets as one text payload. */
export function textPayload(...packets: string[]): string {
  return packets.map((packet) => `${packet.length}:${packet}`).join("");
}

/** The packets of a text payload; throws when it is not one. */
export function parseTextPayload(body: string): string[] {
  const packets: string[] = [];
  let i = 0;
  while (i < body.length) {
    const colon = body.indexOf(":", i);
    const length = Number(body.slice(i, colon));
    if (colon <= i || !Number.isInteger(length) || colon + 1 + length > body.length) {
      throw new Error(`not a v3 text payload at ${i}: ${JSON.stringify(body)}`);
    }
    packets.push(body.slice(colon + 1, colon + 1 + length));
    i = colon + 1 + length;
  }
  return packets;
}

/** One record of a binary payload: text, or the raw bytes of a binary packet (type byte first). */
export type BinaryRecord = string | Buffer;

/** Records as one binary payload. */
export function binaryPayload(...records: BinaryRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const record of records) {
    const bytes = typeof record === "string" ? Buffer.from(record, "utf8") : record;
    const digits = [...String(bytes.length)].map(Number);
    parts.push(Buffer.from([typeof record === "string" ? 0 : 1, ...digits, 0xff]), bytes);
  }
  return Buffer.concat(parts);
}

/** The records of a binary payload; throws when it is not one. */
export function parseBinaryPayload(body: Buffer): BinaryRecord[] {
  const records: BinaryRecord[] = [];
  let i = 0;
  while (i < body.length) {
    const kind = body[i];
    const separator = body.indexOf(0xff, i + 1);
    const digits = [...body.subarray(i + 1, separator === -1 ? i + 1 : separator)];
    if ((kind !== 0 && kind !== 1) || separator === -1 || digits.some((digit) => digit > 9)) {
      throw new Error(`not a v3 binary payload at ${i}: ${body.toString("hex")}`);
    }
    const length = Number(digits.join(""));
    const bytes = body.subarray(separator + 1, separator + 1 + length);
    if (bytes.length !== length) throw new Error(`truncated record at ${i}`);
    records.push(kind === 0 ? bytes.toString("utf8") : Buffer.from(bytes));
    i = separator + 1 + length;
  }
  return records;
}

export interface BytesReply {
  readonly status: number;
  readonly headers: Headers;
  readonly bytes: Buffer;
  /** The body as UTF-8 text. */
  readonly body: string;
}

/** A request with its whole body read as bytes. */
export async function fetchBytes(url: string, init: RequestInit = {}): Promise<BytesReply> {
  const res = await fetch(url, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, body: bytes.toString("utf8") };
}

/** One Engine.IO v3 session driven by hand over HTTP long-polling. */
export class V3PollingSession {
  readonly httpUrl: string;
  readonly path: string;
  readonly handshake: Handshake;
  readonly handshakeReply: BytesReply;
  /** The packets of the handshake response, the open packet first. */
  readonly handshakePackets: string[];

  private constructor(httpUrl: string, path: string, reply: BytesReply, packets: string[]) {
    this.httpUrl = httpUrl;
    this.path = path;
    this.handshakeReply = reply;
    this.handshakePackets = packets;
    this.handshake = JSON.parse(packets[0]!.slice(1)) as Handshake;
  }

  /**
   * Opens a session with the handshake GET. `query` (e.g. `{ b64: "1" }`) goes on the
   * handshake only, as with engine.io-client 3.x: the server remembers `b64`.
   */
  static async open(
    httpUrl: string,
    path: string,
    query: Record<string, string> = {},
  ): Promise<V3PollingSession> {
    const reply = await fetchBytes(v3PollingUrl(httpUrl, path, query));
    if (reply.status !== 200) throw new Error(`handshake failed: ${reply.status} ${reply.body}`);
    const packets = parseTextPayload(reply.body);
    if (!packets[0]?.startsWith("0{")) throw new Error(`no open packet in ${reply.body}`);
    return new V3PollingSession(httpUrl, path, reply, packets);
  }

  get sid(): string {
    return this.handshake.sid;
  }

  /** The session's URL; `eio` overrides the protocol revision. */
  url(eio = "3"): string {
    return pollingUrl(this.httpUrl, this.path, { EIO: eio, sid: this.sid });
  }

  get(eio = "3"): Promise<BytesReply> {
    return fetchBytes(this.url(eio));
  }

  /** A GET whose answer must be a text payload: resolves with its packets. */
  async getPackets(): Promise<string[]> {
    const reply = await this.get();
    if (reply.status !== 200) throw new Error(`poll failed: ${reply.status} ${reply.body}`);
    return parseTextPayload(reply.body);
  }

  post(body: string | Buffer, contentType = "text/plain;charset=UTF-8"): Promise<BytesReply> {
    return fetchBytes(this.url(), {
      method: "POST",
      body,
      headers: { "Content-Type": contentType },
    });
  }

  /** POSTs packets as a text payload. */
  send(...packets: string[]): Promise<BytesReply> {
    return this.post(textPayload(...packets));
  }
}
