//! BPF programs that steer packets from outside, read with the bpf(2) syscall (root:
//! CAP_SYS_ADMIN, or CAP_BPF and CAP_NET_ADMIN).
//!
//! - sk_lookup programs are attached to a namespace by a BPF link (type `netns`, attach
//!   type `sk_lookup`): the links are walked once for the whole host (BPF_LINK_GET_NEXT_ID)
//!   and each belongs to the namespace whose inode its info names. The sockets such a
//!   program can pick are the values of its SOCKMAP/SOCKHASH maps, which a lookup from
//!   userspace returns as socket cookies (Linux 5.7 and later, for maps with 8-byte
//!   values): the same cookies sock_diag gives each socket.
//! - tcx programs (Linux 6.6) on a device's ingress, and a netkit device's programs, are
//!   asked per device (BPF_PROG_QUERY, inside the namespace: an ifindex is the
//!   namespace's).
//! - XDP programs come with the interface dump; tc's classic filters with their own
//!   dump; here they only get their names.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::describe_io;
use crate::network::SkLookup;

// <linux/bpf.h>
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_GET_NEXT_KEY: u32 = 4;
const BPF_PROG_GET_FD_BY_ID: u32 = 13;
const BPF_MAP_GET_FD_BY_ID: u32 = 14;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_PROG_QUERY: u32 = 16;
const BPF_LINK_GET_FD_BY_ID: u32 = 30;
const BPF_LINK_GET_NEXT_ID: u32 = 31;
const BPF_LINK_TYPE_NETNS: u32 = 5;
const BPF_SK_LOOKUP: u32 = 36;
pub const BPF_TCX_INGRESS: u32 = 46;
pub const BPF_NETKIT_PRIMARY: u32 = 54;
pub const BPF_NETKIT_PEER: u32 = 55;
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;
const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
const BPF_MAP_TYPE_SOCKHASH: u32 = 18;
/// Room for the kernel's attribute union as far as we use it; the rest stays zero.
const ATTR_LEN: usize = 128;
/// Room for struct bpf_prog_info / bpf_map_info / bpf_link_info up to the fields read.
const INFO_LEN: usize = 256;
/// A SOCKMAP larger than this is not read slot by slot: its program may pick any socket.
const MAX_SLOTS: u32 = 1 << 16;

/// A bpf(2) failure: the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    fn describe(self) -> String {
        describe_io(&io::Error::from_raw_os_error(self.0))
    }

    /// Not allowed: the whole reading is then refused, not just one object.
    pub fn refused(self) -> bool {
        matches!(self.0, libc::EPERM | libc::EACCES)
    }
}

fn bpf(cmd: u32, attr: &mut [u8; ATTR_LEN]) -> Result<i64, Errno> {
    // SAFETY: bpf(2) with an attribute buffer we own, its size passed; every pointer
    // written into it points at a live buffer of ours of the length written beside it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr.as_mut_ptr(),
            ATTR_LEN as libc::c_long,
        )
    };
    if rc < 0 {
        Err(Errno(
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    } else {
        Ok(rc)
    }
}

fn put_u32(attr: &mut [u8], at: usize, value: u32) {
    attr[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(attr: &mut [u8], at: usize, value: u64) {
    attr[at..at + 8].copy_from_slice(&value.to_ne_bytes());
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The next id after `start` of BPF_{PROG,MAP,LINK}_GET_NEXT_ID; `None` at the end.
fn next_id(cmd: u32, start: u32) -> Result<Option<u32>, Errno> {
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, start);
    match bpf(cmd, &mut attr) {
        Ok(_) => Ok(Some(get_u32(&attr, 4))),
        // The end; or a kernel without bpf(2) (CONFIG_BPF_SYSCALL), which runs none.
        Err(Errno(libc::ENOENT | libc::ENOSYS)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An fd for the object with this id (BPF_*_GET_FD_BY_ID).
fn fd_by_id(cmd: u32, id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, id);
    let fd = bpf(cmd, &mut attr)?;
    // SAFETY: a fresh descriptor the kernel just gave us, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_OBJ_GET_INFO_BY_FD into `info`, whose input fields the caller has set.
fn info(fd: &OwnedFd, info: &mut [u8; INFO_LEN]) -> Result<(), Errno> {
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, fd.as_raw_fd() as u32);
    put_u32(&mut attr, 4, INFO_LEN as u32);
    put_u64(&mut attr, 8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).map(|_| ())
}

/// A program's name and the ids of the maps it uses.
fn program(id: u32) -> Result<(String, Vec<u32>), Errno> {
    let fd = fd_by_id(BPF_PROG_GET_FD_BY_ID, id)?;
    let mut maps = vec![0u32; 16];
    loop {
        let mut buffer = [0u8; INFO_LEN];
        // nr_map_ids (52) and map_ids (56): room for this many ids.
        put_u32(&mut buffer, 52, maps.len() as u32);
        put_u64(&mut buffer, 56, maps.as_mut_ptr() as u64);
        info(&fd, &mut buffer)?;
        let count = get_u32(&buffer, 52) as usize;
        if count > maps.len() {
            maps = vec![0; count];
            continue;
        }
        maps.truncate(count);
        // name[BPF_OBJ_NAME_LEN] at 64.
        return Ok((c_name(&buffer[64..80]), maps));
    }
}

/// A program's name (what `bpftool prog` shows), by id.
pub fn program_name(id: u32) -> Result<String, Errno> {
    program(id).map(|(name, _)| name)
}

fn c_name(bytes: &[u8]) -> String {
    let name = bytes.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

/// Every sk_lookup program attached to a namespace, with the namespace's inode; `Ok`
/// and empty at once when the host has no BPF link at all.
pub fn sk_lookup_links() -> Result<Vec<(u64, SkLookup)>, String> {
    let refused = |e: Errno| {
        if e.refused() {
            "reading BPF links needs root (CAP_SYS_ADMIN)".to_string()
        } else {
            format!("cannot list BPF links: {}", e.describe())
        }
    };
    let mut found = Vec::new();
    let mut id = 0;
    while let Some(next) = next_id(BPF_LINK_GET_NEXT_ID, id).map_err(refused)? {
        id = next;
        let fd = match fd_by_id(BPF_LINK_GET_FD_BY_ID, id) {
            Ok(fd) => fd,
            // Detached meanwhile.
            Err(Errno(libc::ENOENT)) => continue,
            Err(e) => return Err(refused(e)),
        };
        let mut buffer = [0u8; INFO_LEN];
        info(&fd, &mut buffer).map_err(refused)?;
        // struct bpf_link_info: type, id, prog_id, then (8-aligned) netns_ino, attach_type.
        let (kind, program_id) = (get_u32(&buffer, 0), get_u32(&buffer, 8));
        let (netns, attach) = (get_u32(&buffer, 16), get_u32(&buffer, 20));
        if kind != BPF_LINK_TYPE_NETNS || attach != BPF_SK_LOOKUP {
            continue;
        }
        let (name, cookies) = match program(program_id) {
            Ok((name, maps)) => (name, cookies(&maps)),
            Err(Errno(libc::ENOENT)) => continue,
            Err(e) => return Err(refused(e)),
        };
        found.push((
            u64::from(netns),
            SkLookup {
                program_id,
                name,
                cookies,
            },
        ));
    }
    Ok(found)
}

/// The socket cookies held by the SOCKMAP/SOCKHASH maps among `maps`: the sockets the
/// program can assign. `None` when one cannot be read whole, or when the program holds
/// maps of maps (whose inner maps may hold any socket).
fn cookies(maps: &[u32]) -> Option<Vec<u64>> {
    let mut all = Vec::new();
    for &id in maps {
        let fd = fd_by_id(BPF_MAP_GET_FD_BY_ID, id).ok()?;
        let mut buffer = [0u8; INFO_LEN];
        info(&fd, &mut buffer).ok()?;
        // struct bpf_map_info: type, id, key_size, value_size, max_entries.
        let (kind, key_size, value_size, slots) = (
            get_u32(&buffer, 0),
            get_u32(&buffer, 8),
            get_u32(&buffer, 12),
            get_u32(&buffer, 16),
        );
        match kind {
            BPF_MAP_TYPE_ARRAY_OF_MAPS | BPF_MAP_TYPE_HASH_OF_MAPS => return None,
            BPF_MAP_TYPE_SOCKMAP | BPF_MAP_TYPE_SOCKHASH => {}
            _ => continue,
        }
        // Only a map of 8-byte values answers a lookup with the cookie; 4-byte ones say
        // ENOSPC. Keys of a SOCKMAP are u32 slots.
        if value_size != 8 || key_size == 0 || key_size > 64 || slots > MAX_SLOTS {
            return None;
        }
        all.extend(map_values(&fd, key_size as usize)?);
    }
    all.sort_unstable();
    all.dedup();
    Some(all)
}

/// Every value of a map of u64 values, walking its keys; `None` on any error but an
/// empty slot.
fn map_values(fd: &OwnedFd, key_size: usize) -> Option<Vec<u64>> {
    let mut values = Vec::new();
    let mut key = vec![0u8; key_size];
    let mut next = vec![0u8; key_size];
    let mut first = true;
    loop {
        let mut attr = [0u8; ATTR_LEN];
        put_u32(&mut attr, 0, fd.as_raw_fd() as u32);
        // The first call passes no key: the map's first.
        if !first {
            put_u64(&mut attr, 8, key.as_ptr() as u64);
        }
        put_u64(&mut attr, 16, next.as_mut_ptr() as u64);
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => {}
            Err(Errno(libc::ENOENT)) => return Some(values),
            Err(_) => return None,
        }
        first = false;
        key.copy_from_slice(&next);
        let mut value = [0u8; 8];
        let mut attr = [0u8; ATTR_LEN];
        put_u32(&mut attr, 0, fd.as_raw_fd() as u32);
        put_u64(&mut attr, 8, key.as_ptr() as u64);
        put_u64(&mut attr, 16, value.as_mut_ptr() as u64);
        match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => values.push(u64::from_ne_bytes(value)),
            // An empty SOCKMAP slot, or a socket gone meanwhile.
            Err(Errno(libc::ENOENT)) => {}
            Err(_) => return None,
        }
    }
}

/// The programs attached to a device of the calling thread's namespace with this attach
/// type (tcx ingress, netkit); empty where the kernel has no such attach type.
pub fn attached(ifindex: u32, attach_type: u32) -> Result<Vec<u32>, Errno> {
    let mut ids = vec![0u32; 64];
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, ifindex);
    put_u32(&mut attr, 4, attach_type);
    put_u64(&mut attr, 16, ids.as_mut_ptr() as u64);
    put_u32(&mut attr, 24, ids.len() as u32);
    match bpf(BPF_PROG_QUERY, &mut attr) {
        Ok(_) => {}
        // Before Linux 6.6 (tcx) or 6.7 (netkit): no such attach type, so nothing on it;
        // without bpf(2) at all, nothing anywhere.
        Err(Errno(libc::EINVAL | libc::EOPNOTSUPP | libc::ENODEV | libc::ENOSYS)) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    }
    ids.truncate((get_u32(&attr, 24) as usize).min(64));
    Ok(ids)
}
