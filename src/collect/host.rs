//! What the host hides from us, so that a warning can say why an owner is missing or a
//! uid looks odd: a proc mount with `hidepid`, and a user namespace that maps only some
//! uids. Read from our own /proc/self (the mounts and namespace we run in), whatever
//! `--proc-root` says.

use std::path::{Component, Path, PathBuf};

const MOUNTINFO: &str = "/proc/self/mountinfo";
const UID_MAP: &str = "/proc/self/uid_map";
const OVERFLOW_UID: &str = "/proc/sys/kernel/overflowuid";

/// `hidepid=…` when `proc_root` is a proc mount that hides other users' processes.
pub fn hidepid(proc_root: &Path) -> Option<String> {
    let path = std::fs::canonicalize(proc_root).ok()?;
    let mountinfo = std::fs::read(MOUNTINFO).ok()?;
    hidepid_in(&String::from_utf8_lossy(&mountinfo), &path)
}

/// The `hidepid` option of the mount that `path` lies on, per `mountinfo`, unless it
/// hides nothing (`0`, `off`).
pub fn hidepid_in(mountinfo: &str, path: &Path) -> Option<String> {
    // The mount that holds `path` is the last one listed (mounts stack) on the longest
    // mount point that contains it.
    let mut best: Option<(usize, &str, &str)> = None;
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = before.split(' ').nth(4) else {
            continue;
        };
        let mount_point = unescape(mount_point);
        if !path.starts_with(&mount_point) {
            continue;
        }
        let depth = mount_point.components().count();
        let mut fields = after.split(' ');
        let (Some(fstype), Some(_source), Some(options)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if best.is_none_or(|(d, _, _)| depth >= d) {
            best = Some((depth, fstype, options));
        }
    }
    let (_, fstype, options) = best?;
    if fstype != "proc" {
        return None;
    }
    options
        .split(',')
        .find_map(|o| o.strip_prefix("hidepid="))
        .filter(|value| !matches!(*value, "0" | "off"))
        .map(|value| format!("hidepid={value}"))
}

/// mountinfo writes space, tab, newline and backslash in paths as `\040`-style octal.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    let path = PathBuf::from(std::ffi::OsString::from_vec(out));
    // Keep only what `starts_with` compares: a mount point is absolute and clean.
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The uid the kernel shows for an owner that has no uid in our user namespace, when we
/// run in one that does not map every uid (a rootless container, `unshare --user`).
pub fn unmapped_uid() -> Option<u32> {
    let map = std::fs::read_to_string(UID_MAP).ok()?;
    if maps_every_uid(&map) {
        return None;
    }
    let overflow = std::fs::read_to_string(OVERFLOW_UID).ok();
    Some(
        overflow
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(65534),
    )
}

/// The initial user namespace's map: `0 0 4294967295`.
pub fn maps_every_uid(uid_map: &str) -> bool {
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 0:35 / /tmp/with\\040space rw,relatime - proc proc rw,hidepid=invisible
41 23 0:36 / /proc rw,relatime - proc proc rw,hidepid=2
50 22 0:37 / /srv/proc rw,relatime - proc proc rw,hidepid=off
";

    #[test]
    fn the_mount_on_top_decides() {
        assert_eq!(
            hidepid_in(MOUNTINFO, Path::new("/proc")).as_deref(),
            Some("hidepid=2")
        );
        let first_only = MOUNTINFO.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(hidepid_in(&first_only, Path::new("/proc")), None);
    }

    #[test]
    fn escaped_mount_points_and_values_that_hide_nothing() {
        assert_eq!(
            hidepid_in(MOUNTINFO, Path::new("/tmp/with space")).as_deref(),
            Some("hidepid=invisible")
        );
        assert_eq!(hidepid_in(MOUNTINFO, Path::new("/srv/proc")), None);
        // A captured tree on an ordinary filesystem.
        assert_eq!(
            hidepid_in(MOUNTINFO, Path::new("/home/me/fixtures/proc")),
            None
        );
    }

    #[test]
    fn uid_maps() {
        assert!(maps_every_uid("         0          0 4294967295\n"));
        assert!(!maps_every_uid("         0       1000          1\n"));
        assert!(!maps_every_uid(""));
    }
}
