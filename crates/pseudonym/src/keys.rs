//! The scheme secret and the per-purpose keys derived from it.

use ring::{hkdf, hmac};

use crate::{Error, Result};

/// The partnership's scheme secret for one key epoch. Held by the key
/// custodian and the agencies; never by the node.
#[derive(Clone)]
pub struct SchemeSecret {
    epoch: u32,
    secret: [u8; 32],
}

impl std::fmt::Debug for SchemeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemeSecret").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

impl SchemeSecret {
    /// A secret from 32 bytes of key material.
    pub fn new(epoch: u32, secret: [u8; 32]) -> SchemeSecret {
        SchemeSecret { epoch, secret }
    }

    /// The key epoch this secret belongs to.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Reads the secret file: `epoch = N` and `secret = "<64 hex digits>"`
    /// lines (TOML).
    pub fn parse(text: &str) -> Result<SchemeSecret> {
        let mut epoch = None;
        let mut secret = None;
        // Nothing of the file is quoted: given the wrong file, a line is
        // someone's identity (or, moved, the secret itself).
        for (number, line) in text.lines().map(str::trim).enumerate() {
            let line_number = number + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(Error::Secret(format!("line {line_number} is not a `name = value` line")));
            };
            let value = value.trim().trim_matches('"');
            let twice = || Error::Secret(format!("line {line_number} sets {} a second time", name.trim()));
            match name.trim() {
                "epoch" if epoch.is_some() => return Err(twice()),
                "secret" if secret.is_some() => return Err(twice()),
                "epoch" => {
                    epoch = Some(value.parse::<u32>().ok().filter(|e| *e >= 1).ok_or_else(|| Error::Secret("epoch is not a whole number from 1".to_owned()))?)
                }
                "secret" => secret = Some(decode_hex_32(value)?),
                _ => return Err(Error::Secret(format!("line {line_number} is not a setting of a scheme secret (epoch, secret)"))),
            }
        }
        match (epoch, secret) {
            (_, Some(secret)) if secret.iter().all(|b| *b == 0) => Err(Error::Secret("the secret is all zeros, which is no secret".to_owned())),
            (Some(epoch), Some(secret)) => Ok(SchemeSecret { epoch, secret }),
            (None, _) => Err(Error::Secret("no epoch".to_owned())),
            (_, None) => Err(Error::Secret("no secret".to_owned())),
        }
    }

    /// The file form read by [`SchemeSecret::parse`].
    pub fn to_file_text(&self) -> String {
        let hex: String = self.secret.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "# Braid scheme secret. Keep on agency premises only; never send to the node.\n\
             epoch = {}\nsecret = \"{hex}\"\n",
            self.epoch
        )
    }
}

fn decode_hex_32(text: &str) -> Result<[u8; 32]> {
    let bad = || Error::Secret("secret must be 64 hexadecimal digits".to_owned());
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Output length marker for HKDF expansions of 32 bytes.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// Keys derived from the scheme secret for one agency, one per purpose, so
/// that no two uses share key material.
pub struct Keys {
    pub(crate) match_key: hmac::Key,
    pub(crate) bloom_key: [u8; 32],
    pub(crate) token_key: [u8; 32],
    ref_key: hmac::Key,
    fingerprint: String,
}

impl Keys {
    /// Derives the keys for `agency` (the agency code only scopes its opaque
    /// refs; match keys and encodings are the same for every agency).
    pub fn derive(secret: &SchemeSecret, agency: &str) -> Keys {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"braid scheme v2");
        let prk = salt.extract(&secret.secret);
        let expand = |info: &[u8]| -> [u8; 32] {
            let mut out = [0u8; 32];
            let epoch = secret.epoch.to_be_bytes();
            let parts = [info, &epoch[..]];
            prk.expand(&parts, Len32).and_then(|okm| okm.fill(&mut out)).unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
            out
        };
        let match_key = hmac::Key::new(hmac::HMAC_SHA256, &expand(b"braid/match-key"));
        let bloom_key = expand(b"braid/bloom");
        let token_key = expand(b"braid/field-tokens");
        let ref_info = [b"braid/record-ref/".as_slice(), agency.as_bytes()].concat();
        let ref_key = hmac::Key::new(hmac::HMAC_SHA256, &expand(&ref_info));
        let fingerprint_bytes = expand(b"braid/epoch-fingerprint");
        let fingerprint = format!("e{}-{}", secret.epoch, fingerprint_bytes[..8].iter().map(|b| format!("{b:02x}")).collect::<String>());
        Keys { match_key, bloom_key, token_key, ref_key, fingerprint }
    }

    /// Identifies the epoch (and secret) without revealing anything about it;
    /// the node compares fingerprints to refuse mixed epochs.
    pub fn epoch_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// An opaque, stable ref for one of the agency's local ids (a case id or
    /// a person id), scoped by `kind` so the two never collide.
    pub fn opaque_ref(&self, kind: &str, local_id: &str) -> String {
        let mut context = hmac::Context::with_key(&self.ref_key);
        context.update(kind.as_bytes());
        context.update(&[0x1f]);
        context.update(local_id.trim().as_bytes());
        let tag = context.sign();
        let hex: String = tag.as_ref()[..10].iter().map(|b| format!("{b:02x}")).collect();
        format!("{kind}-{hex}")
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("epoch_fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_through_their_file_form() {
        let secret = SchemeSecret::new(3, [7u8; 32]);
        let parsed = SchemeSecret::parse(&secret.to_file_text()).unwrap();
        assert_eq!(parsed.epoch(), 3);
        assert_eq!(parsed.secret, [7u8; 32]);
        assert!(SchemeSecret::parse("epoch = 1\nsecret = \"abc\"").is_err());
        assert!(SchemeSecret::parse("secret = \"00\"").is_err());
        // A careless file: a setting twice, epoch 0, an all-zero secret, and
        // no line of the file quoted in the error (the wrong file given may
        // be an extract).
        let text = secret.to_file_text();
        for (bad, expected) in [
            (format!("{text}\nepoch = 4\n"), "sets epoch a second time"),
            (text.replace("epoch = 3", "epoch = 0"), "whole number from 1"),
            (SchemeSecret::new(1, [0u8; 32]).to_file_text(), "all zeros"),
            ("Jade Campbell = 16/07/2019\n".to_owned(), "line 1 is not a setting"),
            ("Jade,Campbell,16/07/2019\n".to_owned(), "line 1 is not a `name = value` line"),
        ] {
            let error = SchemeSecret::parse(&bad).expect_err("refused").to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("Jade") && !error.contains("0707"), "{error}");
        }
        // The debug form never shows key material.
        assert!(!format!("{secret:?}").contains("07"));
    }

    #[test]
    fn fingerprints_differ_by_epoch_and_secret_and_refs_by_agency() {
        let a = Keys::derive(&SchemeSecret::new(1, [1u8; 32]), "CSC");
        let b = Keys::derive(&SchemeSecret::new(2, [1u8; 32]), "CSC");
        let c = Keys::derive(&SchemeSecret::new(1, [2u8; 32]), "CSC");
        let d = Keys::derive(&SchemeSecret::new(1, [1u8; 32]), "POL");
        assert_ne!(a.epoch_fingerprint(), b.epoch_fingerprint());
        assert_ne!(a.epoch_fingerprint(), c.epoch_fingerprint());
        assert_eq!(a.epoch_fingerprint(), d.epoch_fingerprint());
        assert!(a.epoch_fingerprint().starts_with("e1-"));
        assert_ne!(a.opaque_ref("case", "123"), d.opaque_ref("case", "123"));
        assert_ne!(a.opaque_ref("case", "123"), a.opaque_ref("person", "123"));
        assert_eq!(a.opaque_ref("case", "123"), a.opaque_ref("case", " 123 "));
    }
}
