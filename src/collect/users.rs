//! User names for socket uids, from the system's user database (NSS, so LDAP/sssd users
//! resolve too), cached per uid.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct UserNames {
    cache: HashMap<u32, Option<Arc<[u8]>>>,
}

impl UserNames {
    /// The name's bytes, as the user database has them: not assumed to be UTF-8. One
    /// copy per uid, shared by all its sockets.
    pub fn name(&mut self, uid: u32) -> Option<Arc<[u8]>> {
        self.cache
            .entry(uid)
            .or_insert_with(|| lookup(uid).map(Arc::from))
            .clone()
    }
}

/// Each listener's user name.
pub fn name(listeners: &mut [crate::socket::Listener]) {
    let mut users = UserNames::default();
    for listener in listeners {
        listener.user = users.name(listener.uid);
    }
}

fn lookup(uid: u32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `passwd` is plain data that getpwuid_r fills in; its string pointers
        // point into `buf`, which outlives every use of them below.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name is a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_bytes().to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_root() {
        assert_eq!(UserNames::default().name(0).as_deref(), Some(&b"root"[..]));
    }

    #[test]
    fn unknown_uid_has_no_name() {
        assert_eq!(UserNames::default().name(4_000_000_000), None);
    }
}
