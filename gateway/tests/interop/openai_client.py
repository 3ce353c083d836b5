"""The official OpenAI Python SDK, unmodified, against the gateway — the Python twin of
openai.mjs. `python openai_client.py <base url> <api key> <model>` makes one call and one
streamed call with a paywire API key and prints what the SDK saw as one JSON object (or the
SDK's error, as its users would see it):

  {"content", "charge", "balance", "streamed", "receipt", "streamedReceipt"}
  {"status", "error", "body"}

With a chain after the model, each call is paid per call over x402 instead (the x402 SDK's
httpx client as the OpenAI client's http_client; <api key> is then any non-`pw_` string, which
the gateway ignores), with pay.py's arguments:

  python openai_client.py <base url> x402 <model> solana <keypair.json> <rpc url> <network> <usdc>
  python openai_client.py <base url> x402 <model> base <0xprivate key> - <network> <usdc>

and the output also carries "paymentResponse" (the non-streamed call's PAYMENT-RESPONSE).
"""

import asyncio
import json
import sys

import openai


def paying_http_client(chain: str, key: str, rpc_url: str, network: str, usdc: str):
    from x402 import x402ClientConfig
    from x402.http.clients.httpx import wrapHttpxWithPaymentFromConfig

    from pay import scheme

    config = x402ClientConfig(
        schemes=[scheme(chain, key, rpc_url)],
        spend_controls={
            "allowed_assets": [
                {"network": network, "asset": usdc, "max_amount_per_payment": "1000000"}
            ]
        },
    )
    # A legacy `httpx.AsyncClient` (x402 wraps httpx, the OpenAI SDK now uses httpx2 but
    # still accepts httpx clients).
    return wrapHttpxWithPaymentFromConfig(config, timeout=120)


async def main() -> None:
    base_url, api_key, model = sys.argv[1:4]
    paying = sys.argv[4:9]
    http_client = paying_http_client(*paying) if paying else None
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key, max_retries=0, http_client=http_client
    )
    messages = [{"role": "user", "content": "Say hello"}]
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=messages, max_tokens=100
        )
        data = raw.parse()
        streamed = ""
        streamed_receipt = None
        stream = await client.chat.completions.create(
            model=model, messages=messages, max_tokens=100, stream=True
        )
        async for chunk in stream:
            # The gateway's receipt chunk has `choices: []` and `paywire_receipt`, an extra
            # field the SDK keeps in model_extra.
            if chunk.choices:
                streamed += chunk.choices[0].delta.content or ""
            extra = chunk.model_extra or {}
            if "paywire_receipt" in extra:
                streamed_receipt = extra["paywire_receipt"]
        out = {
            "content": data.choices[0].message.content,
            "charge": raw.headers.get("x-paywire-charge"),
            "balance": raw.headers.get("x-paywire-balance"),
            "streamed": streamed,
            "receipt": (data.model_extra or {}).get("paywire_receipt"),
            "streamedReceipt": streamed_receipt,
        }
        if paying:
            from x402.http.utils import decode_payment_response_header

            header = raw.headers.get("payment-response")
            out["paymentResponse"] = (
                decode_payment_response_header(header).model_dump(by_alias=True, exclude_none=True)
                if header
                else None
            )
        print(json.dumps(out))
    except openai.APIStatusError as error:
        # str(error) is what users see: "Error code: 401 - <error.message>"; the message part
        # only when the body is {"error": {"message": "..."}} (an x402 402's string `error`
        # stays in error.body only).
        print(json.dumps({"status": error.status_code, "error": str(error), "body": error.body}))
    except Exception as error:  # as openai.mjs: any error is printed, not raised
        # (a connection error, or the x402 transport's PaymentError — e.g. no accepts[] entry
        # passes the spend controls — which reaches the caller unwrapped by the OpenAI SDK)
        print(json.dumps({"status": None, "error": f"{type(error).__name__}: {error}"}))
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
