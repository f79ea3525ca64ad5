// The official `@anthropic-ai/sdk` client against `dari serve`'s /v1/messages: create and stream
// (events in Anthropic's order, text reassembled), a system prompt, and tool use forced with
// tool_choice {type: "tool"} whose input validates, then sent back as a tool_result.
// Exported as one function that test.mjs runs; throws on the first failure.
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";

export async function runAnthropicTests(baseURL, apiKey, model) {
  // The SDK appends /v1/messages to the base URL and sends the key as x-api-key.
  const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
  const msg = await client.messages.create({
    model, max_tokens: 8, system: "Be brief.",
    messages: [{ role: "user", content: "Hello!" }],
  });
  assert.equal(msg.type, "message");
  assert.equal(msg.role, "assistant");
  assert.ok(msg.id.startsWith("msg_"));
  assert.ok(["end_turn", "max_tokens"].includes(msg.stop_reason));
  assert.equal(msg.content[0].type, "text");
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);

  const events = [];
  let text = "";
  const stream = client.messages.stream({
    model, max_tokens: 8, messages: [{ role: "user", content: "Tell me a story." }],
  });
  stream.on("text", (t) => { text += t; });
  for await (const ev of stream) events.push(ev.type);
  const final = await stream.finalMessage();
  assert.equal(events[0], "message_start");
  assert.equal(events.at(-1), "message_stop");
  assert.ok(events.includes("content_block_start") && events.includes("content_block_stop"));
  assert.equal(final.content[0].text, text);
  assert.ok(final.usage.output_tokens > 0);

  const tools = [{
    name: "get_weather", description: "Current weather in a city",
    input_schema: { type: "object", properties: { city: { type: "string", maxLength: 16 } },
                    required: ["city"], additionalProperties: false },
  }];
  const use = await client.messages.create({
    model, max_tokens: 200, tools, tool_choice: { type: "tool", name: "get_weather" },
    messages: [{ role: "user", content: "Weather in Seoul?" }],
  });
  assert.equal(use.stop_reason, "tool_use");
  const block = use.content.find((b) => b.type === "tool_use");
  assert.ok(block, JSON.stringify(use.content));
  assert.equal(block.name, "get_weather");
  assert.ok(block.id.startsWith("toolu_"));
  assert.equal(typeof block.input.city, "string");
  assert.deepEqual(Object.keys(block.input), ["city"]);

  const after = await client.messages.create({
    model, max_tokens: 8, tools,
    messages: [{ role: "user", content: "Weather in Seoul?" },
               { role: "assistant", content: use.content },
               { role: "user", content: [{ type: "tool_result", tool_use_id: block.id, content: "12 C" }] }],
  });
  assert.equal(after.type, "message");

  try {
    await client.messages.create({ model, max_tokens: 0, messages: [{ role: "user", content: "x" }] });
    assert.fail("max_tokens 0 accepted");
  } catch (e) {
    assert.equal(e.status, 400);
    assert.equal(e.error?.type, "error");
  }
  console.log(`anthropic: create, stream (${events.length} events), tool_use ${JSON.stringify(block.input)}, tool_result`);
}
