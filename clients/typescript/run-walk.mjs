// Runs the walk of walk.ts, compiled to JavaScript, against a server:
// node run-walk.mjs WALK_JS BASE_URL ADMIN_KEY (see .ci/typescript-types).
import { pathToFileURL } from "node:url";

const [walkJS, base, key] = process.argv.slice(2);
if (!walkJS || !base || !key) {
  console.error("usage: node run-walk.mjs WALK_JS BASE_URL ADMIN_KEY");
  process.exit(2);
}
const { walk } = await import(pathToFileURL(walkJS).href);
await walk(base, key);
console.log("walk.ts: all steps passed against", base);
