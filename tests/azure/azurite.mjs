// Azurite (Microsoft's Azure Storage emulator) on an ephemeral loopback
// port for kq's az:// snapshot tests.
//
// Usage: node azurite.mjs AZURITE_BLOB_BIN CONTAINER...
//
// Starts azurite-blob in memory, creates the containers (Blob REST API,
// signed with the emulator's well-known account key, since object_store
// cannot create one), prints one JSON line {"url": "http://127.0.0.1:PORT"}
// on stdout, and serves until stdin closes; then Azurite is stopped, so
// the test that started it never leaves it running.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createInterface } from "node:readline";

const ACCOUNT = "devstoreaccount1";
const KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const VERSION = "2021-08-06";

const [bin, ...containers] = process.argv.slice(2);
if (!bin) {
  console.error("usage: node azurite.mjs AZURITE_BLOB_BIN CONTAINER...");
  process.exit(2);
}

const azurite = spawn(
  bin,
  ["--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose"],
  { stdio: ["ignore", "pipe", "inherit"] },
);
azurite.on("exit", (code, signal) => {
  if (!stopping) {
    console.error(`azurite-blob exited early (code ${code}, signal ${signal})`);
    process.exit(1);
  }
});
let stopping = false;

const url = await new Promise((resolve) => {
  const lines = createInterface({ input: azurite.stdout });
  lines.on("line", (line) => {
    const found = line.match(/successfully listens on (http:\/\/\S+)/);
    if (found) resolve(found[1]);
  });
});

// Shared Key authorization for "Create Container":
// https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
async function createContainer(name) {
  const date = new Date().toUTCString();
  const canonicalHeaders = `x-ms-date:${date}\nx-ms-version:${VERSION}\n`;
  const canonicalResource = `/${ACCOUNT}/${ACCOUNT}/${name}\nrestype:container`;
  const stringToSign = ["PUT", "", "", "", "", "", "", "", "", "", "", ""].join("\n") + "\n" +
    canonicalHeaders + canonicalResource;
  const signature = createHmac("sha256", Buffer.from(KEY, "base64"))
    .update(stringToSign, "utf8")
    .digest("base64");
  const response = await fetch(`${url}/${ACCOUNT}/${name}?restype=container`, {
    method: "PUT",
    headers: {
      "x-ms-date": date,
      "x-ms-version": VERSION,
      authorization: `SharedKey ${ACCOUNT}:${signature}`,
    },
  });
  if (response.status !== 201) {
    throw new Error(`creating container ${name}: HTTP ${response.status} ${await response.text()}`);
  }
}

try {
  for (const name of containers) await createContainer(name);
} catch (error) {
  console.error(String(error));
  stopping = true;
  azurite.kill();
  process.exit(1);
}

console.log(JSON.stringify({ url }));
process.stdin.resume();
process.stdin.on("end", () => {
  stopping = true;
  azurite.kill();
});
