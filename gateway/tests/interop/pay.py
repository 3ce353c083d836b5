"""Pays for one chat completion with the official x402 Python SDK (`x402`, its httpx client,
with the exact SVM or EVM scheme) and prints {status, paymentResponse, body} as JSON — the
Python twin of pay.mjs, with the same arguments:

  python pay.py <url> solana <keypair.json> <solana rpc url> <request json> <network> <usdc>
  python pay.py <url> base <0xprivate key> - <request json> <network> <usdc>

With `v1` after the chain (`solana-v1`, `base-v1`) the SDK pays as an x402 v1 client: the
gateway's offer for that network is put in a v1 402 (`maxAmountRequired`, v1 network names) as
a v1 server would send it, the SDK signs a v1 payload and sends it in `X-PAYMENT`; the answer's
`X-PAYMENT-RESPONSE` is printed as paymentResponse.
"""

import asyncio
import json
import sys
import warnings

# solana-py's sync Client (used by the SDK's SVM scheme) warns it is deprecated.
warnings.filterwarnings("ignore", category=FutureWarning)

from x402 import SchemeRegistration, x402ClientConfig
from x402.http.clients.httpx import wrapHttpxWithPaymentFromConfig
from x402.http.utils import decode_payment_response_header


def scheme(chain: str, key: str, rpc_url: str) -> SchemeRegistration:
    if chain == "solana":
        from solders.keypair import Keypair
        from x402.mechanisms.svm import KeypairSigner
        from x402.mechanisms.svm.exact import ExactSvmScheme

        with open(key, encoding="utf-8") as f:
            keypair = Keypair.from_bytes(bytes(json.load(f)))
        # rpc_url: the SDK otherwise uses the public RPC of the network id (devnet here).
        return SchemeRegistration(
            network="solana:*", client=ExactSvmScheme(KeypairSigner(keypair), rpc_url=rpc_url)
        )
    if chain == "base":
        from eth_account import Account
        from x402.mechanisms.evm.exact import ExactEvmScheme

        # A LocalAccount is wrapped in EthAccountSigner by the scheme; EIP-3009 signing needs
        # no RPC (the EIP-712 domain comes from accepts[].extra.name/version).
        return SchemeRegistration(network="eip155:*", client=ExactEvmScheme(Account.from_key(key)))
    raise SystemExit(f"unknown chain {chain!r}: solana or base")


# The v1 names of the networks the gateway offers.
V1_NETWORKS = {
    "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1": "solana-devnet",
    "eip155:84532": "base-sepolia",
}


async def pay_v1(
    url: str, chain: str, key: str, rpc_url: str, request: str, network: str, usdc: str
) -> None:
    import httpx
    from x402 import x402Client
    from x402.http.utils import decode_payment_required_header, decode_payment_response_header
    from x402.http.x402_http_client import x402HTTPClient
    from x402.schemas.v1 import PaymentRequiredV1

    client = x402Client()
    if chain == "solana":
        from solders.keypair import Keypair
        from x402.mechanisms.svm import KeypairSigner
        from x402.mechanisms.svm.exact.register import register_exact_svm_client

        with open(key, encoding="utf-8") as f:
            keypair = Keypair.from_bytes(bytes(json.load(f)))
        register_exact_svm_client(client, KeypairSigner(keypair), rpc_url=rpc_url)
    else:
        from eth_account import Account
        from x402.mechanisms.evm import EthAccountSigner
        from x402.mechanisms.evm.exact.register import register_exact_evm_client

        register_exact_evm_client(client, EthAccountSigner(Account.from_key(key)))
    # The local USDC allowed by address (under the v1 network name), with a cap per payment.
    client.set_spend_controls(
        {
            "allowed_assets": [
                {"network": V1_NETWORKS[network], "asset": usdc, "max_amount_per_payment": "1000000"}
            ]
        }
    )
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=120) as http:
        first = await http.post(url, content=request, headers=headers)
        offered = decode_payment_required_header(first.headers["payment-required"])
        offer = next(a for a in offered.accepts if a.network == network)
        as_v1 = offer.model_dump(by_alias=True, exclude_none=True)
        as_v1.update(
            network=V1_NETWORKS[network],
            maxAmountRequired=as_v1.pop("amount"),
            resource=offered.resource.url,
            description=offered.resource.description or "",
            mimeType=offered.resource.mime_type or "application/json",
        )
        payload = await client.create_payment_payload(PaymentRequiredV1(accepts=[as_v1]))
        paid = x402HTTPClient(client).encode_payment_signature_header(payload)
        response = await http.post(url, content=request, headers={**headers, **paid})
        header = response.headers.get("x-payment-response")
        print(
            json.dumps(
                {
                    "status": response.status_code,
                    "sent": list(paid),
                    "paymentResponse": (
                        decode_payment_response_header(header).model_dump(
                            by_alias=True, exclude_none=True
                        )
                        if header
                        else None
                    ),
                    "body": response.json(),
                }
            )
        )


async def main() -> None:
    url, chain, key, rpc_url, request, network, usdc = sys.argv[1:8]
    if chain.endswith("-v1"):
        await pay_v1(url, chain.removesuffix("-v1"), key, rpc_url, request, network, usdc)
        return
    config = x402ClientConfig(
        # One chain's scheme only: the other chain's offer in accepts[] is skipped.
        schemes=[scheme(chain, key, rpc_url)],
        # The local USDC is not one of the SDK's default assets: allow it by address, with a
        # per-payment cap in atomic units as an agent would set one.
        spend_controls={
            "allowed_assets": [
                {"network": network, "asset": usdc, "max_amount_per_payment": "1000000"}
            ]
        },
    )
    async with wrapHttpxWithPaymentFromConfig(config, timeout=120) as http:
        response = await http.post(
            url, content=request, headers={"content-type": "application/json"}
        )
        header = response.headers.get("payment-response")
        payment_response = (
            decode_payment_response_header(header).model_dump(by_alias=True, exclude_none=True)
            if header
            else None
        )
        print(
            json.dumps(
                {
                    "status": response.status_code,
                    "paymentResponse": payment_response,
                    "body": response.json(),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
