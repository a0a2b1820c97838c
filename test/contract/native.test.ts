import { NativeBackend } from "../../src/egress/native/native-backend.js";
import { runBackendContract } from "./backend-contract.js";

runBackendContract("native", async () => ({ backend: new NativeBackend("native") }));
