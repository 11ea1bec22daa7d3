// A Node.js client of the aios kernel: authenticates with an agent's token (who am I), adds a note, searches the
// agent's notes and streams a chat from the kernel's model. It loads the .proto sources of the repository at
// run time (no generated code) and prints one JSON object per step on stdout.
//
//   AIOS_TOKEN=<agent token> node client.js [--target 127.0.0.1:50551] [--note TEXT] [--query TEXT] [--prompt TEXT]

import { fileURLToPath } from "node:url";
import path from "node:path";
import { parseArgs } from "node:util";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const HERE = path.dirname(fileURLToPath(import.meta.url));

function emit(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

function fail(step, err) {
  // A gRPC status as the kernel sent it (UNAUTHENTICATED, INVALID_ARGUMENT, ...), not a stack trace.
  const code = typeof err.code === "number" ? grpc.status[err.code] : "CLIENT";
  emit("error", { failed: step, code, message: err.details || err.message });
  process.exit(1);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      target: { type: "string", default: process.env.AIOS_TARGET || "127.0.0.1:50551" },
      token: { type: "string", default: process.env.AIOS_TOKEN || "" },
      protos: { type: "string", default: path.resolve(HERE, "..", "..", "proto") },
      note: { type: "string", default: "The Node.js client was here: grpc-js talks to the aios kernel." },
      query: { type: "string", default: "which client talks to the kernel" },
      prompt: { type: "string", default: "Say hello in one short sentence." },
      "max-tokens": { type: "string", default: "32" },
      timeout: { type: "string", default: "120" },
    },
  }));
} catch (err) {
  fail("args", err);
}

if (!opts.token) {
  fail("auth", new Error("no token: pass --token or set AIOS_TOKEN (an agent's token)"));
}
for (const name of ["max-tokens", "timeout"]) {
  if (!/^[0-9]+$/.test(opts[name]) || Number(opts[name]) <= 0) {
    fail("args", new Error(`--${name} must be a positive whole number, not ${JSON.stringify(opts[name])}`));
  }
}

// includeDirs makes imports such as "aios/v1/common.proto" resolve; google/protobuf/*.proto come with
// protobufjs. keepCase keeps the proto's snake_case field names (max_tokens, finish_reason).
const definition = protoLoader.loadSync(["aios/v1/admin.proto", "aios/v1/memory.proto", "aios/v1/llm.proto"], {
  includeDirs: [opts.protos],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).aios.v1;

// Every call carries the agent's token, as the Python SDK sends it. The kernel without --tls-cert listens
// in plain text; for a TLS kernel pass grpc.credentials.createSsl(<CA certificate>) instead of createInsecure().
const auth = new grpc.Metadata();
auth.add("authorization", `Bearer ${opts.token}`);
const admin = new v1.AdminService(opts.target, grpc.credentials.createInsecure());
const memory = new v1.MemoryService(opts.target, grpc.credentials.createInsecure());
const llm = new v1.LLMService(opts.target, grpc.credentials.createInsecure());

const deadline = () => new Date(Date.now() + Number(opts.timeout) * 1000);

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, auth, { deadline: deadline() }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

async function main() {
  let me;
  try {
    me = await unary(admin, "GetIdentity", {});
  } catch (err) {
    fail("auth", err);
  }
  emit("auth", { agent_id: me.agent_id, name: me.name });

  let note;
  try {
    note = await unary(memory, "AddNote", { note: { content: opts.note, tags: ["node-example"] } });
  } catch (err) {
    fail("add_note", err);
  }
  emit("add_note", { id: note.id, agent_id: note.agent_id, content: note.content, tags: note.tags });

  let found;
  try {
    found = await unary(memory, "SearchNotes", { query: opts.query, k: 5 });
  } catch (err) {
    fail("search", err);
  }
  emit("search", { hits: found.hits.map((hit) => ({ id: hit.note.id, score: hit.score, content: hit.note.content })) });

  const request = {
    messages: [{ role: "user", content: opts.prompt }],
    params: { max_tokens: Number(opts["max-tokens"]), temperature: 0 },
  };
  const stream = llm.ChatStream(request, auth, { deadline: deadline() });
  let text = "";
  let chunks = 0;
  await new Promise((resolve) => {
    stream.on("data", (chunk) => {
      if (chunk.delta) {
        chunks += 1;
        text += chunk.delta;
        emit("chat_chunk", { delta: chunk.delta });
      }
      if (chunk.finish_reason) {
        emit("chat_done", { text, chunks, finish_reason: chunk.finish_reason, usage: chunk.usage, timing: chunk.timing });
      }
    });
    stream.on("error", (err) => fail("chat_stream", err));
    stream.on("end", resolve);
  });

  admin.close();
  memory.close();
  llm.close();
}

main().catch((err) => fail("client", err));
