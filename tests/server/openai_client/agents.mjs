// What agent frameworks send, through the official `openai` npm client unchanged: structured
// output (json_object, json_schema on many generated schemas, each answer parsed and validated
// with Ajv), forced tool calls (tool_choice "required" and a named function) whose arguments
// validate against the tool's schema, and streamed tool calls that reassemble into the same call.
// Exported as one function that test.mjs runs; throws on the first failure.
import assert from "node:assert/strict";
import Ajv from "ajv";

// Formats (date, uuid) are left to the grammar; Ajv checks the structure.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

// A small deterministic PRNG so that a failing schema can be reproduced from its index.
function rng(seed) {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

// Random JSON Schemas of the kinds applications send: nested objects, arrays, enums, formats.
// Strings and arrays are bounded so that even a tiny model must finish its answer.
function randomSchema(r, depth = 0) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const kind = depth >= 2 ? pick(["string", "integer", "number", "boolean", "enum"])
                          : pick(["string", "integer", "number", "boolean", "enum", "array", "object", "object"]);
  switch (kind) {
    case "string":
      return pick([{ type: "string", maxLength: 12 }, { type: "string", format: "date" },
                   { type: "string", format: "uuid" }, { type: "string", minLength: 1, maxLength: 6 }]);
    case "integer": return { type: "integer" };
    case "number": return { type: "number" };
    case "boolean": return { type: "boolean" };
    case "enum": return { type: "string", enum: pick([["red", "green", "blue"], ["yes", "no"], ["a b", "c\"d"]]) };
    case "array":
      return { type: "array", items: randomSchema(r, depth + 1), minItems: pick([0, 1]), maxItems: 3 };
    default: {
      const n = 1 + Math.floor(r() * 4);
      const properties = {};
      const required = [];
      for (let i = 0; i < n; ++i) {
        const name = pick(["name", "age", "city", "tags", "score", "ok", "when", "id", "info"]) + i;
        properties[name] = randomSchema(r, depth + 1);
        if (r() < 0.7) required.push(name);
      }
      return { type: "object", properties, required, additionalProperties: false };
    }
  }
}

function objectSchema(r) {
  const s = randomSchema(r, 1);
  return s.type === "object" ? s
                             : { type: "object", properties: { value: s }, required: ["value"], additionalProperties: false };
}

async function structuredOutput(client, model, count) {
  // json_object bounds nothing but the shape, so a tiny model may run out of tokens inside an
  // object (a string that never closes): every answer starts an object, and every answer that
  // stops parses as one.
  let stopped = 0;
  for (let seed = 0; seed < 6; ++seed) {
    const obj = await client.chat.completions.create({
      model, messages: [{ role: "user", content: "Describe a cat as JSON." }],
      response_format: { type: "json_object" }, max_tokens: 400, seed,
    });
    const c = obj.choices[0];
    assert.ok(c.message.content.trimStart().startsWith("{"), c.message.content);
    if (c.finish_reason !== "stop") continue;
    ++stopped;
    const parsed = JSON.parse(c.message.content);
    assert.ok(typeof parsed === "object" && !Array.isArray(parsed) && parsed !== null);
  }
  for (let i = 0; i < count; ++i) {
    const schema = objectSchema(rng(i + 1));
    const res = await client.chat.completions.create({
      model, messages: [{ role: "user", content: "Answer in JSON." }],
      response_format: { type: "json_schema", json_schema: { name: `s${i}`, strict: true, schema } },
      max_tokens: 460, temperature: 1, seed: i,
    });
    const c = res.choices[0];
    assert.equal(c.finish_reason, "stop", `schema ${i} did not finish: ${c.message.content}`);
    let value;
    try {
      value = JSON.parse(c.message.content);
    } catch (e) {
      throw new Error(`schema ${i}: not JSON: ${c.message.content}\n${JSON.stringify(schema)}`);
    }
    const validate = ajv.compile(schema);
    assert.ok(validate(value), `schema ${i}: ${JSON.stringify(validate.errors)}\n` +
              `${JSON.stringify(schema)}\n${c.message.content}`);
  }
  console.log(`structured output: json_object (${stopped}/6 finished) and ${count} generated ` +
              "json_schema answers validate");
}

const tools = [
  { type: "function", function: {
      name: "get_weather", description: "Current weather in a city",
      parameters: { type: "object", properties: {
        city: { type: "string", maxLength: 16 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
        required: ["city", "unit"], additionalProperties: false } } },
  { type: "function", function: {
      name: "add", description: "Adds two integers",
      parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } },
                    required: ["a", "b"] } } },
];

function checkCall(call) {
  assert.equal(call.type, "function");
  assert.ok(call.id.startsWith("call_"), call.id);
  const tool = tools.find((t) => t.function.name === call.function.name);
  assert.ok(tool, `unknown tool ${call.function.name}`);
  const args = JSON.parse(call.function.arguments);
  const validate = ajv.compile(tool.function.parameters);
  assert.ok(validate(args), `${call.function.name}(${call.function.arguments}): ${JSON.stringify(validate.errors)}`);
}

async function toolCalls(client, model) {
  const messages = [{ role: "user", content: "What is the weather in Seoul?" }];
  for (let seed = 0; seed < 4; ++seed) {
    const req = await client.chat.completions.create({
      model, messages, tools, tool_choice: "required", parallel_tool_calls: false,
      max_tokens: 300, seed,
    });
    const c = req.choices[0];
    assert.equal(c.finish_reason, "tool_calls", JSON.stringify(c));
    assert.equal(c.message.tool_calls.length, 1);
    c.message.tool_calls.forEach(checkCall);
  }
  // Parallel calls allowed: a tiny model may keep adding calls until max_tokens; any answer that
  // finishes holds 1 to 16 valid calls.
  const par = await client.chat.completions.create({
    model, messages, tools, tool_choice: "required", max_tokens: 460, seed: 9 });
  if (par.choices[0].finish_reason === "tool_calls") {
    const n = par.choices[0].message.tool_calls.length;
    assert.ok(n >= 1 && n <= 16, String(n));
    par.choices[0].message.tool_calls.forEach(checkCall);
  }
  const named = await client.chat.completions.create({
    model, messages, tools, max_tokens: 300, seed: 5,
    tool_choice: { type: "function", function: { name: "add" } },
  });
  const nc = named.choices[0];
  assert.equal(nc.finish_reason, "tool_calls");
  assert.equal(nc.message.tool_calls.length, 1);
  assert.equal(nc.message.tool_calls[0].function.name, "add");
  checkCall(nc.message.tool_calls[0]);

  // Streamed: the deltas reassemble into the same call as the non-streamed answer (same seed).
  const stream = await client.chat.completions.create({
    model, messages, tools, max_tokens: 300, seed: 5, stream: true,
    tool_choice: { type: "function", function: { name: "add" } },
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      if (ch.finish_reason) finish = ch.finish_reason;
      for (const d of ch.delta?.tool_calls ?? []) {
        if (!calls[d.index]) calls[d.index] = { id: d.id, type: d.type, function: { name: d.function?.name, arguments: "" } };
        calls[d.index].function.arguments += d.function?.arguments ?? "";
      }
    }
  }
  assert.equal(finish, "tool_calls");
  assert.equal(calls.length, 1);
  checkCall(calls[0]);
  assert.equal(calls[0].function.arguments, nc.message.tool_calls[0].function.arguments);

  // The call and its result go back in as messages and render through the template.
  const next = await client.chat.completions.create({
    model, max_tokens: 8, tools,
    messages: [...messages, nc.message,
               { role: "tool", tool_call_id: nc.message.tool_calls[0].id, content: "42" }],
  });
  assert.ok(["stop", "length", "tool_calls"].includes(next.choices[0].finish_reason));
  console.log(`tool calls: required x4, named, streamed (${calls[0].function.arguments}), round trip`);
}

export async function runAgentTests(client, model) {
  await structuredOutput(client, model, Number(process.env.DARI_SCHEMA_COUNT ?? 40));
  await toolCalls(client, model);
}
