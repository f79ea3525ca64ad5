// The official `openai` npm client against `dari serve`: models.list, chat (plain and streaming
// with include_usage), completions (plain and streaming), the extension fields clients written
// for llama.cpp and vLLM send, and (agents.mjs) structured output and tool calls. Exits non-zero
// on the first failure.
// Env: DARI_BASE_URL (e.g. http://127.0.0.1:PORT/v1), DARI_MODEL (the served model id),
// DARI_API_KEY (a key from `dari keys add`: once a key exists the trust layer rejects unknown
// keys). With the argument "placeholder" it checks only that a server without keys serves a
// client whose key is the usual placeholder.
import OpenAI from "openai";
import assert from "node:assert/strict";
import { runAgentTests } from "./agents.mjs";
import { runAnthropicTests } from "./anthropic.mjs";

const client = new OpenAI({
  baseURL: process.env.DARI_BASE_URL,
  apiKey: process.env.DARI_API_KEY ?? "unused",
  maxRetries: 0,
  timeout: 60000,
});
const model = process.env.DARI_MODEL;

async function placeholder() {
  const anon = new OpenAI({ baseURL: process.env.DARI_BASE_URL, apiKey: "sk-no-key-required",
                            maxRetries: 0, timeout: 60000 });
  const r = await anon.chat.completions.create({
    model, messages: [{ role: "user", content: "Hi" }], max_tokens: 4 });
  assert.equal(r.object, "chat.completion");
  console.log("placeholder key served while no key exists: OK");
}

async function main() {
  if (process.argv[2] === "placeholder") return placeholder();
  // Once a key exists, the placeholder is an unknown key.
  try {
    await new OpenAI({ baseURL: process.env.DARI_BASE_URL, apiKey: "sk-no-key-required", maxRetries: 0 })
      .chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }], max_tokens: 4 });
    assert.fail("placeholder key accepted although a key exists");
  } catch (e) {
    assert.equal(e.status, 401);
  }
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.ok(models.some((m) => m.id === model), `models.list lacks ${model}`);
  console.log(`models.list: ${models.map((m) => m.id).join(", ")}`);

  const chat = await client.chat.completions.create({
    model,
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello!" }],
    max_tokens: 8,
    temperature: 0,
    seed: 1,
  });
  assert.equal(chat.object, "chat.completion");
  assert.ok(chat.id.startsWith("chatcmpl-"));
  assert.equal(chat.choices[0].message.role, "assistant");
  assert.equal(typeof chat.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(chat.choices[0].finish_reason));
  assert.ok(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0);
  console.log(`chat: ${JSON.stringify(chat.choices[0].message.content)} usage=${JSON.stringify(chat.usage)}`);

  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Tell me a story." }],
    max_tokens: 8,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let finish = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(usage && usage.completion_tokens > 0, "streaming usage chunk missing");
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  assert.ok(finish, "no finish_reason in the stream");
  console.log(`chat stream: ${chunks} chunks ${JSON.stringify(text)} usage=${JSON.stringify(usage)}`);

  const comp = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8 });
  assert.equal(comp.object, "text_completion");
  assert.equal(typeof comp.choices[0].text, "string");
  assert.ok(comp.usage.completion_tokens > 0);
  console.log(`completions: ${JSON.stringify(comp.choices[0].text)}`);

  const cstream = await client.completions.create({
    model, prompt: "Once upon a time", max_tokens: 8, stream: true,
    stream_options: { include_usage: true },
  });
  let ctext = "";
  let cusage = null;
  for await (const chunk of cstream) {
    if (chunk.usage) cusage = chunk.usage;
    for (const c of chunk.choices) ctext += c.text;
  }
  assert.ok(cusage && cusage.completion_tokens > 0);
  console.log(`completions stream: ${JSON.stringify(ctext)}`);

  // What LangChain, LlamaIndex and Open WebUI add: sampling extensions, fields of newer API
  // versions and fields the server has never heard of (ignored, counted in /metrics).
  const ext = await client.chat.completions.create({
    model, messages: [{ role: "user", content: "Hi" }], max_completion_tokens: 4,
    top_k: 40, min_p: 0.05, typical_p: 0.95, repetition_penalty: 1.1, store: false,
    metadata: { app: "test" }, service_tier: "auto", user: "u1", parallel_tool_calls: true,
    some_future_field: { x: 1 },
  });
  assert.equal(ext.object, "chat.completion");
  console.log("extension and unknown fields: OK");

  await runAgentTests(client, model);
  await runAnthropicTests(process.env.DARI_BASE_URL.replace(/\/v1$/, ""), process.env.DARI_API_KEY, model);

  // Errors surface as the SDK's typed errors with the server's message.
  try {
    await client.chat.completions.create({ model, messages: [], max_tokens: 1 });
    assert.fail("empty messages accepted");
  } catch (e) {
    assert.equal(e.status, 400);
    assert.equal(e.param, "messages");
  }
  console.log("ALL OK");
}

main().catch((e) => {
  console.error("FAILED:", e);
  process.exit(1);
});
