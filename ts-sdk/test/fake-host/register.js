// `node --import ./test/fake-host/register.js --test`: resolves the host's
// `floww:workflow/*` imports to the in-memory fakes beside this file, so the
// SDK's unit tests run in Node without a host or a build.
import { register } from "node:module";

register("./hooks.js", import.meta.url);
