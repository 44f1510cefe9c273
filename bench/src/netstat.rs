//! Kernel TCP counters from /proc/net/netstat (`TcpExt`), to see whether a connection burst
//! overflowed a server's accept queue (each overflow drops a SYN, retried a second later).
//! The counters are per network namespace, so anything else connecting meanwhile counts too.

/// `TcpExt: ListenOverflows`, if readable.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    tcp_ext(&text, "ListenOverflows")
}

fn tcp_ext(text: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|line| line.starts_with("TcpExt:"));
    let names = lines.next()?.split_whitespace();
    let values = lines.next()?.split_whitespace();
    names
        .zip(values)
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_named_counter() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 153 153\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(super::tcp_ext(text, "ListenOverflows"), Some(153));
        assert_eq!(super::tcp_ext(text, "Missing"), None);
    }
}
