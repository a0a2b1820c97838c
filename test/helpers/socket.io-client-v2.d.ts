/**
 * The parts of socket.io-client 2.x (installed as `socket.io-client-v2`) the tests use.
 * The package ships no types.
 */
declare module "socket.io-client-v2" {
  type Listener = (...args: never[]) => void;

  interface V2Emitter<T> {
    on(event: string, listener: Listener): T;
    once(event: string, listener: Listener): T;
    off(event: string, listener?: Listener): T;
  }

  /** engine.io-client 3.x transport. */
  interface V2Transport {
    readonly name: "polling" | "websocket";
    /** Whether it sends and takes binary as such (false: base64, `b64=1`). */
    readonly supportsBinary: boolean;
  }

  /** engine.io-client 3.x socket. */
  interface V2Engine extends V2Emitter<V2Engine> {
    readonly id: string;
    readonly transport: V2Transport;
    readonly readyState: string;
    close(): V2Engine;
  }

  interface V2Manager extends V2Emitter<V2Manager> {
    readonly engine: V2Engine;
    reconnection(value: boolean): V2Manager;
    /** Another namespace on the same connection. */
    socket(nsp: string, options?: { query?: string }): V2Socket;
  }

  export interface V2Socket extends V2Emitter<V2Socket> {
    /** `<engine id>` on `/`, `<namespace>#<engine id>` elsewhere (set on connect). */
    readonly id: string;
    readonly nsp: string;
    readonly connected: boolean;
    readonly io: V2Manager;
    emit(event: string, ...args: unknown[]): V2Socket;
    close(): V2Socket;
    disconnect(): V2Socket;
  }

  export interface V2Options {
    forceNew?: boolean;
    reconnection?: boolean;
    transports?: ("polling" | "websocket")[];
    upgrade?: boolean;
    forceBase64?: boolean;
    query?: Record<string, string> | string;
    path?: string;
    timeout?: number;
  }

  function io(url: string, options?: V2Options): V2Socket;
  export default io;
}
