// The official OpenAI client, unmodified, against the gateway with a paywire API key:
// `node openai.mjs <base url> <api key> <model>` makes one call and one streamed call and prints
// what the SDK saw as one JSON object (or the SDK's error, as its users would see it), with
// the receipts it surfaced (the streamed one from the chunk before [DONE]).
import OpenAI from "openai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const messages = [{ role: "user", content: "Say hello" }];

try {
  const { data, response } = await client.chat.completions
    .create({ model, messages, max_tokens: 100 })
    .withResponse();
  let streamed = "";
  let streamedReceipt = null;
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 100, stream: true });
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta?.content ?? "";
    // The gateway's receipt chunk: no choices, the receipt as an extra field.
    streamedReceipt = chunk.paywire_receipt ?? streamedReceipt;
  }
  console.log(JSON.stringify({
    content: data.choices[0].message.content,
    charge: response.headers.get("x-paywire-charge"),
    balance: response.headers.get("x-paywire-balance"),
    streamed,
    receipt: data.paywire_receipt ?? null,
    streamedReceipt,
  }));
} catch (error) {
  console.log(JSON.stringify({ status: error.status ?? null, error: error.message }));
}
