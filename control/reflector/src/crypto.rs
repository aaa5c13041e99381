//! Return-routability cryptography (RFC 6275 §5.2.5, §5.2.6) with HMAC-SHA1.

use core::net::Ipv6Addr;

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use wire::mobility;

type HmacSha1 = Hmac<Sha1>;

/// Kcn, the correspondent node's secret key (§5.2.1): 20 bytes.
pub type NodeKey = [u8; 20];
/// A nonce (§5.2.2): 64 bits.
pub type Nonce = [u8; 8];
/// A home or care-of keygen token: First(64, HMAC_SHA1(...)).
pub type KeygenToken = [u8; 8];
/// Kbm, the binding management key: SHA1 output.
pub type BindingManagementKey = [u8; 20];
/// First(96, HMAC_SHA1(Kbm, ...)).
pub type Authenticator = [u8; mobility::AUTHENTICATOR_LEN];

fn hmac(key: &[u8]) -> HmacSha1 {
    // HMAC accepts keys of any length; this cannot fail.
    <HmacSha1 as Mac>::new_from_slice(key).expect("hmac takes any key length")
}

/// Kcn keyed into HMAC-SHA1 once: the key's inner and outer pad blocks are hashed when the
/// key is made (RFC 2104 §4), so each keygen token then costs two SHA-1 blocks, not four.
/// Made with each nonce (`nonces`); tokens equal [`home_keygen_token`] and
/// [`care_of_keygen_token`].
#[derive(Clone)]
pub struct KeygenKey(HmacSha1);

impl KeygenKey {
    pub fn new(kcn: &NodeKey) -> Self {
        KeygenKey(hmac(kcn))
    }

    fn token(&self, addr: &Ipv6Addr, nonce: &Nonce, which: u8) -> KeygenToken {
        let mut m = self.0.clone();
        m.update(&addr.octets());
        m.update(nonce);
        m.update(&[which]);
        let out = m.finalize().into_bytes();
        let mut t = [0u8; 8];
        t.copy_from_slice(&out[..8]);
        t
    }

    /// home keygen token = First(64, HMAC_SHA1(Kcn, home address | nonce | 0)) (§5.2.5).
    pub fn home_token(&self, home: &Ipv6Addr, nonce: &Nonce) -> KeygenToken {
        self.token(home, nonce, 0)
    }

    /// care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1)) (§5.2.5).
    pub fn care_of_token(&self, care_of: &Ipv6Addr, nonce: &Nonce) -> KeygenToken {
        self.token(care_of, nonce, 1)
    }
}

impl core::fmt::Debug for KeygenKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Key material is never printed.
        f.write_str("KeygenKey(..)")
    }
}

/// home keygen token = First(64, HMAC_SHA1(Kcn, home address | nonce | 0)) (§5.2.5).
pub fn home_keygen_token(kcn: &NodeKey, home: &Ipv6Addr, nonce: &Nonce) -> KeygenToken {
    KeygenKey::new(kcn).home_token(home, nonce)
}

/// care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1)) (§5.2.5).
pub fn care_of_keygen_token(kcn: &NodeKey, care_of: &Ipv6Addr, nonce: &Nonce) -> KeygenToken {
    KeygenKey::new(kcn).care_of_token(care_of, nonce)
}

/// Kbm = SHA1(home keygen token | care-of keygen token), or SHA1(home keygen token) for a
/// deregistration (`care_of` = None) (§5.2.5).
pub fn binding_key(home: &KeygenToken, care_of: Option<&KeygenToken>) -> BindingManagementKey {
    let mut h = Sha1::new();
    h.update(home);
    if let Some(c) = care_of {
        h.update(c);
    }
    h.finalize().into()
}

fn authenticator_mac(kbm: &BindingManagementKey, care_of: &Ipv6Addr, correspondent: &Ipv6Addr, mh: &[u8]) -> wire::Result<HmacSha1> {
    let parts = mobility::authenticated_parts(mh)?;
    let mut m = hmac(kbm);
    m.update(&care_of.octets());
    m.update(&correspondent.octets());
    for p in parts {
        m.update(p);
    }
    Ok(m)
}

/// Authenticator = First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH data))
/// (§5.2.6, §6.2.7), MH data being the BU or BA `mh` with the checksum as zero, up to and
/// including the Binding Authorization Data option's type and length.
pub fn authenticator(kbm: &BindingManagementKey, care_of: &Ipv6Addr, correspondent: &Ipv6Addr, mh: &[u8]) -> wire::Result<Authenticator> {
    let out = authenticator_mac(kbm, care_of, correspondent, mh)?.finalize().into_bytes();
    let mut a = [0u8; 12];
    a.copy_from_slice(&out[..12]);
    Ok(a)
}

/// Computes the authenticator of `mh` and stores it in its BAD option. Fill the checksum
/// afterwards.
pub fn sign(mh: &mut [u8], kbm: &BindingManagementKey, care_of: &Ipv6Addr, correspondent: &Ipv6Addr) -> wire::Result<()> {
    let a = authenticator(kbm, care_of, correspondent, mh)?;
    mobility::set_authenticator(mh, &a)
}

/// True when the authenticator in `mh`'s BAD option is right, compared in constant time.
pub fn verify(mh: &[u8], kbm: &BindingManagementKey, care_of: &Ipv6Addr, correspondent: &Ipv6Addr) -> bool {
    let Ok(Some(bad)) = mobility::bad_offset(mh) else { return false };
    let Some(given) = mh.get(bad + 2..bad + 2 + mobility::AUTHENTICATOR_LEN) else { return false };
    match authenticator_mac(kbm, care_of, correspondent, mh) {
        Ok(m) => m.verify_truncated_left(given).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use wire::mobility::{fill_checksum, BindingAck, BindingUpdate};

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    pub(crate) const KCN: NodeKey = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    pub(crate) const HOME_NONCE: Nonce = [0x11; 8];
    pub(crate) const CARE_OF_NONCE: Nonce = [0x22; 8];
    pub(crate) fn hoa() -> Ipv6Addr {
        "2001:db8:1::100".parse().unwrap()
    }
    pub(crate) fn coa() -> Ipv6Addr {
        "2001:db8:2::200".parse().unwrap()
    }
    pub(crate) fn mn2() -> Ipv6Addr {
        "2001:db8:3::300".parse().unwrap()
    }

    #[test]
    fn keygen_tokens_known_answer() {
        assert_eq!(home_keygen_token(&KCN, &hoa(), &HOME_NONCE).to_vec(), hex("c71a754160cffb9a"));
        assert_eq!(care_of_keygen_token(&KCN, &coa(), &CARE_OF_NONCE).to_vec(), hex("e24f4365fdaeafa7"));
    }

    #[test]
    fn keyed_kcn_gives_the_same_tokens_every_time() {
        let k = KeygenKey::new(&KCN);
        for _ in 0..2 {
            assert_eq!(k.home_token(&hoa(), &HOME_NONCE).to_vec(), hex("c71a754160cffb9a"));
            assert_eq!(k.care_of_token(&coa(), &CARE_OF_NONCE).to_vec(), hex("e24f4365fdaeafa7"));
        }
        assert_eq!(format!("{k:?}"), "KeygenKey(..)");
    }

    #[test]
    fn binding_keys_known_answer() {
        let h = home_keygen_token(&KCN, &hoa(), &HOME_NONCE);
        let c = care_of_keygen_token(&KCN, &coa(), &CARE_OF_NONCE);
        assert_eq!(binding_key(&h, Some(&c)).to_vec(), hex("80f42ffbdb0969b40a3a8c131b675650d340f1a4"));
        assert_eq!(binding_key(&h, None).to_vec(), hex("58d846675f1dfd21cce5949d3a1e1a0c2d888dfa"));
    }

    fn kbm() -> BindingManagementKey {
        let h = home_keygen_token(&KCN, &hoa(), &HOME_NONCE);
        let c = care_of_keygen_token(&KCN, &coa(), &CARE_OF_NONCE);
        binding_key(&h, Some(&c))
    }

    #[test]
    fn binding_update_known_answer() {
        let bu = BindingUpdate { seq: 0x10, ack: true, lifetime_units: 100, nonce_indices: Some((1, 2)), has_bad: true, ..Default::default() };
        let mut b = bu.to_bytes();
        sign(&mut b, &kbm(), &coa(), &mn2()).unwrap();
        fill_checksum(&mut b, &hoa(), &mn2()).unwrap();
        assert_eq!(b, hex("3b030500962f001080000064040400010002050c61fbc778180698092476422e"));
        assert!(verify(&b, &kbm(), &coa(), &mn2()));
        assert!(!verify(&b, &kbm(), &hoa(), &mn2()));
        let mut bad = b.clone();
        bad[31] ^= 1;
        assert!(!verify(&bad, &kbm(), &coa(), &mn2()));
    }

    #[test]
    fn binding_ack_known_answer() {
        let ba = BindingAck { status: 0, seq: 0x10, lifetime_units: 100, with_bad: true, ..Default::default() };
        let mut b = ba.to_bytes();
        sign(&mut b, &kbm(), &coa(), &mn2()).unwrap();
        fill_checksum(&mut b, &mn2(), &hoa()).unwrap();
        assert_eq!(b, hex("3b030600da4a000000100064010400000000050cbfc85ae5ca114d879e53ad75"));
    }

    #[test]
    fn verify_refuses_messages_without_bad() {
        let b = BindingAck { status: 0, ..Default::default() }.to_bytes();
        assert!(!verify(&b, &kbm(), &coa(), &mn2()));
        assert!(sign(&mut b.clone(), &kbm(), &coa(), &mn2()).is_err());
    }
}
