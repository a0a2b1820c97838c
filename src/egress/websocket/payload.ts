/**
 * The pure codec between a Socket.IO event and the `{data}` of a bus's frames. No
 * socket, timer or setting here. Rules (docs/backends/websocket.md, "Payload mapping"),
 * as on the managed kinds, so that the bus's own clients read and write the same values
 * as Socket.IO clients:
 * - One argument that is not binary and holds no binary travels as it is: a string,
 *   number, boolean, null, object or array.
 * - Anything else travels in the shared envelope (src/egress/envelope.ts): no argument
 *   or several, binary anywhere (JSON frames carry no bytes: base64 attachments), an
 *   object that itself has the envelope's marker key.
 * - Received data that is an envelope unpacks to its arguments; any other value is the
 *   single argument.
 */

import { hasBinary } from "../../binary.js";
import { looksLikeEnvelope, packEnvelope, unpackEnvelope } from "../envelope.js";

/** The `{data}` of a publication's frame. Never throws. */
export function encodeBusData(args: readonly unknown[]): unknown {
  if (args.length === 1) {
    const [value] = args;
    if (!hasBinary(value) && !looksLikeEnvelope(value)) return value === undefined ? null : value;
  }
  return packEnvelope(args);
}

/**
 * The arguments of data a bus delivered.
 *
 * @throws Error for an envelope whose attachments do not match its placeholders.
 */
export function decodeBusData(data: unknown): readonly unknown[] {
  return unpackEnvelope(data) ?? [data];
}
