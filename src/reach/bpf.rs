//! BPF programs on the path: an sk_lookup program attached to a namespace picks the
//! socket for any packet delivered there (the sockets of its SOCKMAP/SOCKHASH, by
//! cookie); an XDP or tc ingress program on an interface may redirect a packet or
//! assign it a socket, which portaudit cannot follow: any socket of the namespace, with
//! the firewall answer unknown. Cgroup programs only filter, so they are not here.

use crate::network::{Bpf, IngressProgram, NamespaceNet, Reading, SkLookup};

/// The sk_lookup programs of a namespace (none when BPF was not read).
pub fn sk_lookups(namespace: &NamespaceNet) -> &[SkLookup] {
    namespace
        .bpf
        .as_ref()
        .map_or(&[], |b| b.sk_lookup.as_slice())
}

/// The XDP and tc ingress programs on an interface (`None`: any of the namespace's).
pub fn ingress(namespace: &NamespaceNet, ifindex: Option<u32>) -> Vec<&IngressProgram> {
    let Reading::Done(Bpf { ingress, .. }) = &namespace.bpf else {
        return Vec::new();
    };
    ingress
        .iter()
        .filter(|p| ifindex.is_none_or(|i| p.ifindex == i))
        .collect()
}

/// `sk_lookup program 42 (steer)`, as a way in names it.
pub fn describe_sk_lookup(program: &SkLookup) -> String {
    format!(
        "sk_lookup program {} ({})",
        program.program_id, program.name
    )
}

/// `xdp program 7 (filter) on eth0`.
pub fn describe_ingress(program: &IngressProgram) -> String {
    format!(
        "{} program {} ({}) on {}",
        program.attach, program.program_id, program.name, program.device
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::topology::tests::namespace;

    #[test]
    fn programs_are_found_per_interface_and_named() {
        let mut ns = namespace(1, Vec::new());
        assert!(sk_lookups(&ns).is_empty());
        let xdp = IngressProgram {
            ifindex: 2,
            device: "eth0".into(),
            attach: "xdp".into(),
            program_id: 7,
            name: "filter".into(),
        };
        ns.bpf = Reading::Done(Bpf {
            sk_lookup: vec![SkLookup {
                program_id: 42,
                name: "steer".into(),
                cookies: Some(vec![11]),
            }],
            ingress: vec![xdp],
        });
        assert_eq!(
            describe_sk_lookup(&sk_lookups(&ns)[0]),
            "sk_lookup program 42 (steer)"
        );
        assert_eq!(ingress(&ns, Some(2)).len(), 1);
        assert!(ingress(&ns, Some(3)).is_empty());
        assert_eq!(ingress(&ns, None).len(), 1);
        assert_eq!(
            describe_ingress(ingress(&ns, None)[0]),
            "xdp program 7 (filter) on eth0"
        );
    }
}
