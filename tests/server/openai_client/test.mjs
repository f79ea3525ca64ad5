// The official `openai` npm client against `dari serve`: models.list, chat (plain and streaming
// with include_usage), completions (plain and streaming). Exits non-zero on the first failure.
// Env: DARI_BASE_URL (e.g. http://127.0.0.1:PORT/v1), DARI_MODEL (the served model id),
// DARI_API_KEY (a key from `dari keys add`: the trust layer rejects unknown keys).
import OpenAI from "openai";
import assert from "node:assert/strict";

const client = new OpenAI({
  baseURL: process.env.DARI_BASE_URL,
  apiKey: process.env.DARI_API_KEY ?? "unused",
  maxRetries: 0,
  timeout: 60000,
});
const model = process.env.DARI_MODEL;

async function main() {
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
