//! Quotes: a price bound to one model and amount, valid until a deadline, signed with the
//! gateway's key so any gateway process can check it without shared state. The quote id
//! travels in the payment (the Solana memo, `extra.quote` on Base) and is unique per charge.
//!
//! It is kept short — `<nonce>.<expiry, base 36>.<80-bit MAC>`, about 30 characters —
//! because the Memo program spends ~380 compute units per byte and x402 clients budget
//! 20,000 units for the whole payment.
//!
//! The same key signs the nonces of sign-in challenges, so a sign-in proves it answers one of
//! our challenges (not a message signed long ago) without storing what was issued.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use x402::{Reason, Rejection};

/// Unix seconds: what quote deadlines are written in.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Clone)]
pub struct QuoteSigner {
    key: Vec<u8>,
}

const MAC_BYTES: usize = 10;

impl QuoteSigner {
    pub fn new(key: &[u8]) -> Self {
        QuoteSigner { key: key.to_vec() }
    }

    fn mac(&self, nonce: &str, expires: u64, model: &str, amount: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("quote|{nonce}|{expires}|{model}|{amount}").as_bytes());
        mac
    }

    /// A new quote id for `amount` of `model`, valid until `expires` (unix seconds).
    pub fn issue(&self, model: &str, amount: u64, expires: u64) -> String {
        let nonce = bs58::encode(rand::random::<[u8; 6]>()).into_string();
        let mac = self
            .mac(&nonce, expires, model, amount)
            .finalize()
            .into_bytes();
        format!(
            "{nonce}.{}.{}",
            base36(expires),
            bs58::encode(&mac[..MAC_BYTES]).into_string()
        )
    }

    /// Checks that `id` is our quote for `amount` of `model` and has not expired at `now`.
    pub fn check(&self, id: &str, model: &str, amount: u64, now: u64) -> Result<(), Rejection> {
        let invalid = || {
            Rejection::new(
                Reason::InvalidQuote,
                "the payment's quote was not issued by this gateway for this request; request a new 402",
            )
        };
        let mut parts = id.split('.');
        let (Some(nonce), Some(expires), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let expires = u64::from_str_radix(expires, 36).map_err(|_| invalid())?;
        let mac = bs58::decode(mac).into_vec().map_err(|_| invalid())?;
        if mac.len() != MAC_BYTES {
            return Err(invalid());
        }
        // Compared in constant time by the MAC itself.
        self.mac(nonce, expires, model, amount)
            .verify_truncated_left(&mac)
            .map_err(|_| invalid())?;
        if now > expires {
            return Err(Rejection::new(
                Reason::QuoteExpired,
                "the quote has expired; request a new 402 and pay again",
            ));
        }
        Ok(())
    }
}

impl QuoteSigner {
    fn nonce_mac(&self, random: &[u8], expires: u32) -> [u8; NONCE_MAC_BYTES] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"sign-in|");
        mac.update(random);
        mac.update(&expires.to_be_bytes());
        let full = mac.finalize().into_bytes();
        full[..NONCE_MAC_BYTES].try_into().expect("long enough")
    }

    /// A sign-in nonce valid until `expires` (unix seconds): 32 hex characters, as x402's
    /// sign-in-with-x and EIP-4361 write nonces.
    pub fn issue_nonce(&self, expires: u64) -> String {
        let random: [u8; 6] = rand::random();
        let expires = u32::try_from(expires).unwrap_or(u32::MAX);
        let mut bytes = random.to_vec();
        bytes.extend(expires.to_be_bytes());
        bytes.extend(self.nonce_mac(&random, expires));
        alloy::hex::encode(bytes)
    }

    /// When `nonce` expires, if this gateway's key issued it.
    pub fn nonce_expiry(&self, nonce: &str) -> Option<u64> {
        // Only the spelling issued (32 lowercase hex digits): one nonce, one ledger key.
        let canonical = nonce.len() == 32
            && nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !canonical {
            return None;
        }
        let bytes = alloy::hex::decode(nonce).ok()?;
        let (random, rest) = bytes.split_at_checked(6)?;
        let (expires, mac) = rest.split_at_checked(4)?;
        let expires = u32::from_be_bytes(expires.try_into().ok()?);
        // Constant time is not needed for a value the client already holds, but costs nothing.
        let expected = self.nonce_mac(random, expires);
        (mac.len() == NONCE_MAC_BYTES
            && expected
                .iter()
                .zip(mac)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0)
            .then_some(u64::from(expires))
    }
}

const NONCE_MAC_BYTES: usize = 6;

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_ours_only_as_issued() {
        let signer = QuoteSigner::new(b"key");
        let nonce = signer.issue_nonce(1_000);
        assert_eq!(nonce.len(), 32);
        assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(signer.nonce_expiry(&nonce), Some(1_000));
        assert_eq!(
            signer.nonce_expiry(&nonce.to_uppercase()),
            None,
            "one spelling"
        );
        assert_eq!(signer.nonce_expiry(&format!("0x{nonce}")), None);
        assert_eq!(QuoteSigner::new(b"other").nonce_expiry(&nonce), None);
        let mut later = alloy::hex::decode(&nonce).unwrap();
        later[9] = later[9].wrapping_add(1);
        assert_eq!(signer.nonce_expiry(&alloy::hex::encode(later)), None);
        assert_eq!(
            signer.nonce_expiry("a1b2c3d4e5f67890a1b2c3d4e5f67890"),
            None
        );
    }

    #[test]
    fn a_quote_checks_for_its_model_and_amount_until_it_expires() {
        let signer = QuoteSigner::new(b"key");
        let id = signer.issue("alpha", 2090, 1_000);
        assert!(id.len() <= 32, "{id} is short enough for a memo");
        assert_eq!(signer.check(&id, "alpha", 2090, 999), Ok(()));
        assert_eq!(
            signer.check(&id, "alpha", 2089, 999).unwrap_err().code,
            Reason::InvalidQuote
        );
        assert_eq!(
            signer.check(&id, "beta", 2090, 999).unwrap_err().code,
            Reason::InvalidQuote
        );
        assert_eq!(
            signer.check(&id, "alpha", 2090, 1_001).unwrap_err().code,
            Reason::QuoteExpired
        );
        assert_eq!(
            QuoteSigner::new(b"other")
                .check(&id, "alpha", 2090, 999)
                .unwrap_err()
                .code,
            Reason::InvalidQuote
        );
        assert_eq!(
            signer
                .check("not.a.quote", "alpha", 2090, 999)
                .unwrap_err()
                .code,
            Reason::InvalidQuote
        );
    }
}
