import { ablyFactory } from "./ably/ably-factory.js";
import { nativeFactory } from "./native/native-factory.js";
import { pusherFactory } from "./pusher/pusher-factory.js";
import { BackendRegistry } from "./registry.js";
import { websocketFactory } from "./websocket/websocket-factory.js";

/** A registry holding every backend kind Switchyard ships. */
export function builtinBackends(): BackendRegistry {
  return new BackendRegistry()
    .register(nativeFactory)
    .register(pusherFactory)
    .register(ablyFactory)
    .register(websocketFactory);
}
