// Pays for one chat completion with the official x402 clients (@x402/fetch with @x402/svm or
// @x402/evm) and prints {status, paymentResponse, body} as JSON.
//
//   node pay.mjs <url> solana <keypair.json> <solana rpc url> <request json> <network> <usdc>
//   node pay.mjs <url> base <0xprivate key> - <request json> <network> <usdc>
import { readFileSync } from "node:fs";
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";

const [url, chain, key, rpcUrl, request, network, usdc] = process.argv.slice(2);
const asset = { network, address: usdc };
let scheme;
if (chain === "solana") {
  const { ExactSvmScheme, toClientSvmSigner } = await import("@x402/svm");
  const { createKeyPairSignerFromBytes } = await import("@solana/kit");
  const bytes = Uint8Array.from(JSON.parse(readFileSync(key, "utf8")));
  const signer = toClientSvmSigner(await createKeyPairSignerFromBytes(bytes));
  scheme = { network: "solana:*", client: new ExactSvmScheme(signer, { rpcUrl }) };
} else {
  const { ExactEvmScheme } = await import("@x402/evm");
  const { privateKeyToAccount } = await import("viem/accounts");
  scheme = { network: "eip155:*", client: new ExactEvmScheme(privateKeyToAccount(key)) };
}
// The local USDC is not one of the clients' default assets: allow it by address, with a
// per-payment cap in atomic units as an agent would set one.
const spendControls = { allowedAssets: [{ network: asset.network, asset: asset.address, maxAmountPerPayment: "1000000" }] };
const pay = wrapFetchWithPaymentFromConfig(fetch, { schemes: [scheme], spendControls });
const response = await pay(url, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: request,
});
const header = response.headers.get("payment-response");
console.log(JSON.stringify({
  status: response.status,
  paymentResponse: header ? decodePaymentResponseHeader(header) : null,
  body: await response.json(),
}));
