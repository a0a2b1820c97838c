/**
 * What the examples read with no default: the credentials of a hosted service and the
 * secrets an example never writes in its file (examples/pusher/switchyard.yaml), with
 * placeholder values that pass validation.
 */
export const EXAMPLE_ENV: Readonly<Record<string, string>> = {
  PUSHER_APP_ID: "1",
  PUSHER_KEY: "example-key",
  PUSHER_SECRET: "example-secret",
  CHAT_JWT_SECRET: "example-jwt-secret-0123456789abcdef",
  SWITCHYARD_API_TOKEN: "example-api-token-0123456789abcdef",
  CHAT_SIGNING_SECRET: "example-signing-secret-0123456789abcdef",
  ABLY_KEY: "example-app.example-key:example-secret",
  WS_BUS_URL: "ws://127.0.0.1:8000/socketcluster/",
  LEGACY_URL: "http://127.0.0.1:3001",
};
