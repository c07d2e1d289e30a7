//! For tests (root): load and attach tiny BPF programs with the bpf(2) syscall, no
//! compiler, no bpftool. Each object is an fd; closing it detaches a link and frees a
//! program or map nothing else holds, so a failed test leaves nothing behind.
//!
//! Plain std and libc only, so that the integration tests can include this file too
//! (`#[path = "../src/collect/network/testbpf.rs"] mod testbpf;`).
#![allow(dead_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_PROG_LOAD: u32 = 5;
const BPF_LINK_CREATE: u32 = 28;
const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_PROG_TYPE_SK_LOOKUP: u32 = 30;
pub const BPF_SK_LOOKUP: u32 = 36;
pub const BPF_XDP: u32 = 37;
pub const BPF_TCX_INGRESS: u32 = 46;

fn bpf(cmd: u32, attr: &mut [u8; 128]) -> io::Result<OwnedFd> {
    // SAFETY: bpf(2) with a zeroed attribute buffer we own; the pointers in it point at
    // buffers that live across the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd as libc::c_long, attr.as_mut_ptr(), 128) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd from the kernel, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

fn put(attr: &mut [u8], at: usize, bytes: &[u8]) {
    attr[at..at + bytes.len()].copy_from_slice(bytes);
}

/// One instruction: opcode, registers, offset, immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = if cfg!(target_endian = "little") {
        dst | src << 4
    } else {
        dst << 4 | src
    };
    b[2..4].copy_from_slice(&off.to_ne_bytes());
    b[4..8].copy_from_slice(&imm.to_ne_bytes());
    b
}

/// `r0 = value; exit`.
fn returns(value: i32) -> Vec<[u8; 8]> {
    vec![insn(0xb7, 0, 0, 0, value), insn(0x95, 0, 0, 0, 0)]
}

fn load(kind: u32, attach: u32, name: &str, insns: &[[u8; 8]]) -> io::Result<OwnedFd> {
    let code: Vec<u8> = insns.iter().flatten().copied().collect();
    let license = b"GPL\0";
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &kind.to_ne_bytes());
    put(&mut attr, 4, &(insns.len() as u32).to_ne_bytes());
    put(&mut attr, 8, &(code.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 16, &(license.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 48, &name.as_bytes()[..name.len().min(15)]);
    put(&mut attr, 68, &attach.to_ne_bytes());
    bpf(BPF_PROG_LOAD, &mut attr)
}

/// An XDP program that passes every packet.
pub fn xdp_pass(name: &str) -> io::Result<OwnedFd> {
    load(BPF_PROG_TYPE_XDP, 0, name, &returns(2))
}

/// A tc (tcx) program that passes every packet on (TCX_NEXT).
pub fn tc_next(name: &str) -> io::Result<OwnedFd> {
    load(BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, name, &returns(-1))
}

/// A SOCKMAP of `slots` sockets with 8-byte values (a lookup from userspace then gives
/// the socket's cookie).
pub fn sockmap(slots: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &BPF_MAP_TYPE_SOCKMAP.to_ne_bytes());
    put(&mut attr, 4, &4u32.to_ne_bytes());
    put(&mut attr, 8, &8u32.to_ne_bytes());
    put(&mut attr, 12, &slots.to_ne_bytes());
    bpf(BPF_MAP_CREATE, &mut attr)
}

/// Put the socket `socket` (a listening TCP or bound UDP socket's fd) in `slot`.
pub fn sockmap_put(map: &OwnedFd, slot: u32, socket: &impl AsRawFd) -> io::Result<()> {
    let key = slot;
    let value = socket.as_raw_fd() as u64;
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(map.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 8, &(&raw const key as u64).to_ne_bytes());
    put(&mut attr, 16, &(&raw const value as u64).to_ne_bytes());
    // SAFETY: as in `bpf`; this command returns 0, not an fd.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_UPDATE_ELEM as libc::c_long,
            attr.as_mut_ptr(),
            128,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An sk_lookup program that assigns every lookup the socket in slot 0 of `map`, when
/// there is one (test_sk_lookup.c's `select_sock_a`).
pub fn sk_lookup_slot0(name: &str, map: &OwnedFd) -> io::Result<OwnedFd> {
    let fd = map.as_raw_fd();
    let program = [
        insn(0xbf, 6, 1, 0, 0),  // r6 = ctx
        insn(0x18, 1, 1, 0, fd), // r1 = map (BPF_PSEUDO_MAP_FD)
        insn(0, 0, 0, 0, 0),
        insn(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
        insn(0xbf, 2, 10, 0, 0),  // r2 = r10
        insn(0x07, 2, 0, 0, -4),  // r2 += -4
        insn(0x85, 0, 0, 0, 1),   // r0 = bpf_map_lookup_elem(r1, r2)
        insn(0x15, 0, 0, 7, 0),   // if r0 == 0 goto pass
        insn(0xbf, 7, 0, 0, 0),   // r7 = r0
        insn(0xbf, 1, 6, 0, 0),   // r1 = ctx
        insn(0xbf, 2, 7, 0, 0),   // r2 = sk
        insn(0xb7, 3, 0, 0, 0),   // r3 = 0
        insn(0x85, 0, 0, 0, 124), // bpf_sk_assign(ctx, sk, 0)
        insn(0xbf, 1, 7, 0, 0),   // r1 = sk
        insn(0x85, 0, 0, 0, 86),  // bpf_sk_release(sk)
        insn(0xb7, 0, 0, 0, 1),   // pass: r0 = SK_PASS
        insn(0x95, 0, 0, 0, 0),   // exit
    ];
    load(BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP, name, &program)
}

/// Attach `program` by a link: to the namespace of `target` (an fd of its nsfs file) for
/// sk_lookup, or to the device with index `target` of the calling thread's namespace for
/// XDP and tcx. The link lasts as long as the returned fd.
pub fn link(program: &OwnedFd, target: u32, attach: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(program.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 4, &target.to_ne_bytes());
    put(&mut attr, 8, &attach.to_ne_bytes());
    bpf(BPF_LINK_CREATE, &mut attr)
}
