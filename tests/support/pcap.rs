//! Classic pcap files (Ethernet link type), read and written whole: the test inputs of
//! `net_pcap` and what it wrote back.

use std::io::{self, Read, Write};
use std::path::Path;

const MAGIC: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;

pub fn write(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    let mut out = Vec::new();
    for v in [
        MAGIC.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
        &0u32.to_le_bytes(),
        &0u32.to_le_bytes(),
        &65535u32.to_le_bytes(),
        &LINKTYPE_ETHERNET.to_le_bytes(),
    ] {
        out.extend_from_slice(v);
    }
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::File::create(path)?.write_all(&out)
}

/// Every frame in the file, in order. A missing file reads as no frames.
pub fn read(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut data = Vec::new();
    match std::fs::File::open(path) {
        Ok(mut f) => f.read_to_end(&mut data)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if data.len() < 24 {
        return Ok(Vec::new());
    }
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let le = match magic {
        MAGIC | MAGIC_NS => true,
        m if m.swap_bytes() == MAGIC || m.swap_bytes() == MAGIC_NS => false,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "not a pcap file")),
    };
    let u32_at = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let caplen = u32_at(&data[off + 8..off + 12]) as usize;
        let start = off + 16;
        if start + caplen > data.len() {
            break;
        }
        frames.push(data[start..start + caplen].to_vec());
        off = start + caplen;
    }
    Ok(frames)
}

/// The (source, destination) of every ICMPv6 echo reply in a capture of an Ethernet link
/// whose IPv6 header is followed by nothing but the ICMPv6 message: the plain packets an
/// IPv6 host without Mobile IPv6 accepts.
pub fn plain_echo_replies(path: &Path) -> io::Result<Vec<(std::net::Ipv6Addr, std::net::Ipv6Addr)>> {
    const ETH: usize = 14;
    let addr = |f: &[u8], at: usize| std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&f[ETH + at..ETH + at + 16]).unwrap());
    Ok(read(path)?
        .into_iter()
        .filter(|f| f.len() > ETH + 40 && f[12..14] == [0x86, 0xdd] && f[ETH + 6] == wire::ipv6::proto::ICMPV6 && f[ETH + 40] == wire::icmpv6::ECHO_REPLY)
        .map(|f| (addr(&f, 8), addr(&f, 24)))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("pcap-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.pcap");
        let frames = vec![vec![1u8; 60], vec![2u8; 1514], vec![]];
        super::write(&p, &frames).unwrap();
        assert_eq!(super::read(&p).unwrap(), frames);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
