//! Email bodies are sealed at rest: a passcode email's body is the only place a
//! live code exists in clear, so the outbox stores it encrypted
//! (ChaCha20-Poly1305, key derived from the server key, bound to the message
//! id) and only the worker opens it, just before handing it to the transport.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use domain::ids::MessageId;
use domain::otp::SecretKey;
use rand::RngCore;

const PREFIX: &str = "sealed:v1:";

fn cipher(key: &SecretKey) -> ChaCha20Poly1305 {
    let k = key.mac("outbox-body", &[]);
    ChaCha20Poly1305::new(Key::from_slice(&k))
}

/// Encrypts a body for the outbox row of message `id`.
pub fn seal(key: &SecretKey, id: MessageId, body: &str) -> String {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let payload = Payload {
        msg: body.as_bytes(),
        aad: id.0.as_bytes(),
    };
    match cipher(key).encrypt(Nonce::from_slice(&nonce), payload) {
        Ok(ct) => {
            let mut out = nonce.to_vec();
            out.extend_from_slice(&ct);
            format!("{PREFIX}{}", STANDARD.encode(out))
        }
        // Encryption of an in-memory buffer cannot fail; never store clear text.
        Err(_) => String::new(),
    }
}

/// Decrypts a sealed body; `None` if it was not sealed with this key for this message.
pub fn open(key: &SecretKey, id: MessageId, stored: &str) -> Option<String> {
    let raw = STANDARD.decode(stored.strip_prefix(PREFIX)?).ok()?;
    if raw.len() < 12 {
        return None;
    }
    let (nonce, ct) = raw.split_at(12);
    let payload = Payload {
        msg: ct,
        aad: id.0.as_bytes(),
    };
    let plain = cipher(key)
        .decrypt(Nonce::from_slice(nonce), payload)
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bodies_open_only_with_their_key_and_message() {
        let key = SecretKey::new(vec![1u8; 32]).unwrap();
        let id = MessageId::random();
        let sealed = seal(&key, id, "Your code is 123456");
        assert!(!sealed.contains("123456"));
        assert_eq!(
            open(&key, id, &sealed).as_deref(),
            Some("Your code is 123456")
        );
        assert_eq!(open(&key, MessageId::random(), &sealed), None);
        assert_eq!(
            open(&SecretKey::new(vec![2u8; 32]).unwrap(), id, &sealed),
            None
        );
        assert_eq!(open(&key, id, "Your code is 123456"), None);
    }
}
